import BootDeployEarlyBoot
import BootDeploySystem

/// Where a new deployment's kernel arguments start from, before `--karg`, `--karg-delete` and
/// `--karg-append` are applied.
public enum KargsBase: Sendable, Equatable {
    /// The merge deployment's arguments (the default; none when there is no merge deployment).
    case mergeDeployment
    /// Nothing (`--karg-none`).
    case none
    /// The running kernel's command line, read from this file (`--karg-proc-cmdline`,
    /// `--cmdline-file`), without `bootdeploy=`, `BOOT_IMAGE=` and `initrd=`.
    case commandLine(file: String)
}

extension DeploymentManager {
    /// The deployment an update of `stateroot` carries the machine's configuration from: the booted
    /// deployment when it belongs to that stateroot (booted.json), else the stateroot's default
    /// (its first entry in boot order). Nil for the first deployment of a stateroot.
    func mergeDeployment(for stateroot: String, in cur: Current) throws(BootDeployError) -> DeploymentRecord? {
        if let b = try booted(), b.name.stateroot == stateroot, let r = cur.records[b.name] { return r }
        for o in cur.entries.ours where o.deployment.stateroot == stateroot {
            if let r = cur.records[o.deployment] { return r }
        }
        return nil
    }

    /// Keys never carried into a new deployment from another command line: ours, and what boot
    /// loaders add themselves (GRUB's `BOOT_IMAGE=`, systemd-boot's `initrd=`).
    static let uncarriedKeys: Set<String> = ["bootdeploy", "BOOT_IMAGE", "initrd"]

    /// The kernel arguments of a new deployment, in this order: the base (`req.kargsBase`), minus
    /// `--karg-delete`, with every `--karg KEY...` replacing all arguments of that KEY (at the first
    /// one's place, else at the end), plus `--karg-append`. `root=` (and `rw`) is derived only when
    /// there is no merge deployment and no `root=`. Nothing is validated here but the requests' form.
    func composeKargs(_ req: DeployRequest, merge: DeploymentRecord?) throws(BootDeployError) -> [String] {
        var base: [String]
        switch req.kargsBase {
        case .mergeDeployment:
            base = (merge?.kargs ?? []).filter { !Self.uncarriedKeys.contains(KernelArguments.key(of: $0)) }
        case .none:
            base = []
        case .commandLine(let file):
            let text = try sys { () throws(SystemError) in
                try Directory.open(file.hasPrefix("/") ? "/" : ".").readText(String(file.drop { $0 == "/" }))
            }
            base = KernelCommandLineRules.split(text).filter { !Self.uncarriedKeys.contains(KernelArguments.key(of: $0)) }
        }
        var k = KernelArguments(base)
        for spec in req.kargsDelete {
            if KernelArguments.key(of: spec) == "bootdeploy" { throw .refused("bootdeploy= is managed by boot-deploy; it cannot be deleted") }
            if k.delete(spec) == 0 {
                throw .notFound("--karg-delete \(quoted(spec)): the new deployment's kernel arguments have no such argument (they start as: \(base.joined(separator: " ")))")
            }
        }
        var replaced = Set<String>()
        for spec in req.kargs {
            let key = KernelArguments.key(of: spec)
            if replaced.contains(key) { continue }
            replaced.insert(key)
            let group = req.kargs.filter { KernelArguments.key(of: $0) == key }.map(Self.normalized)
            let at = k.parameters.firstIndex { KernelArguments.key(of: $0) == key } ?? k.parameters.count
            k.parameters.removeAll { KernelArguments.key(of: $0) == key }
            k.parameters.insert(contentsOf: group, at: min(at, k.parameters.count))
        }
        for spec in req.kargsAppend { k.parameters.append(Self.normalized(spec)) }
        if merge == nil && !k.parameters.contains(where: { KernelArguments.key(of: $0) == "root" }) {
            let root: String
            do {
                root = try sysroot.defaultRootArgument()
            } catch {
                throw .refused("there is no deployment of \(req.stateroot) to take root= from, and deriving it failed: \(error); pass --karg root=...")
            }
            k.parameters.insert(root, at: 0)
            if !k.parameters.contains("rw") && !k.parameters.contains("ro") { k.parameters.insert("rw", at: 1) }
        }
        return k.parameters
    }

    /// Where the arguments a deploy did not get from its options came from, for messages.
    func kargsOrigin(_ req: DeployRequest, merge: DeploymentRecord?) -> String? {
        switch req.kargsBase {
        case .mergeDeployment: merge.map { "the arguments start from \($0.name)'s; --karg-delete drops one" }
        case .none: nil
        case .commandLine(let file): "the arguments start from \(file); --karg-delete drops one"
        }
    }

    /// `key=a b` as the kernel wants it (`key="a b"`). Anything with a quote is taken as written,
    /// so that validation sees exactly what would reach the kernel.
    static func normalized(_ spec: String) -> String {
        guard !spec.contains("\""), let eq = spec.firstIndex(of: "="),
              spec[eq...].contains(where: { $0 == " " || $0 == "\t" }) else { return spec }
        return KernelArguments.make(key: String(spec[..<eq]), value: String(spec[spec.index(after: eq)...]))
    }

    /// Checks every kernel argument of `record` as the kernel will split it, and the length of its
    /// command line as the boot loader hands it over, before anything is written. `origin` says
    /// where arguments that were not given now came from (for the message).
    func checkCommandLine(_ record: DeploymentRecord, origin: String? = nil) throws(BootDeployError) {
        for a in record.kargs {
            if let why = KernelCommandLineRules.problem(with: a) {
                let from = origin.map { " (\($0))" } ?? ""
                let size = a.utf8.count > 80 ? " (\(a.utf8.count) bytes)" : ""
                throw .invalidName(kind: "kernel argument", value: KernelCommandLineRules.abbreviated(a), reason: why + size + from)
            }
            if KernelArguments.key(of: a) == "bootdeploy" {
                throw .invalidName(kind: "kernel argument", value: a, reason: "bootdeploy= is set by boot-deploy itself")
            }
        }
        let entry = EntryRenderer.entryText(record, rank: 0)
        // systemd-boot passes `initrd=PATH` (path with backslashes, same length) for each initrd.
        try KernelCommandLineRules.checkLength(options: record.kargs + [record.bootParameter],
                                               extra: entry.initrd.map { "initrd=" + $0 },
                                               limit: try sysroot.commandLineLimit(record.stateroot),
                                               what: record.name.description)
    }
}
