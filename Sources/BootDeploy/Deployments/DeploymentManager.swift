import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// The deployment layer's entry point: every `boot-deploy` command is one method on it, one verb
/// per file (Deploy, DefaultOrder, Pinning, Undeploy, Cleanup, Kargs, Status, Staging/Finalize);
/// this file holds what they share: reading the current state, resolving a reference, committing
/// a plan through the boot-loader backend. Each mutating method takes the sysroot lock, reads
/// the current state from disk, computes a plan (pure), and applies it with one transaction.
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
        var records: [DeploymentName: DeploymentRecord]
        var problems: [String]

        /// The plan that reproduces what is on disk: our entries in boot order, counters as found.
        var plan: BootPlan {
            BootPlan(entries.ours.map { PlannedEntry($0.deployment, counter: $0.name.counter) })
        }
    }

    /// What is on disk. `forWriting` checks it can be written: a freeze an interrupted writer left
    /// is thawed, and (with `probeFreeze`) a freeze held by another program is refused before
    /// anything is written; a verb that may write nothing probes later (`cleanup`).
    func current(forWriting: Bool, probeFreeze: Bool = true) throws(BootDeployError) -> Current {
        let boot = try bootPartition()
        if forWriting { try boot.ensureWritable(probe: probeFreeze) }
        let entries = try boot.load()
        if forWriting, let first = entries.ourErrors.first {
            throw .badInput(file: first.file, line: first.line, message: first.message + " (fix or remove this entry; nothing was changed)")
        }
        let (recs, problems) = try sysroot.records()
        var byID: [DeploymentName: DeploymentRecord] = [:]
        for r in recs { byID[r.name] = r }
        if forWriting {
            for o in entries.ours where byID[o.deployment] == nil {
                throw .badInput(file: entries.location(o, boot: boot.path), line: 0,
                                message: "entry for \(o.deployment), which has no deployment record (nothing was changed)")
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
        for r in extraRecords { records[r.name] = r }
        let (backend, context) = bootLoader(cur.boot)
        var tx = EntryTransaction(boot: cur.boot, state: cur.entries)
        tx.generated = try backend.generatedFiles(plan, records: records, context: context)
        try backend.install(context)
        try backend.armCounter(plan, context: context)
        // UKIs are Type #2 entries in EFI/Linux, ordered by name with ours (UKICommit.swift).
        if plan.entries.contains(where: { records[$0.deployment]?.uki != nil })
            || cur.entries.ours.contains(where: { $0.uki != nil }) || !cur.entries.ukiDuplicates.isEmpty {
            try commitNameOrder(plan, cur, records: records, backend: backend, transaction: tx)
            return
        }
        try tx.apply { (top: Int?) throws(BootDeployError) -> [RenderedEntry] in
            try EntryRenderer.render(plan, records: records, top: top)
        }
    }

    /// Finds a deployment by `ID` or `STATEROOT/ID`.
    func resolve(_ ref: String, in cur: Current) throws(BootDeployError) -> DeploymentRecord {
        if ref.contains("/") {
            if let r = cur.records[try DeploymentName(parsing: ref)] { return r }
            throw .notFound("no deployment \(quoted(ref))")
        }
        try Names.validate(ref, kind: "deployment id")
        let hits = cur.records.values.filter { $0.id == ref }
        if hits.count == 1 { return hits[0] }
        if hits.isEmpty { throw .notFound("no deployment \(quoted(ref)); 'boot-deploy status' lists them") }
        throw .refused("deployment id \(ref) exists in several stateroots (\(hits.map(\.stateroot).sorted().joined(separator: ", "))); name it as STATEROOT/ID")
    }

    /// The deployment that is running now, from prepare-root's `booted.json`.
    public func booted() throws(BootDeployError) -> BootedRecord? {
        // prepare-root's own reader: one type and one rule set for the file.
        guard let bytes = try readStateBytes("booted.json", in: roots.runDir) else { return nil }
        let file = roots.runDir.hasSuffix("/") ? roots.runDir + "booted.json" : roots.runDir + "/booted.json"
        do { return try BootedRecord.parse(bytes, file: file) } catch {
            throw .badInput(file: file, line: 0, message: String(error.message.dropFirst(file.count + 2)) + "; refusing to act on this file")
        }
    }

    // MARK: commands

    public func initStateroot(_ name: String) throws(BootDeployError) {
        try sysroot.initStateroot(name)
    }

    /// What cleanup removed.
    public struct CleanupReport: Sendable {
        public var deployments: [DeploymentName] = []
        public var kernels: [String] = []
        public var leftovers: [String] = []
    }

    // MARK: staged deployments (see Staging/)

    public func staged() throws(BootDeployError) -> StagedDeployment? {
        try readStateFile("staged.json", in: roots.runDir, StagedDeployment.decode)
    }
}
