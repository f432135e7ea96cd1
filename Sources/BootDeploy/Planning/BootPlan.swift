import BootDeployEarlyBoot

/// One of our entries in a desired boot state: which deployment, and its boot counter.
public struct PlannedEntry: Sendable, Equatable {
    public var deployment: DeploymentName
    public var counter: BootCounter?

    public init(_ deployment: DeploymentName, counter: BootCounter?) {
        self.deployment = deployment
        self.counter = counter
    }

    public init(stateroot: String, id: String, counter: BootCounter?) {
        self.init(DeploymentName(stateroot: stateroot, id: id), counter: counter)
    }

    public var stateroot: String { deployment.stateroot }
    public var id: String { deployment.id }
    public var state: EntryState { EntryFileName(id: "x", counter: counter).state }
}

/// The desired order of our entries, first = default. Pure: every operation returns a new plan
/// and the transaction applies it. Bad entries (no tries left) always sort last, as systemd-boot
/// boots them, so that after a fallback the bad deployment loses its place.
public struct BootPlan: Sendable, Equatable {
    public private(set) var entries: [PlannedEntry]

    public init(_ entries: [PlannedEntry]) {
        self.entries = BootPlan.normalize(entries)
    }

    static func normalize(_ e: [PlannedEntry]) -> [PlannedEntry] {
        e.filter { $0.state != .bad } + e.filter { $0.state == .bad }
    }

    public var defaultEntry: PlannedEntry? { entries.first }

    func index(of deployment: DeploymentName) throws(BootDeployError) -> Int {
        guard let i = entries.firstIndex(where: { $0.deployment == deployment }) else {
            throw .notFound("deployment \(deployment) has no boot entry")
        }
        return i
    }

    /// A new deployment becomes the default, with a fresh counter (`tries` 0: none).
    public func deploying(_ deployment: DeploymentName, tries: Int) -> BootPlan {
        let counter: BootCounter? = tries > 0 ? BootCounter(left: min(tries, 9), done: 0) : nil
        let rest = entries.filter { $0.deployment != deployment }
        return BootPlan([PlannedEntry(deployment, counter: counter)] + rest)
    }

    /// The previous deployment (the first one after the default that is not bad) becomes the
    /// default; the current default stays, second.
    public func rollingBack() throws(BootDeployError) -> BootPlan {
        guard entries.count >= 2 else { throw .refused("nothing to roll back to: there is only one deployment") }
        guard let j = entries.indices.dropFirst().first(where: { entries[$0].state != .bad }) else {
            throw .refused("nothing to roll back to: every other deployment is marked bad")
        }
        var e = entries
        let target = e.remove(at: j)
        e.insert(target, at: 0)
        return BootPlan(e)
    }

    public func settingDefault(_ deployment: DeploymentName) throws(BootDeployError) -> BootPlan {
        let i = try index(of: deployment)
        if entries[i].state == .bad {
            throw .refused("\(deployment) is marked bad (no tries left); bless it or redeploy before making it the default")
        }
        var e = entries
        let target = e.remove(at: i)
        e.insert(target, at: 0)
        return BootPlan(e)
    }

    /// Removes a deployment's entry; the last entry is never removed (invariant 1).
    public func removing(_ deployment: DeploymentName) throws(BootDeployError) -> BootPlan {
        let i = try index(of: deployment)
        guard entries.count > 1 else { throw .refused("\(deployment) is the only bootable deployment; it cannot be removed") }
        var e = entries
        e.remove(at: i)
        return BootPlan(e)
    }

    /// Marks a deployment bad (`+0-D`) and moves it behind every other entry.
    public func demoting(_ deployment: DeploymentName) throws(BootDeployError) -> BootPlan {
        let i = try index(of: deployment)
        var e = entries
        let done = e[i].counter?.done ?? 0
        e[i].counter = BootCounter(left: 0, done: done)
        let bad = e.remove(at: i)
        e.append(bad)
        return BootPlan(e)
    }

    /// Replaces the counter of one entry (what the boot loader or boot-health left on disk).
    public func withCounter(_ deployment: DeploymentName, _ counter: BootCounter?) -> BootPlan {
        BootPlan(entries.map { $0.deployment == deployment ? PlannedEntry(deployment, counter: counter) : $0 })
    }
}

