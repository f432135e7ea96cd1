import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// What `deploy` is asked to do.
public struct DeployRequest: Sendable {
    public var stateroot: String
    public var tree: String
    public var version: String?
    public var title: String?
    public var kargs: [String]
    /// Boot attempts before systemd-boot gives up on the entry; 0 for no counter.
    public var tries: Int
    /// Rename the tree into place instead of hard-linking (same filesystem only).
    public var move: Bool
    /// The updater's identity of the content (an ostree commit, an image digest).
    public var digest: String?
    /// Keep a software boot counter for boot loaders that count nothing.
    public var softwareCounter: Bool
    /// Where the kernel arguments start from; `kargs` (`--karg KEY=VALUE`) replaces every argument
    /// of its key, `kargsDelete` removes, `kargsAppend` appends (MergeDeployment.swift).
    public var kargsBase: KargsBase = .mergeDeployment
    public var kargsAppend: [String] = []
    public var kargsDelete: [String] = []
    /// Merge the merge deployment's /etc changes into the new deployment (off for image builds).
    public var mergeEtc = true
    /// Boot without an initramfs: the entry runs the tree's early-boot binary, installed into the
    /// physical root (EarlyBootInstall/), as `init=`.
    public var noInitramfs = false

    public init(stateroot: String, tree: String, version: String? = nil, title: String? = nil, kargs: [String] = [],
                tries: Int = 3, move: Bool = false, digest: String? = nil, softwareCounter: Bool = false) {
        self.stateroot = stateroot
        self.tree = tree
        self.version = version
        self.title = title
        self.kargs = kargs
        self.tries = tries
        self.move = move
        self.digest = digest
        self.softwareCounter = softwareCounter
    }
}

/// The deployment layer's entry point: every `boot-deploy` command is one method here. Each
/// mutating method takes the sysroot lock, reads the current state from disk, computes a plan
/// (pure), and applies it with one crash-safe transaction.
public final class DeploymentManager: @unchecked Sendable {
    public let roots: Roots
    public let sysroot: Sysroot

    public init(_ roots: Roots) throws(BootDeployError) {
        self.roots = roots
        sysroot = try Sysroot(roots)
    }

    func bootPartition() throws(BootDeployError) -> BootPartition { try BootPartition(roots) }

    // MARK: reading the current state

    struct Current {
        var boot: BootPartition
        var entries: BootEntriesState
        var records: [String: DeploymentRecord]
        var problems: [String]

        /// The plan that reproduces what is on disk: our entries in boot order, counters as found.
        var plan: BootPlan {
            BootPlan(entries.ours.compactMap { o in
                let parts = o.qualifiedID.split(separator: "/", maxSplits: 1).map(String.init)
                return PlannedEntry(stateroot: parts[0], id: parts[1], counter: o.name.counter)
            })
        }
    }

    func current(forWriting: Bool) throws(BootDeployError) -> Current {
        let boot = try bootPartition()
        if forWriting { try boot.ensureWritable() }
        let entries = try boot.load()
        if forWriting, let first = entries.ourErrors.first {
            throw .badInput(file: first.file, line: first.line, message: first.message + " (fix or remove this entry; nothing was changed)")
        }
        let (recs, problems) = try sysroot.records()
        var byID: [String: DeploymentRecord] = [:]
        for r in recs { byID[r.qualifiedID] = r }
        if forWriting {
            for o in entries.ours where byID[o.qualifiedID] == nil {
                throw .badInput(file: "\(boot.path)/\(entries.entriesPath ?? "loader/entries")/\(o.name.fileName)", line: 0,
                                message: "entry for \(o.qualifiedID), which has no deployment record (nothing was changed)")
            }
        }
        return Current(boot: boot, entries: entries, records: byID, problems: problems)
    }

