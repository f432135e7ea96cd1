import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// Staged updates: `deploy --stage` does the slow work while the system runs (tree in place,
/// kernels flushed into /boot's store); `finalize`, run by a unit at shutdown, merges /etc and
/// writes /boot with the same transaction as `deploy`. The update is never lost silently: a
/// persistent marker (`$SYSROOT/bootdeploy/staged.json`) outlives /run, so the next boot reports
/// an update that was staged but never finalized, and a failed finalize leaves a stamp
/// (`$SYSROOT/bootdeploy/finalize-failed.json`).
extension DeploymentManager {
    static let persistentMarker = "staged.json"
    static let failureStamp = "finalize-failed.json"

    /// Stages a deployment: everything but /boot's entries. Replaces an earlier staged one.
    @discardableResult
    public func stage(_ req: DeployRequest, locked: Bool) throws(BootDeployError) -> StagedDeployment {
        let rec = try deploy(req, commitEntries: false).record
        // Finalize writes a new entry set at shutdown; make sure it will fit now.
        let boot = try bootPartition()
        let free = try sys { () throws(SystemError) in try boot.dir.availableBytes() }
        if free < 1 << 20 {
            throw .refused("\(boot.path) has \(free) bytes free; finalize needs at least 1 MiB for the new entries")
        }
        var staged = StagedDeployment(stateroot: rec.stateroot, id: rec.id, tries: req.tries, locked: locked, staged: isoNow())
        if !req.mergeEtc { staged.mergeEtc = false }
        try writeStaged(staged)
        return staged
    }

    func writeStaged(_ s: StagedDeployment) throws(BootDeployError) {
        let bytes = s.encoded()
        let run = try sys { () throws(SystemError) in
            let anchor = try Directory.open(roots.runDir.hasPrefix("/") ? "/" : ".")
            try anchor.makeDirectory(String(roots.runDir.drop { $0 == "/" }), parents: true)
            return try Directory.open(roots.runDir)
        }
        let base = try sysroot.requireBase()
        try sys { () throws(SystemError) in
            try base.replaceFile(DeploymentManager.persistentMarker, bytes)
            try run.replaceFile("staged.json", bytes)
        }
    }

    /// Locks or unlocks the staged deployment: a locked one is not finalized at shutdown.
    public func setFinalizationLocked(_ locked: Bool) throws(BootDeployError) {
        guard var s = try staged() else { throw .notFound("nothing is staged") }
        s.locked = locked
        try writeStaged(s)
    }

    /// What finalize did.
    public enum FinalizeOutcome: Sendable, Equatable {
        case nothingStaged
        case locked(DeploymentName)
        case finalized(DeploymentName, localChanges: Int, warnings: [String])
    }

    /// Merges /etc into the staged deployment and makes it the default. On failure a stamp names
    /// the deployment and the error for the next boot.
    public func finalize() throws(BootDeployError) -> FinalizeOutcome {
        guard let s = try staged() else { return .nothingStaged }
        let base = try sysroot.requireBase()
        if s.locked {
            // Deliberately not finalized: no failure to report on the next boot.
            try? sys { () throws(SystemError) in try base.remove(DeploymentManager.persistentMarker); try base.sync() }
            return .locked(s.name)
        }
        do {
            let outcome = try finalizeUnchecked(s)
            try sys { () throws(SystemError) in
                try base.remove(DeploymentManager.persistentMarker)
                try base.remove(DeploymentManager.failureStamp)
                try base.sync()
                try Directory.open(roots.runDir).remove("staged.json")
            }
            return outcome
        } catch {
            recordFailure(s, error)
            throw error
        }
    }

    func recordFailure(_ s: StagedDeployment, _ error: BootDeployError) {
        let stamp = FinalizeFailure(stateroot: s.stateroot, id: s.id, error: error.description, time: isoNow())
        // The finalize error itself is thrown to the caller; a stamp that cannot be written is
        // said too, so the next boot's silence is not mistaken for success.
        do {
            let base = try sysroot.requireBase()
            try sys { () throws(SystemError) in try base.replaceFile(DeploymentManager.failureStamp, stamp.encoded()) }
        } catch {
            let line = "boot-deploy: cannot record the finalize failure for the next boot: \(error)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
    }

    func finalizeUnchecked(_ s: StagedDeployment) throws(BootDeployError) -> FinalizeOutcome {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        guard var rec = cur.records[s.name] else { throw .notFound("staged deployment \(s.name) has no record any more") }
        // Its kernel arguments (inherited at stage time, perhaps edited since with `kargs`) are
        // checked before anything is written.
        try checkCommandLine(rec, origin: "on the staged \(rec.name); 'kargs --deployment \(rec.name) --delete' drops it")
        // /etc comes from the merge deployment as it is now, at shutdown (MergeDeployment.swift).
        var report: EtcMergeReport? = nil
        let source = s.mergeEtc == false ? nil : try mergeDeployment(for: rec.stateroot, in: cur)
        if let src = source, src.name != rec.name {
            let sourceID = src.name
            let srcPath = "\(roots.sysroot)/bootdeploy/\(src.stateroot)/deploy/\(src.id)"
            let newPath = "\(roots.sysroot)/bootdeploy/\(rec.stateroot)/deploy/\(rec.id)"
            let d = try sysroot.deployDir(rec.stateroot)
            // The placed etc is the vendor copy; the merge writes a fresh one.
            try sys { () throws(SystemError) in try d.removeTree("\(rec.id)/etc"); try d.openDirectory(rec.id).sync() }
            do {
                report = try EtcMerge.merge(currentDeployment: absolute(srcPath), newDeployment: absolute(newPath))
            } catch let e as BootDeployError {
                throw e
            } catch {
                throw .refused("merging /etc from \(sourceID) into \(rec.name): \(error)")
            }
            if rec.mergedFrom != sourceID {
                rec.mergedFrom = sourceID
                try sysroot.writeRecord(rec)
            }
        }
        try commit(cur.plan.deploying(rec.name, tries: s.tries), cur, extraRecords: [rec])
        return .finalized(rec.name, localChanges: report?.localChanges.count ?? 0, warnings: report?.warnings ?? [])
    }

    func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buf, buf.count) != nil else { return p }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + p
    }

    /// Problems left by the last shutdown: a failed finalize, or an update staged but never
    /// finalized (power cut, crash). Nil when there is nothing to report.
    public func finalizeProblem() -> String? {
        guard let base = try? sysroot.requireBase() else { return nil }
        // An unreadable stamp or marker is itself the thing to report, not a reason for silence.
        do {
            if let f = try readStateFile(DeploymentManager.failureStamp, in: base.path, FinalizeFailure.decode) {
                return "finalize of \(f.name) failed at \(f.time): \(f.error)"
            }
            if try staged() == nil,
               let s = try readStateFile(DeploymentManager.persistentMarker, in: base.path, StagedDeployment.decode) {
                return "\(s.name) was staged at \(s.staged) but never finalized (the system stopped without a clean shutdown)"
            }
        } catch {
            return "the state of the last finalize is unreadable: \(error)"
        }
        return nil
    }

    /// Acknowledges a reported finalize problem (after the administrator has seen it).
    public func clearFinalizeProblem() throws(BootDeployError) {
        let base = try sysroot.requireBase()
        let nothingStaged = try staged() == nil
        try sys { () throws(SystemError) in
            try base.remove(DeploymentManager.failureStamp)
            if nothingStaged { try base.remove(DeploymentManager.persistentMarker) }
            try base.sync()
        }
    }
}
