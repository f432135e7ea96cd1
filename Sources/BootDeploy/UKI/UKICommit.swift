import BootDeployEarlyBoot
import BootDeploySystem

/// Committing a plan that holds UKIs (or held them): two stores, one order (`NameOrder`).
///
/// The Type #1 entries are swapped in one step by `EntryTransaction`; the images in `EFI/Linux/`
/// are renamed one at a time. Every name the commit gives is ranked above every name in use, and
/// the steps follow the new plan from its first entry: the images in turn, and the whole Type #1
/// set at the place of the plan's first Type #1 entry. So at any instant the default is the old
/// one (nothing done yet) or the new one, every file a boot loader can pick is a complete image or
/// entry, and what a crash leaves is read back by `BootPartition.load` in the order systemd-boot
/// boots it; the next commit finishes the job.
extension DeploymentManager {
    func commitNameOrder(_ plan: BootPlan, _ cur: Current, records: [DeploymentName: DeploymentRecord],
                         backend: any BootLoaderBackend, transaction: EntryTransaction) throws(BootDeployError) {
        let hasUKI = plan.entries.contains { records[$0.deployment]?.uki != nil }
        if hasUKI && backend.kind != .systemdBoot {
            throw .refused("a UKI deployment is a Type #2 entry, which \(backend.kind.rawValue) does not read; use systemd-boot or deploy without --uki")
        }
        guard let top = NameOrder.freshTop(count: plan.entries.count, inUse: cur.entries.nameOrderRanks) else {
            throw .refused("no free block of entry ranks below \(NameOrder.maxRank); remove deployments first")
        }
        let type1 = hasUKI ? try EntryRenderer.render(plan, records: records, top: top, nameOrder: true) : nil
        let names = hasUKI ? EntryRenderer.ukiNames(plan, records: records, top: top) : []
        let placement = UKIPlacement(boot: cur.boot)
        // Every image is found before anything moves.
        var sources: [DeploymentName: String] = [:]
        for (qid, _) in names { sources[qid] = try imageSource(qid, records: records, cur: cur) }
        let linux = names.isEmpty ? nil : try placement.directoryHandle()
        let firstType1 = plan.entries.firstIndex { records[$0.deployment]?.uki == nil }

        var tx = transaction
        var swapped = false, visible = false
        func swap() throws(BootDeployError) {
            if swapped { return }
            swapped = true
            try tx.apply { (t: Int?) throws(BootDeployError) -> [RenderedEntry] in
                if let type1 { return type1 }
                return try EntryRenderer.render(plan, records: records, top: t)
            }
        }
        do throws(BootDeployError) {
            // From the first rename on, a failure is after the commit: the rename may have
            // happened (its flush failed), so the caller must not undo what it names. The entry
            // transaction says itself whether it failed before or after its own commit point.
            for (i, e) in plan.entries.enumerated() {
                if i == firstType1 { try swap(); visible = true }
                guard let linux, let name = names.first(where: { $0.deployment == e.deployment })?.name,
                      let source = sources[e.deployment] else { continue }
                visible = true
                try placement.move(from: source, to: name.fileName, linux: linux)
            }
            try swap()
            visible = true
            // What the plan no longer boots: images of removed deployments, and second names.
            let moved = Set(sources.values)
            let stale = cur.entries.ours.compactMap { $0.uki?.fileName } + cur.entries.ukiDuplicates
            let gone = stale.map { "\(UKIPlacement.directory)/\($0)" }.filter { !moved.contains($0) }
            if !gone.isEmpty {
                let d: Directory
                if let linux { d = linux } else { d = try placement.directoryHandle() }
                try sys { () throws(SystemError) in
                    for p in gone { try d.remove(String(p.dropFirst(UKIPlacement.directory.count + 1))) }
                    try d.sync()
                }
            }
        } catch {
            if case .afterCommit = error { throw error }
            throw visible ? .afterCommit(error) : error
        }
    }

    /// Where a UKI deployment's image is now: freshly stored (deploy, kargs, finalize) under its
    /// record's digest name, else placed in `EFI/Linux/` by an earlier commit.
    func imageSource(_ qid: DeploymentName, records: [DeploymentName: DeploymentRecord], cur: Current) throws(BootDeployError) -> String {
        if let path = records[qid]?.uki?.path, (try? cur.boot.dir.kind(path)) == .file { return path }
        if let placed = cur.entries.ours(qid)?.uki { return "\(UKIPlacement.directory)/\(placed.fileName)" }
        throw .notFound("the UKI of \(qid) is neither stored (\(records[qid]?.uki?.path ?? "no record")) nor placed in \(cur.boot.path)/\(UKIPlacement.directory); redeploy it")
    }
}
