import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// `deploy`: a deployment from an OS tree, made the default with one transaction.
extension DeploymentManager {
    /// Makes a deployment from an OS tree and makes it the default. Returns its record.
    @discardableResult
    public func deploy(_ req: DeployRequest) throws(BootDeployError) -> DeploymentRecord {
        try deploy(req, commitEntries: true).record
    }

    /// `deploy`, also saying what the /etc merge did.
    public func deployReporting(_ req: DeployRequest) throws(BootDeployError) -> DeployResult {
        try deploy(req, commitEntries: true)
    }

    /// `commitEntries` false: everything but the entry set (what `--stage` prepares).
    func deploy(_ req: DeployRequest, commitEntries: Bool) throws(BootDeployError) -> DeployResult {
        try Names.validate(req.stateroot, kind: "stateroot")
        if let v = req.version { try checkText(v, what: "version") }
        if let t = req.title { try checkText(t, what: "title") }
        for k in req.kargs + req.kargsAppend { try checkKarg(Self.normalized(k)) }
        guard req.tries >= 0 && req.tries <= 9 else { throw .refused("--tries must be 0...9 (the counter is written as one digit)") }
        let deployDir = try sysroot.deployDir(req.stateroot)
        let tree = try sys { () throws(SystemError) in try Directory.open(req.tree) }
        try checkTreeLocation(tree, path: req.tree, move: req.move)
        var warnings: [String] = []
        let artifacts = try KernelStore.find(in: tree, treePath: req.tree, initramfs: !req.noInitramfs, warnings: &warnings)
        let earlyBoot = req.noInitramfs ? try EarlyBootBundle.collect(from: tree, treePath: req.tree) : nil
        let osRelease = OSRelease(tree: tree, treePath: req.tree)
        for w in warnings + osRelease.warnings { printWarning(w) }
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)

        // The machine's configuration comes from the merge deployment (MergeDeployment.swift).
        let merge = try mergeDeployment(for: req.stateroot, in: cur)
        let kargs = try composeKargs(req, merge: merge)
        // The id: content prefix plus a serial, unique within the stateroot.
        let prefix = String((req.digest.map { SHA256.hex(Array($0.utf8)) } ?? artifacts.digest).prefix(12))
        var serial = 0
        while deployDir.exists("\(prefix).\(serial)") || deployDir.exists("\(prefix).\(serial).json") || deployDir.exists(".\(prefix).\(serial).tmp") { serial += 1 }
        let id = "\(prefix).\(serial)"
        let version = req.version ?? osRelease["VERSION_ID"] ?? osRelease["VERSION"] ?? "0"
        let title = req.title ?? osRelease["PRETTY_NAME"] ?? "\(req.stateroot) \(version)"
        let extra = try sysroot.extraBinds(req.stateroot)
        var record = DeploymentRecord(
            stateroot: req.stateroot, id: id, version: version, title: title, digest: req.digest ?? artifacts.digest,
            kernelVersion: artifacts.kernelVersion, kernelDir: "bootdeploy/\(req.stateroot)/\(artifacts.digest)",
            hasDevicetree: artifacts.hasDevicetree, kargs: kargs, pinned: false, created: isoNow(),
            layout: LayoutConfig.defaultLayout(stateroot: req.stateroot, id: id, extra: extra),
            mergedFrom: req.kargsBase == .mergeDeployment || req.mergeEtc ? merge?.name : nil,
            earlyBoot: earlyBoot?.ref)
        try checkCommandLine(record, origin: kargsOrigin(req, merge: merge))

        // 1. The tree, then its record: nothing on /boot names them yet, so a crash here leaves
        //    only garbage that cleanup removes.
        try placeTree(tree, path: req.tree, into: deployDir, id: id, move: req.move, stateroot: req.stateroot)
        var storedKernel: (path: String, written: Bool)? = nil
        var storedUKI: String? = nil
        let ukiConfig = try sysroot.ukiConfig(req.stateroot)
        var etcReport: EtcMergeReport? = nil
        do {
            // /etc before anything names the tree; a staged deployment merges at finalize instead.
            if commitEntries && req.mergeEtc, let merge {
                etcReport = try mergeEtc(from: merge, into: record.name, in: deployDir)
            }
            // The early-boot install before the record that names it (cleanup removes it otherwise).
            if let earlyBoot { try earlyBoot.install(into: sysroot) }
            try sys { () throws(SystemError) in try deployDir.replaceFile("\(id).json", record.encoded()) }
            if req.softwareCounter {
                try sys { () throws(SystemError) in try deployDir.replaceFile(AttemptsFile.fileName(id), Array("0\n".utf8)) }
            }
            // 2. Kernel and initramfs, flushed before any entry names them.
            storedKernel = try KernelStore(boot: cur.boot).store(artifacts, stateroot: req.stateroot)
            // 2b. A UKI deployment's image, flushed, then the record that names it.
            if req.uki || ukiConfig.enabled {
                let placed = try placeUKI(record, boot: cur.boot, config: ukiConfig, modulesDir: artifacts.modulesDir, osRelease: osRelease)
                record.uki = placed.ref
                if placed.written { storedUKI = placed.ref.path }
                try sys { () throws(SystemError) in try deployDir.replaceFile("\(id).json", record.encoded()) }
            }
            // 3. The entry set, in one transaction.
            if commitEntries {
                let plan = cur.plan.deploying(record.name, tries: req.tries)
                try commit(plan, cur, extraRecords: [record])
            }
            // Only a warning: an entry set that cannot be read back now shows in status instead.
            if commitEntries, let after = try? bootPartition().load() {
                for w in LoaderConfDefault.warnings(bootPath: roots.boot, state: after) { printWarning(w) }
            }
        } catch {
            if case .afterCommit = error { throw error }
            // Undo what no entry references: the deployment, its record, a kernel written now.
            // A tree that was moved into place goes back where it came from: it is the caller's.
            try? sys { () throws(SystemError) in
                if req.move, let (parent, base) = splitParent(req.tree) {
                    try deployDir.rename(id, to: base, in: try Directory.open(parent))
                } else {
                    try deployDir.removeTree(id)
                }
                try deployDir.remove("\(id).json")
                try deployDir.remove(AttemptsFile.fileName(id))
                try deployDir.sync()
            }
            if let k = storedKernel, k.written { try? KernelStore(boot: cur.boot).remove(k.path) }
            if let u = storedUKI { try? sys { () throws(SystemError) in try cur.boot.dir.remove(u) } }
            throw error
        }
        return DeployResult(record: record, etcMerge: etcReport)
    }

    func checkText(_ s: String, what: String) throws(BootDeployError) {
        if let why = DisplayText.problem(s) { throw .invalidName(kind: what, value: s, reason: why) }
    }

    /// One argument as the kernel will split it (KernelCommandLineRules), never `bootdeploy=`.
    func checkKarg(_ k: String) throws(BootDeployError) {
        if let why = KernelCommandLineRules.problem(with: k) {
            let size = k.utf8.count > 80 ? " (\(k.utf8.count) bytes)" : ""
            throw .invalidName(kind: "kernel argument", value: KernelCommandLineRules.abbreviated(k), reason: why + size)
        }
        if KernelArguments.key(of: k) == "bootdeploy" {
            throw .invalidName(kind: "kernel argument", value: k, reason: "bootdeploy= is set by boot-deploy itself")
        }
    }
}
