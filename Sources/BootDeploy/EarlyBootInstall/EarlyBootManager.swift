import BootDeployEarlyBoot
import BootDeploySystem

/// The early-boot installs of deployments that boot without an initramfs: (re)installing them from
/// the deployments' own trees, checking them, and removing those no record names any more.
extension DeploymentManager {
    /// The bundle a deployment's own tree makes now.
    func earlyBootBundle(of r: DeploymentRecord) throws(BootDeployError) -> EarlyBootBundle {
        let d = try sysroot.deployDir(r.stateroot)
        let tree = try sys { () throws(SystemError) in try d.openDirectory(r.id) }
        return try EarlyBootBundle.collect(from: tree, treePath: "\(d.path)/\(r.id)")
    }

    /// What one `install-init` did for a deployment.
    public struct EarlyBootInstallResult: Sendable {
        public var deployment: DeploymentName
        public var ref: EarlyBootRef
        /// The files were written now (false: an identical install was there).
        public var written: Bool
        /// The record (and its entry) now names another install than before.
        public var changed: Bool
    }

    /// `boot-deploy install-init`: installs the early-boot binary of the named deployments (default:
    /// every deployment that boots without an initramfs) from their own trees, repairing a missing or
    /// damaged install. When a tree now makes a different install (stale), the record and the entry
    /// move to the new one in one transaction; the old install stays until cleanup finds no record
    /// naming it.
    public func installEarlyBoot(_ refs: [String]) throws(BootDeployError) -> [EarlyBootInstallResult] {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        var targets: [DeploymentRecord] = []
        if refs.isEmpty {
            targets = cur.records.values.filter { $0.earlyBoot != nil }.sorted { $0.name < $1.name }
            if targets.isEmpty { throw .notFound("no deployment boots without an initramfs; name one to install its early-boot binary for") }
        } else {
            for ref in refs {
                let r = try resolve(ref, in: cur)
                guard r.earlyBoot != nil else {
                    throw .refused("\(r.name) boots with its initramfs; deploy the tree again with --no-initramfs to boot it without one")
                }
                targets.append(r)
            }
        }
        var results: [EarlyBootInstallResult] = []
        var changed: [DeploymentRecord] = []
        for var r in targets {
            let bundle = try earlyBootBundle(of: r)
            let written = try bundle.install(into: sysroot)
            let moved = r.earlyBoot != bundle.ref
            if moved {
                r.earlyBoot = bundle.ref
                changed.append(r)
            }
            results.append(EarlyBootInstallResult(deployment: r.name, ref: bundle.ref, written: written, changed: moved))
        }
        if changed.isEmpty { return results }
        // Records first, then /boot: an entry never names an install its record does not.
        let old = changed.compactMap { cur.records[$0.name] }
        for r in changed { try sysroot.writeRecord(r) }
        do {
            if changed.contains(where: { cur.entries.ours($0.name) != nil }) {
                try commit(cur.plan, cur, extraRecords: changed)
            }
        } catch {
            if case .afterCommit = error { throw error }
            for r in old { try? sysroot.writeRecord(r) }
            throw error
        }
        return results
    }

    /// One line per deployment whose early-boot install is missing, damaged or stale.
    func earlyBootProblems(_ records: [DeploymentRecord]) -> [String] {
        var out: [String] = []
        for r in records.sorted(by: { $0.name < $1.name }) {
            if let p = earlyBootProblem(r) { out.append(p) }
        }
        return out
    }

    /// What is wrong with a deployment's early-boot install, ending with how to fix it; nil when it
    /// is in place and matches the deployment's tree (or the deployment has an initramfs).
    /// `thorough` false (status) only checks that every file is there; true (validate) also
    /// compares them with what the deployment's tree makes now (damaged, stale).
    public func earlyBootProblem(_ r: DeploymentRecord, thorough: Bool = true) -> String? {
        guard let ref = r.earlyBoot else { return nil }
        let fix = "; run 'boot-deploy install-init \(r.name)'"
        if !thorough {
            for f in [EarlyBootBundle.binaryName] + ref.libraries.map({ "lib/" + $0 }) where (try? sysroot.root.kind("\(ref.path)/\(f)")) != .file {
                return "\(r.name): early-boot install \(roots.sysroot)/\(ref.path)/\(f) is missing" + fix
            }
            return nil
        }
        let bundle: EarlyBootBundle
        do { bundle = try earlyBootBundle(of: r) } catch {
            if (try? sysroot.root.kind(ref.path)) != .directory {
                return "\(r.name): early-boot install \(roots.sysroot)/\(ref.path) is missing, and the deployment's tree cannot make it: \(error)"
            }
            return "\(r.name): cannot check its early-boot install against the tree: \(error)"
        }
        guard let p = bundle.problem(with: ref, sysroot: sysroot.root, sysrootPath: roots.sysroot) else { return nil }
        return "\(r.name): early-boot install \(p)" + fix
    }

    /// Removes early-boot installs (and interrupted `.tmp` ones) that no record names. Returns them.
    func cleanupEarlyBoot(keeping records: [DeploymentRecord]) throws(BootDeployError) -> [String] {
        guard let base = sysroot.base, base.exists(EarlyBootBundle.directory) else { return [] }
        let named = Set(records.compactMap { $0.earlyBoot?.path })
        let dir = try sys { () throws(SystemError) in try base.openDirectory(EarlyBootBundle.directory) }
        var removed: [String] = []
        for name in try sys({ () throws(SystemError) in try dir.entries() }) {
            let rel = "bootdeploy/\(EarlyBootBundle.directory)/\(name)"
            if named.contains(rel) { continue }
            try sys { () throws(SystemError) in try dir.removeTree(name) }
            removed.append(rel)
        }
        if !removed.isEmpty { try sys { () throws(SystemError) in try dir.sync() } }
        return removed
    }
}