/// A rendered entry file of ours.
public struct RenderedEntry: Sendable, Equatable {
    public var fileName: String
    public var text: String
    public var deployment: DeploymentName

    public init(fileName: String, text: String, deployment: DeploymentName) {
        self.fileName = fileName
        self.text = text
        self.deployment = deployment
    }
}

/// Turns a plan into entry files. Names are `bd-<stateroot>-<rank>[+L-D].conf` with three-digit
/// ranks, the default highest; `sort-key bootdeploy` and `version <rank>` make systemd-boot,
/// bootctl and GRUB's file-name sort agree (docs/ON-DISK.md).
public enum EntryRenderer {
    public static let sortKey = "bootdeploy"
    public static let maxRank = 999

    /// Ranks for `count` entries, highest first, starting at `top`.
    public static func ranks(count: Int, top: Int) -> [Int] { (0..<count).map { top - $0 } }

    public static func fileID(stateroot: String, rank: Int) -> String {
        let r = String(rank)
        return "bd-\(stateroot)-" + String(repeating: "0", count: max(0, 3 - r.count)) + r
    }

    public static func render(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], top: Int? = nil) throws(BootDeployError) -> [RenderedEntry] {
        try render(plan, records: records, top: top, nameOrder: false)
    }

    /// `nameOrder`: the plan holds a UKI (`NameOrder`): names `bootdeploy-<rank>-<stateroot>`, no
    /// `version`, and no Type #1 entry for a UKI deployment (its image is its entry).
    public static func render(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], top: Int?, nameOrder: Bool) throws(BootDeployError) -> [RenderedEntry] {
        let n = plan.entries.count
        let topRank = top ?? n
        guard topRank <= (nameOrder ? NameOrder.maxRank : maxRank), topRank - n >= 0 else { throw .refused("too many boot entries (at most \(maxRank))") }
        var out: [RenderedEntry] = []
        for (entry, rank) in zip(plan.entries, ranks(count: n, top: topRank)) {
            guard let rec = records[entry.deployment] else {
                throw .notFound("deployment \(entry.deployment) has an entry but no record")
            }
            if nameOrder && rec.uki != nil { continue }
            let id = nameOrder ? NameOrder.fileID(stateroot: entry.stateroot, rank: rank) : fileID(stateroot: entry.stateroot, rank: rank)
            let name = EntryFileName(id: id, counter: entry.counter)
            var text = entryText(rec, rank: rank)
            if nameOrder { text.version = nil }
            out.append(RenderedEntry(fileName: name.fileName, text: text.render(), deployment: entry.deployment))
        }
        return out
    }

    /// The Type #2 file names of a plan's UKI deployments in name order, ranks as `render` gives.
    public static func ukiNames(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], top: Int) -> [(deployment: DeploymentName, name: UKIFileName)] {
        zip(plan.entries, ranks(count: plan.entries.count, top: top)).compactMap { entry, rank in
            guard records[entry.deployment]?.uki != nil else { return nil }
            return (entry.deployment, UKIFileName(id: NameOrder.fileID(stateroot: entry.stateroot, rank: rank), counter: entry.counter))
        }
    }

    public static func entryText(_ rec: DeploymentRecord, rank: Int) -> BootEntry {
        var e = BootEntry()
        e.title = "\(rec.title) (\(rec.name))"
        e.version = String(rank)
        e.sortKey = sortKey
        e.options = [commandLine(rec)]
        e.linux = "/\(rec.kernelDir)/vmlinuz"
        // Without an initramfs the kernel runs the early-boot binary from the physical root as init.
        e.initrd = rec.earlyBoot == nil ? ["/\(rec.kernelDir)/initramfs.img"] : []
        if rec.hasDevicetree { e.devicetree = "/\(rec.kernelDir)/devicetree" }
        return e
    }

    /// The deployment's kernel command line, `bootdeploy=` last.
    public static func commandLine(_ rec: DeploymentRecord) -> String {
        (rec.kargs + (rec.earlyBoot?.kernelArguments ?? []) + [rec.bootParameter]).joined(separator: " ")
    }
}
