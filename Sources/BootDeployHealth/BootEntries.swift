import BootDeployEarlyBoot
import BootDeploy
import BootDeploySystem

/// The deployment named by `bootdeploy=<stateroot>/<id>`.
public struct DeploymentRef: Sendable, Equatable, Codable, CustomStringConvertible {
    public var stateroot: String
    public var id: String
    public init(stateroot: String, id: String) { self.stateroot = stateroot; self.id = id }
    public var description: String { stateroot + "/" + id }

    /// Parses the value of `bootdeploy=` with prepare-root's rules; nil for anything malformed.
    public init?(argument: String) {
        guard let name = try? DeploymentName(argument: argument) else { return nil }
        stateroot = name.stateroot
        id = name.id
    }

    /// The last `bootdeploy=` on a kernel command line (the kernel, too, lets the last one win),
    /// split and checked as prepare-root does; nil when there is none or it is malformed.
    public static func fromCommandLine(_ text: String) -> DeploymentRef? {
        KernelCommandLine(text).last("bootdeploy").flatMap(DeploymentRef.init(argument:))
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
