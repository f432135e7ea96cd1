/// Validation of the names that become path components and kernel arguments.
public enum Names {
    /// Stateroot names and deployment ids: 1-64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
    /// This excludes `/`, `..`, whitespace, quotes and control characters, which would escape a
    /// directory, break the kernel command line or confuse a boot loader's file-name sort.
    public static func validate(_ value: String, kind: String) throws(BootDeployError) {
        if value.isEmpty { throw .invalidName(kind: kind, value: value, reason: "empty") }
        if value.utf8.count > 64 { throw .invalidName(kind: kind, value: value, reason: "longer than 64 characters") }
        if value == "." || value == ".." { throw .invalidName(kind: kind, value: value, reason: "not a name") }
        for u in value.utf8 {
            switch u {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            case UInt8(ascii: "/"):
                throw .invalidName(kind: kind, value: value, reason: "contains '/'")
            case 0..<0x20, 0x7f:
                throw .invalidName(kind: kind, value: value, reason: "contains a control character")
            default:
                throw .invalidName(kind: kind, value: value, reason: "only letters, digits, '.', '_' and '-' are allowed")
            }
        }
        if value.hasPrefix(".") || value.hasPrefix("-") {
            throw .invalidName(kind: kind, value: value, reason: "must not start with '.' or '-'")
        }
    }

    /// Whether `value` passes `validate`.
    public static func isValid(_ value: String) -> Bool {
        do { try validate(value, kind: "name"); return true } catch { return false }
    }
}
