import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// `cleanup`: what no entry references goes, except what must stay.
extension DeploymentManager {
    /// Removes deployments and kernel directories that no entry references, except pinned, booted
    /// and staged ones, and what interrupted operations left behind.
    public func cleanup() throws(BootDeployError) -> CleanupReport {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        var report = CleanupReport()
        // The probe for a foreign freeze is a freeze/thaw cycle (a journal flush and a superblock
        // write): made once, and only when cleanup is about to write /boot, so that a cleanup with
        // nothing to do costs no flush (and does not stop at a /boot someone else holds frozen).
        let cur = try current(forWriting: true, probeFreeze: false)
        var probed = false
        func beforeBootWrite() throws(BootDeployError) {
            if !probed { try cur.boot.ensureWritable(); probed = true }
        }
        let tx = EntryTransaction(boot: cur.boot, state: cur.entries)
        let left = try tx.leftovers()
        if !left.isEmpty {
            try beforeBootWrite()
            try tx.cleanLeftovers(left)
        }
        // Duplicate entries from an interrupted per-file update: rewrite the set without them.
        if !cur.entries.duplicates.isEmpty || !cur.entries.ukiDuplicates.isEmpty {
            try beforeBootWrite()
            try commit(cur.plan, cur)
            report.leftovers += cur.entries.duplicates.map { "entry \($0)" } + cur.entries.ukiDuplicates.map { "UKI \(UKIPlacement.directory)/\($0)" }
        }
        let live = Set(cur.entries.ours.map(\.deployment))
        let bootedID = try booted()?.name
        let stagedID = try staged()?.name
        for r in cur.records.values.sorted(by: { $0.name < $1.name }) {
            if live.contains(r.name) || r.pinned || r.name == bootedID || r.name == stagedID { continue }
            try removeDeployment(r)
            report.deployments.append(r.name)
        }
        // Trees without a record: interrupted deploys (`.<id>.tmp`) or leftovers of removal.
        for sr in try sysroot.stateroots() {
            let d = try sysroot.deployDir(sr)
            for name in try sys({ () throws(SystemError) in try d.entries() }) {
                let isTmp = name.hasPrefix(".") && name.hasSuffix(".tmp")
                let orphanTree = !name.hasSuffix(".json") && !name.hasSuffix(".attempts") && !name.hasPrefix(".") && !d.exists(name + ".json")
                let orphanCounter = name.hasSuffix(".attempts") && !d.exists(String(name.dropLast(".attempts".count)) + ".json")
                if isTmp || orphanTree || orphanCounter {
                    try sys { () throws(SystemError) in try d.removeTree(name) }
                    report.leftovers.append("\(sr)/deploy/\(name)")
                }
            }
        }
        report.kernels = try cleanupKernels(keeping: try current(forWriting: false), beforeBootWrite: beforeBootWrite)
        return report
    }

    /// Removes kernel directories and UKIs nothing boots; `beforeBootWrite` runs before the first
    /// removal from /boot.
    func cleanupKernels(keeping cur: Current, beforeBootWrite: () throws(BootDeployError) -> Void = {}) throws(BootDeployError) -> [String] {
        var referenced = Set<String>()
        for o in cur.entries.ours {
            if let l = o.entry.linux { referenced.insert(String(l.drop { $0 == "/" }.split(separator: "/").dropLast().joined(separator: "/"))) }
        }
        // Pinned, booted and staged deployments keep their kernels even without an entry.
        let keep = Set([try booted()?.name, try staged()?.name].compactMap { $0 })
        for r in cur.records.values where r.pinned || keep.contains(r.name) { referenced.insert(r.kernelDir) }
        var removed: [String] = []
        let store = KernelStore(boot: cur.boot)
        let doomed = store.all().filter { !referenced.contains($0) }
        if !doomed.isEmpty { try beforeBootWrite() }
        for k in doomed {
            try store.remove(k)
            removed.append(k)
        }
        return removed + (try cleanupUKIs(keeping: cur, keep: keep, beforeBootWrite: beforeBootWrite)) + (try cleanupEarlyBoot(keeping: Array(cur.records.values)))
    }
}