    /// The boot loader this machine's /boot is written for (`--boot-loader`, else detected).
    func bootLoader(_ boot: BootPartition) -> (backend: any BootLoaderBackend, context: BootLoaderContext) {
        (BootLoaders.backend(for: roots, boot: boot), BootLoaderContext(boot: boot, roots: roots))
    }

    func commit(_ plan: BootPlan, _ cur: Current, extraRecords: [DeploymentRecord] = []) throws(BootDeployError) {
        var records = cur.records
        for r in extraRecords { records[r.qualifiedID] = r }
        let (backend, context) = bootLoader(cur.boot)
        var tx = EntryTransaction(boot: cur.boot, state: cur.entries)
        tx.generated = try backend.generatedFiles(plan, records: records, context: context)
        try backend.install(context)
        try tx.apply { (top: Int?) throws(BootDeployError) -> [RenderedEntry] in
            try EntryRenderer.render(plan, records: records, top: top)
        }
    }

    /// Finds a deployment by `ID` or `STATEROOT/ID`.
    func resolve(_ ref: String, in cur: Current) throws(BootDeployError) -> DeploymentRecord {
        if ref.contains("/") {
            let parts = ref.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            try Names.validate(parts[0], kind: "stateroot")
            try Names.validate(parts[1], kind: "deployment id")
            if let r = cur.records[ref] { return r }
            throw .notFound("no deployment \(quoted(ref))")
        }
        try Names.validate(ref, kind: "deployment id")
        let hits = cur.records.values.filter { $0.id == ref }
        if hits.count == 1 { return hits[0] }
        if hits.isEmpty { throw .notFound("no deployment \(quoted(ref)); 'boot-deploy status' lists them") }
        throw .refused("deployment id \(ref) exists in several stateroots (\(hits.map(\.stateroot).sorted().joined(separator: ", "))); name it as STATEROOT/ID")
    }

    /// The deployment that is running now, from prepare-root's `booted.json`.
    public func booted() throws(BootDeployError) -> BootedDeployment? {
        try readStateFile(BootedDeployment.self, "booted.json", in: roots.runDir)
    }

    // MARK: commands

    public func initStateroot(_ name: String) throws(BootDeployError) {
        try sysroot.initStateroot(name)
    }

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
        let record = DeploymentRecord(
            stateroot: req.stateroot, id: id, version: version, title: title, digest: req.digest ?? artifacts.digest,
            kernelVersion: artifacts.kernelVersion, kernelDir: "bootdeploy/\(req.stateroot)/\(artifacts.digest)",
            hasDevicetree: artifacts.hasDevicetree, kargs: kargs, pinned: false, created: isoNow(),
            layout: LayoutConfig.defaultLayout(stateroot: req.stateroot, id: id, extra: extra),
            mergedFrom: req.kargsBase == .mergeDeployment || req.mergeEtc ? merge?.qualifiedID : nil,
            earlyBoot: earlyBoot?.ref)
        try checkCommandLine(record, origin: kargsOrigin(req, merge: merge))

        // 1. The tree, then its record: nothing on /boot names them yet, so a crash here leaves
        //    only garbage that cleanup removes.
        try placeTree(tree, path: req.tree, into: deployDir, id: id, move: req.move, stateroot: req.stateroot)
        var storedKernel: (path: String, written: Bool)? = nil
        var etcReport: EtcMergeReport? = nil
        do {
            // /etc before anything names the tree; a staged deployment merges at finalize instead.
            if commitEntries && req.mergeEtc, let merge {
                etcReport = try mergeEtc(from: merge, into: id, of: req.stateroot, in: deployDir)
            }
            // The early-boot install before the record that names it (cleanup removes it otherwise).
            if let earlyBoot { try earlyBoot.install(into: sysroot) }
            try sys { () throws(SystemError) in try deployDir.replaceFile("\(id).json", record.encoded()) }
            if req.softwareCounter {
                try sys { () throws(SystemError) in try deployDir.replaceFile("\(id).attempts", Array("0\n".utf8)) }
            }
            // 2. Kernel and initramfs, flushed before any entry names them.
            storedKernel = try KernelStore(boot: cur.boot).store(artifacts, stateroot: req.stateroot)
            // 3. The entry set, in one transaction.
            if commitEntries {
                let plan = cur.plan.deploying(stateroot: req.stateroot, id: id, tries: req.tries)
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
                try deployDir.remove("\(id).attempts")
                try deployDir.sync()
            }
            if let k = storedKernel, k.written { try? KernelStore(boot: cur.boot).remove(k.path) }
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

    /// The previous deployment becomes the default; the current one stays, second.
    public func rollback() throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        try commit(try cur.plan.rollingBack(), cur)
    }

