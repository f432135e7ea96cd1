import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials

/// `boot-deploy status --json`, schema 1 (docs/STATUS.md). Fields are only ever added within a
/// schema version; a removal or change of meaning bumps `schema`.
public struct BootStatus: Codable, Sendable {
    public var schema: Int = 1
    public var sysroot: String
    public var boot: String
    /// The entry strategy in use on /boot: symlink, exchange or per-file.
    public var bootStrategy: EntryStrategy
    /// The boot loader /boot is written for (`--boot-loader`, else detected).
    public var bootLoader: BootLoaderKind
    /// The boot loader's own counter outside the entries (U-Boot's bdcount), when it keeps one.
    public var bootLoaderCounter: LoaderCounter? = nil
    public var booted: String?
    public var staged: String?
    public var deployments: [Deployment]
    public var foreignEntries: [ForeignEntry]
    /// Everything that could not be read: malformed entries and records, with file and line.
    public var problems: [String]
    /// A failed finalize reported by the next boot, if any.
    public var finalizeFailure: String?
    /// What works against BootDeploy's order: a loader.conf `default` that selects another entry.
    public var warnings: [String] = []

    public struct LoaderCounter: Codable, Sendable, Equatable {
        /// The deployment on trial (nil: none is counted), and its tries left.
        public var trial: String?
        public var triesLeft: Int
        /// The file the state was read from.
        public var file: String
    }

    public struct Deployment: Codable, Sendable {
        public var stateroot: String
        public var id: String
        public var version: String
        public var title: String
        /// Position in boot order (0 = default); nil when no entry names the deployment.
        public var index: Int?
        public var `default`: Bool
        public var booted: Bool
        public var rollbackTarget: Bool
        public var pinned: Bool
        public var staged: Bool
        public var entry: String?
        public var triesLeft: Int?
        public var triesDone: Int?
        /// good, indeterminate or bad; nil without an entry.
        public var state: EntryState?
        public var kernelVersion: String
        public var kernelDir: String
        public var kargs: [String]
        public var created: String
        public var layout: MountLayout
        public var softwareAttempts: Int?
        /// The merge deployment this one carried kernel arguments and /etc changes from.
        public var mergedFrom: String? = nil
        /// Set when the deployment boots without an initramfs: its early-boot install, and what is
        /// wrong with it (missing, damaged, stale), if anything.
        public var earlyBoot: EarlyBootRef?
        public var earlyBootProblem: String?
        /// Set when the deployment boots as a unified kernel image (docs/UKI.md).
        public var uki: UKIRef? = nil
    }

    public struct ForeignEntry: Codable, Sendable {
        public var file: String
        public var title: String?
        public var version: String?
    }

    public func json() -> String { String(decoding: jsonDocument(self).dropLast(), as: UTF8.self) }
}

extension DeploymentManager {
    /// Every deployment of every stateroot in boot order, then those without an entry.
    public func status() throws(BootDeployError) -> BootStatus {
        let cur = try current(forWriting: false)
        // status must work on a broken machine: an unreadable run file is a problem to show.
        var runProblems: [String] = []
        var counterProblems: [String] = []
        var bootedID: DeploymentName? = nil, stagedID: DeploymentName? = nil
        do { bootedID = try booted()?.name } catch { runProblems.append(error.description) }
        do { stagedID = try staged()?.name } catch { runProblems.append(error.description) }
        var rows: [BootStatus.Deployment] = []
        var seen = Set<DeploymentName>()
        let rollbackID = cur.entries.ours.dropFirst().first { $0.name.state != .bad }?.deployment
        func row(_ r: DeploymentRecord, index: Int?, entry: BootEntriesState.Ours?) -> BootStatus.Deployment {
            let attempts = softwareAttempts(r, problems: &counterProblems)
            var d = BootStatus.Deployment(stateroot: r.stateroot, id: r.id, version: r.version, title: r.title, index: index,
                         default: index == 0, booted: r.name == bootedID, rollbackTarget: r.name == rollbackID,
                         pinned: r.pinned, staged: r.name == stagedID, entry: entry?.name.fileName,
                         triesLeft: entry?.name.counter?.left, triesDone: entry?.name.counter?.done, state: entry?.name.state,
                         kernelVersion: r.kernelVersion, kernelDir: r.kernelDir, kargs: r.kargs, created: r.created,
                         layout: r.layout, softwareAttempts: attempts, mergedFrom: r.mergedFrom?.description)
            d.earlyBoot = r.earlyBoot
            d.earlyBootProblem = earlyBootProblem(r, thorough: false)
            d.uki = r.uki
            // A placed image is its Type #2 entry; the record keeps the stored name it came from.
            if let placed = entry?.uki { d.uki?.path = "\(UKIPlacement.directory)/\(placed.fileName)" }
            return d
        }
        var problems = runProblems + cur.problems + cur.entries.ourErrors.map(\.description) + cur.entries.foreignErrors.map(\.description)
        for (i, o) in cur.entries.ours.enumerated() {
            guard let r = cur.records[o.deployment] else {
                problems.append("entry \(o.name.fileName) names \(o.deployment), which has no deployment record")
                continue
            }
            rows.append(row(r, index: i, entry: o))
            seen.insert(o.deployment)
        }
        for r in cur.records.values.sorted(by: { $0.name < $1.name }) where !seen.contains(r.name) {
            rows.append(row(r, index: nil, entry: nil))
        }
        let foreign = cur.entries.foreign.map { BootStatus.ForeignEntry(file: $0.name.fileName, title: $0.entry.title, version: $0.entry.version) }
        let failure = finalizeProblem()
        let (loader, loaderContext) = bootLoader(cur.boot)
        var status = BootStatus(sysroot: roots.sysroot, boot: roots.boot, bootStrategy: cur.boot.strategy,
                          bootLoader: loader.kind,
                          booted: bootedID?.description, staged: stagedID?.description, deployments: rows, foreignEntries: foreign,
                          problems: problems + counterProblems, finalizeFailure: failure,
                          warnings: LoaderConfDefault.warnings(bootPath: roots.boot, state: cur.entries))
        status.bootLoaderCounter = loader.counterStatus(loaderContext)
        return status
    }

