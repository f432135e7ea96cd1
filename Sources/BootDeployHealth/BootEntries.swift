import BootDeploy
import BootDeploySystem

/// The deployment named by `bootdeploy=<stateroot>/<id>`.
public struct DeploymentRef: Sendable, Equatable, Codable, CustomStringConvertible {
    public var stateroot: String
    public var id: String
    public init(stateroot: String, id: String) { self.stateroot = stateroot; self.id = id }
    public var description: String { stateroot + "/" + id }

    /// Names as docs/ON-DISK.md allows them: 1-64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
    static func validName(_ s: Substring) -> Bool {
        guard (1...64).contains(s.count), let f = s.first, f != ".", f != "-" else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }

    /// Parses the value of `bootdeploy=`; nil for anything malformed (`..`, extra slashes).
    public init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, Self.validName(parts[0]), Self.validName(parts[1]) else { return nil }
        stateroot = String(parts[0])
        id = String(parts[1])
    }

    /// The last `bootdeploy=` on a kernel command line (the kernel, too, lets the last one win).
    public static func fromCommandLine(_ text: String) -> DeploymentRef? {
        var found: DeploymentRef?
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) where word.hasPrefix("bootdeploy=") {
            found = DeploymentRef(argument: String(word.dropFirst("bootdeploy=".count)))
        }
        return found
    }
}

/// The live entry directory `$BOOT/loader/entries` (through the `loader -> loader.N` symlink, if
/// any) and what each entry file says about its deployment.
public struct BootEntries {
    public struct File: Sendable {
        public var name: String
        public var deployment: DeploymentRef?
    }
    public var directory: Directory
    public var files: [File]

    public static func load(boot: String) throws -> BootEntries {
        // `loader` may be a symlink to `loader.N/`: follow it once, then stay inside that directory,
        // so that every rename happens in the live set the boot loader reads.
        let loader = try Directory.open(boot).openDirectory("loader", noFollow: false)
        let dir = try loader.openDirectory("entries", noFollow: true)
        var files: [File] = []
        for name in try dir.entries() where name.hasSuffix(".conf") && !name.hasPrefix(".") {
            guard (try? dir.kind(name)) == .file else { continue }
            let text = (try? dir.readText(name)) ?? ""
            files.append(File(name: name, deployment: deploymentOption(text, file: dir.path + "/" + name)))
        }
        return BootEntries(directory: dir, files: files)
    }

    /// The `bootdeploy=` argument of the entry's `options` (the entries layer's parser). A file
    /// that does not parse is not ours to judge: it is skipped, never touched.
    static func deploymentOption(_ text: String, file: String) -> DeploymentRef? {
        guard let entry = try? BootEntry.parse(text, file: file) else { return nil }
        return DeploymentRef.fromCommandLine(entry.options.joined(separator: " "))
    }

    public func files(of deployment: DeploymentRef) -> [String] {
        files.filter { $0.deployment == deployment }.map(\.name)
    }
}
