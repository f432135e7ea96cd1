import BootDeployEarlyBoot

/// Validation of the names that become path components and kernel arguments. The rule itself is
/// `DeploymentName.problem` (BootDeployEarlyBoot), shared with prepare-root; this is its face on
/// the deploy side, throwing `BootDeployError`s that name the value.
public enum Names {
    /// Stateroot names and deployment ids: 1-64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
    public static func validate(_ value: String, kind: String) throws(BootDeployError) {
        if let why = DeploymentName.problem(value) { throw .invalidName(kind: kind, value: value, reason: why) }
    }

    /// Whether `value` passes `validate`.
    public static func isValid(_ value: String) -> Bool { DeploymentName.problem(value) == nil }
}

extension DeploymentName {
    /// A deployment named by its parts, both checked: what the deploy side builds from a stateroot
    /// it was given and an id it made or read.
    public static func checked(stateroot: String, id: String) throws(BootDeployError) -> DeploymentName {
        try Names.validate(stateroot, kind: "stateroot")
        try Names.validate(id, kind: "deployment id")
        return DeploymentName(stateroot: stateroot, id: id)
    }

    /// Parses `STATEROOT/ID` (an argument, a field of a file), refusing it with an error that
    /// names the value.
    public init(parsing text: String) throws(BootDeployError) {
        guard let slash = text.firstIndex(of: "/") else {
            throw .invalidName(kind: "deployment", value: text, reason: "expected STATEROOT/ID")
        }
        self = try .checked(stateroot: String(text[..<slash]), id: String(text[text.index(after: slash)...]))
    }
}
