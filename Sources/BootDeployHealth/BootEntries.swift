import BootDeployEarlyBoot
import BootDeploy
import BootDeploySystem

/// Early boot's `DeploymentName` is the one identity of a deployment; boot-health keeps it in its
/// status record as `{"stateroot": ..., "id": ...}` (the conformance lives here so that
/// `bd-prepare-root` does not carry it).
extension DeploymentName: Codable {
    enum CodingKeys: String, CodingKey { case stateroot, id }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(stateroot: try c.decode(String.self, forKey: .stateroot), id: try c.decode(String.self, forKey: .id))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stateroot, forKey: .stateroot)
        try c.encode(id, forKey: .id)
    }

    /// The last `bootdeploy=` on a kernel command line (the kernel, too, lets the last one win),
    /// split and checked as prepare-root does; nil when there is none or it is malformed.
    public static func fromCommandLine(_ text: String) -> DeploymentName? {
        KernelCommandLine(text).last("bootdeploy").flatMap { try? DeploymentName(argument: $0) }
    }
}

/// The live entry directory `$BOOT/loader/entries` (through the `loader -> loader.N` symlink, if
/// any), our UKIs in `$BOOT/EFI/Linux` (Type #2 entries, docs/UKI.md), and what each entry file
/// says about its deployment.
public struct BootEntries {
    public struct File: Sendable {
        public var name: String
        public var deployment: DeploymentName?
        /// A Type #2 image in `EFI/Linux` (its counter is in its name as well).
        public var isImage = false
    }
    public var directory: Directory
    /// `EFI/Linux`, when it exists.
    public var images: Directory?
    public var files: [File]
    /// Images of ours that could not be read (named with their path), for the log.
    public var problems: [String] = []

    public static func load(boot: String) throws -> BootEntries {
        let root = try Directory.open(boot)
        var images: Directory? = nil
        var files: [File] = []
        var problems: [String] = []
        if (try? root.kind("EFI/Linux")) == .directory, let d = try? root.openDirectory("EFI/Linux", noFollow: true) {
            images = d
            for name in try d.entries() where name.hasPrefix(NameOrder.prefix) && UKIFileName(name) != nil {
                guard (try? d.kind(name)) == .file else { continue }
                let entry: BootEntry
                do { entry = try UKIPlacement.entry(of: name, in: d, shown: d.path + "/" + name) } catch {
                    problems.append("\(error)")
                    continue
                }
                files.append(File(name: name, deployment: DeploymentName.fromCommandLine(entry.commandLine), isImage: true))
            }
        }
        // `loader` may be a symlink to `loader.N/`: follow it once, then stay inside that directory,
        // so that every rename happens in the live set the boot loader reads.
        let dir: Directory
        do {
            let loader = try root.openDirectory("loader", noFollow: false)
            dir = try loader.openDirectory("entries", noFollow: true)
        } catch {
            // A machine whose every entry of ours is a UKI may have no entry directory at all.
            guard let images, !files.isEmpty else { throw error }
            return BootEntries(directory: images, images: images, files: files, problems: problems)
        }
        for name in try dir.entries() where name.hasSuffix(".conf") && !name.hasPrefix(".") {
            guard (try? dir.kind(name)) == .file else { continue }
            let text = (try? dir.readText(name)) ?? ""
            files.append(File(name: name, deployment: deploymentOption(text, file: dir.path + "/" + name)))
        }
        return BootEntries(directory: dir, images: images, files: files, problems: problems)
    }

    /// The directory a file of `files` is in.
    public func directory(of name: String) -> Directory {
        if let images, files.contains(where: { $0.name == name && $0.isImage }) { return images }
        return directory
    }

    /// The `bootdeploy=` argument of the entry's `options` (the entries layer's parser). A file
    /// that does not parse is not ours to judge: it is skipped, never touched.
    static func deploymentOption(_ text: String, file: String) -> DeploymentName? {
        guard let entry = try? BootEntry.parse(text, file: file) else { return nil }
        return DeploymentName.fromCommandLine(entry.options.joined(separator: " "))
    }

    public func files(of deployment: DeploymentName) -> [String] {
        files.filter { $0.deployment == deployment }.map(\.name)
    }
}
