import BootDeploy
import BootDeployEarlyBoot
import BootDeploySystem

/// Which deployment this boot is, before anything is judged or changed.
///
/// boot-health acts on one deployment: the one `bootdeploy=<stateroot>/<id>` names on the kernel
/// command line. When that is missing, malformed, or names a deployment this machine does not have
/// (no record, no boot entry), there is nothing boot-health may bless, mark bad or reboot
/// away from: every verb refuses ("cannot judge", exit 2), says so in the journal, and `run` notes
/// it in the status record. Judging a stranger would mark nothing real bad and reboot a machine
/// whose own deployment was never looked at.
extension HealthService {
    /// The booted deployment, or an error saying why it cannot be identified.
    func knownBootedDeployment() throws -> DeploymentName {
        let text: String
        do {
            text = try Directory.open("/").readText(String(roots.cmdlineFile.drop(while: { $0 == "/" })))
        } catch {
            throw HealthError.invalid("cannot read the kernel command line \(roots.cmdlineFile): \(error)")
        }
        // The kernel's own splitting (quotes group), the last bootdeploy= wins, and the name rules
        // of prepare-root: the same parser and the same rules as the code that booted it.
        guard let value = KernelCommandLine(text).last("bootdeploy") else {
            throw HealthError.invalid("\(roots.cmdlineFile) has no bootdeploy=<stateroot>/<id>: not booted into a BootDeploy deployment")
        }
        let name: DeploymentName
        do { name = try DeploymentName(argument: value) } catch {
            throw HealthError.invalid("\(roots.cmdlineFile): \(error)")
        }
        let d = DeploymentName(stateroot: name.stateroot, id: name.id)
        if let why = try unknown(d, name) { throw HealthError.refused("bootdeploy=\(d) names no deployment on this machine (\(why))") }
        return d
    }

    /// Nil when the machine knows `d`; otherwise what was looked at.
    private func unknown(_ d: DeploymentName, _ name: DeploymentName) throws -> String? {
        // The deployment layer's order (records, else the entries themselves).
        var orderError = ""
        do {
            if try ordering.orderedDeployments().contains(where: { $0.deployment == d }) { return nil }
        } catch {
            orderError = "; the boot order could not be read: \(error)"
        }
        // Its record on the physical root (a tree without a record is a leftover, not a deployment).
        if let root = try openIfPresent(roots.sysroot), root.exists(name.deploymentPath + ".json") { return nil }
        // An entry of ours in /boot that boots it.
        do {
            if !(try BootEntries.load(boot: roots.boot).files(of: d).isEmpty) { return nil }
        } catch let e as SystemError where e.errno == .noSuchFileOrDirectory {
            // No loader/entries at all: nothing there names it.
        }
        return "no record \(roots.sysroot)/\(name.deploymentPath).json, no entry in \(roots.boot)/loader/entries\(orderError)"
    }

    private func openIfPresent(_ path: String) throws -> Directory? {
        do { return try Directory.open(path) } catch where error.errno == .noSuchFileOrDirectory { return nil }
    }

    /// `knownBootedDeployment()` for a verb that would judge or act: a refusal is logged (journal,
    /// `STATUS=`) and, for `run`, noted as the last run in the status record; nothing else changes.
    func identifyBooted(verb: String, phase: RunPhase? = nil) throws -> DeploymentName {
        do {
            return try knownBootedDeployment()
        } catch {
            let why = "not judging this boot (\(verb)): \(error)"
            log.log(.notJudged, why)
            ServiceNotify.status(why)
            if let phase { noteNotJudged(phase: phase, reason: "\(error)") }
            throw error
        }
    }

    private func noteNotJudged(phase: RunPhase, reason: String) {
        do {
            let lock = try takeLock()
            var status = try store.load()
            let now = wallClockSeconds()
            status.lastRun = .init(phase: .known(phase), startedAt: now, finishedAt: now, decision: .known(.notJudged),
                                   reason: SafeText.escape(reason), checks: [], units: [])
            try store.save(status)
            withExtendedLifetime(lock) {}
        } catch {
            log.warn("could not note in the status record that this boot was not judged: \(error)")
        }
    }
}