    public func setDefault(_ ref: String) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        let r = try resolve(ref, in: cur)
        try commit(try cur.plan.settingDefault(r.qualifiedID), cur)
    }

    /// Marks a deployment bad and moves it behind every other entry (health's rollback).
    public func demote(stateroot: String, id: String) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        try commit(try cur.plan.demoting("\(stateroot)/\(id)"), cur)
    }

    public func setPinned(_ ref: String, _ pinned: Bool) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: false)
        var r = try resolve(ref, in: cur)
        r.pinned = pinned
        try sysroot.writeRecord(r)
    }

    /// Removes a deployment: its entry, then its tree and record.
    public func undeploy(_ ref: String) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        let r = try resolve(ref, in: cur)
        if let b = try booted(), b.qualifiedID == r.qualifiedID { throw .refused("\(r.qualifiedID) is the booted deployment; it cannot be removed") }
        if r.pinned { throw .refused("\(r.qualifiedID) is pinned; 'boot-deploy unpin \(r.qualifiedID)' first") }
        if try staged()?.qualifiedID == r.qualifiedID { throw .refused("\(r.qualifiedID) is staged for finalize") }
        if cur.entries.ours(r.qualifiedID) != nil {
            try commit(try cur.plan.removing(r.qualifiedID), cur)
        }
        try removeDeployment(r)
        _ = try cleanupKernels(keeping: try current(forWriting: false))
    }

    func removeDeployment(_ r: DeploymentRecord) throws(BootDeployError) {
        let d = try sysroot.deployDir(r.stateroot)
        try sys { () throws(SystemError) in
            // Record last: a crash midway leaves a record whose tree is partly gone, which
            // cleanup finishes; an entry never names it any more.
            try d.removeTree(r.id)
            try d.remove("\(r.id).attempts")
            try d.remove("\(r.id).json")
            try d.sync()
        }
    }

    /// What cleanup removed.
    public struct CleanupReport: Sendable {
        public var deployments: [String] = []
        public var kernels: [String] = []
        public var leftovers: [String] = []
    }

    // MARK: staged deployments (see Staging/)

    public func staged() throws(BootDeployError) -> StagedDeployment? {
        try readStateFile(StagedDeployment.self, "staged.json", in: roots.runDir)
    }
}

/// What prepare-root wrote about this boot (`/run/bootdeploy/booted.json`).
public struct BootedDeployment: Codable, Sendable {
    public var schema: Int?
    public var stateroot: String
    public var id: String
    public var loaderEntry: String?
    public var softwareAttempts: Int?
    public var bootedAt: Int?
    public var qualifiedID: String { "\(stateroot)/\(id)" }
}

/// A deployment waiting for finalize (`/run/bootdeploy/staged.json`).
public struct StagedDeployment: Codable, Sendable {
    public var schema: Int = 1
    public var stateroot: String
    public var id: String
    public var tries: Int
    public var locked: Bool
    public var staged: String
    /// False when staged with `--no-etc-merge`: finalize then leaves the tree's /etc as it is.
    public var mergeEtc: Bool? = nil
    public var qualifiedID: String { "\(stateroot)/\(id)" }
}