    /// The findings of `validate`: problems make it exit non-zero.
    public struct ValidationReport: Sendable {
        public var checked: [String] = []
        public var foreign: [String] = []
        public var problems: [String] = []
    }

    /// Checks /boot: every entry of ours parses and names existing kernel/initramfs files and an
    /// existing deployment. Foreign entries are listed and left alone.
    public func validate() throws(BootDeployError) -> ValidationReport {
        let cur = try current(forWriting: false)
        var rep = ValidationReport()
        rep.problems += cur.entries.ourErrors.map(\.description)
        rep.problems += cur.problems
        let entriesDir = "\(cur.boot.path)/\(cur.entries.entriesPath ?? "loader/entries")"
        for o in cur.entries.ours {
            let file = cur.entries.location(o, boot: cur.boot.path)
            rep.checked.append(o.name.fileName)
            var paths: [String] = []
            if o.uki != nil, o.entry.sortKey != EntryRenderer.sortKey || o.entry.version != nil {
                rep.problems.append("\(file): its .osrel gives sort key \(quoted(o.entry.sortKey ?? "(none)")) and version \(quoted(o.entry.version ?? "(none)")), so systemd-boot does not boot it in our order (expected IMAGE_ID=\(EntryRenderer.sortKey) and no version; 'boot-deploy kargs' rebuilds it)")
            }
            if let efi = o.entry.efi {
                rep.problems += ukiProblems(entryFile: file, efi: efi, options: o.entry.commandLine, record: cur.records[o.deployment], boot: cur.boot)
            } else {
                if let l = o.entry.linux { paths.append(l) } else { rep.problems.append("\(file): no 'linux' line") }
                paths += o.entry.initrd
                if o.entry.initrd.isEmpty && cur.records[o.deployment]?.earlyBoot == nil { rep.problems.append("\(file): no 'initrd' line") }
            }
            if let dt = o.entry.devicetree { paths.append(dt) }
            for p in paths {
                let rel = String(p.drop { $0 == "/" })
                if rel.split(separator: "/").contains("..") || (try? cur.boot.dir.kind(rel, followLinks: false)) != .file {
                    rep.problems.append("\(file): \(p) does not exist on \(cur.boot.path)")
                }
            }
            guard let r = cur.records[o.deployment] else {
                rep.problems.append("\(file): names deployment \(o.deployment), which has no record")
                continue
            }
            if (try? sysroot.deployDir(r.stateroot).kind(r.id)) != .directory {
                rep.problems.append("\(file): deployment tree \(roots.sysroot)/bootdeploy/\(r.stateroot)/deploy/\(r.id) is missing")
            }
        }
        rep.problems += LoaderConfDefault.warnings(bootPath: roots.boot, state: cur.entries)
        let (backend, context) = bootLoader(cur.boot)
        rep.problems += backend.validate(context, state: cur.entries)
        rep.problems += earlyBootProblems(cur.entries.ours.compactMap { cur.records[$0.deployment] })
        rep.foreign = cur.entries.foreign.map(\.name.fileName) + cur.entries.foreignErrors.map { "\($0) (malformed, left alone)" }
        return rep
    }
}

extension DeploymentManager {
    /// The software counter of `r` (`<id>.attempts`, read as early boot reads it), nil when there is
    /// none; a file that cannot be read or is not a count goes into `problems`, naming it.
    func softwareAttempts(_ r: DeploymentRecord, problems: inout [String]) -> Int? {
        guard let d = try? sysroot.deployDir(r.stateroot) else { return nil }
        let name = AttemptsFile.fileName(r.id)
        guard d.exists(name) else { return nil }
        do {
            if let n = AttemptsFile.parse(try d.readFile(name, limit: 64)) { return n }
            problems.append("\(d.path)/\(name): not a number of attempts")
        } catch {
            problems.append("\(d.path)/\(name): cannot be read: \(error)")
        }
        return nil
    }
}
