import BootDeployEarlyBoot
import BootDeploy
import BootDeploySystem
import FoundationEssentials
import Glibc

/// The roots boot-health works on; every one can be pointed elsewhere, for tests and offline use.
public struct HealthRoots: Sendable {
    /// The physical root. On a booted system it is reachable at /sysroot inside the deployment.
    public var sysroot = "/sysroot"
    public var boot = "/boot"
    public var cmdlineFile = "/proc/cmdline"
    public var runDir = "/run/bootdeploy"
    /// Highest priority first: the administrator's, then the vendor's.
    public var configDirs = ["/etc/boot-health", "/usr/lib/boot-health"]
    public var efivars = "/sys/firmware/efi/efivars"
    /// greenboot's roots, whose `check/{required,wanted}.d` and `{green,red}.d` are honoured too.
    public var greenbootDirs = ["/etc/greenboot", "/usr/lib/greenboot"]
    /// A D-Bus address to reach systemd at; nil = the system bus (`DBUS_SYSTEM_BUS_ADDRESS` honoured).
    public var busAddress: String?
    public init() {}
}

/// The result of `check`: nothing was changed.
public struct CheckReport: Codable, Sendable {
    public var schema = 1
    public var deployment: String?
    public var healthy: Bool
    public var checks: [CheckResult]
    public var units: [HealthStatus.UnitResult]
    public var warnings: [String]
}

/// boot-health's logic: checks, decisions, the grace-period watch. The executable is a thin shell
/// around this; tests drive it directly.
public final class HealthService: @unchecked Sendable {
    public let roots: HealthRoots
    public let config: HealthConfig
    public let log: HealthLog
    public let ordering: any DeploymentOrdering
    /// Set by `stop()` from another thread to end the after-grace watch (tests).
    nonisolated(unsafe) var stopRequested = false

    public init(roots: HealthRoots, ordering: any DeploymentOrdering, log: HealthLog = HealthLog()) throws {
        self.roots = roots
        self.ordering = ordering
        self.log = log
        self.config = try HealthConfig.load(dirs: roots.configDirs)
        for w in config.warnings { log.warn(w) }
    }

    // MARK: Small helpers

    func takeLock() throws -> FileLock {
        let base: Directory
        do { base = try Directory.open(roots.sysroot).openDirectory("bootdeploy") } catch {
            throw HealthError.invalid("\(roots.sysroot)/bootdeploy is missing (wrong --sysroot?): \(error)")
        }
        let lock = try FileLock(".lock", in: base, wait: true)
        // Under the lock, as boot-deploy's writers do: never write into a frozen /boot (the write
        // would hang). A /boot that cannot be opened has nothing to check; its writes fail anyway.
        if let boot = try? BootPartition(Roots(sysroot: roots.sysroot, boot: roots.boot)) { try boot.ensureWritable() }
        return lock
    }

    var store: StatusStore { StatusStore(sysroot: roots.sysroot) }

    static func bootID() -> String? {
        guard let t = try? Directory.open("/proc/sys/kernel/random").readText("boot_id") else { return nil }
        return t.trimmingSpaces
    }

    func counting(_ d: DeploymentName, _ status: HealthStatus) throws -> BootCounting {
        let known = status.booted.flatMap { $0.stateroot == d.stateroot && $0.id == d.id ? $0.entry : nil }
        // Within one boot the backend found first stays: blessing through grubenv removes
        // boot_counter, and the same boot's mark-bad must still go to grubenv.
        var choice = config.counter
        if choice == .auto, let b = status.booted, b.stateroot == d.stateroot, b.id == d.id, b.bootID == Self.bootID(),
           let remembered = HealthConfig.CounterChoice(rawValue: b.counter.rawValue) {
            choice = remembered
        }
        let c = try BootCounting.detect(deployment: d, boot: roots.boot, sysroot: roots.sysroot, efivars: roots.efivars,
                                        choice: choice, knownBootedName: known)
        for w in c.warnings { log.warn(w) }
        return c
    }

    /// Notes this boot in the record the first time it is seen (entry name before any rename).
    func noteBoot(_ d: DeploymentName, _ c: BootCounting, _ status: inout HealthStatus) {
        let id = Self.bootID()
        if let b = status.booted, b.stateroot == d.stateroot, b.id == d.id, b.bootID == id { return }
        let f = c.counterFields
        status.booted = .init(stateroot: d.stateroot, id: d.id, counter: Recorded(rawValue: c.backend.rawValue), entry: c.bootedName ?? c.entryName,
                              triesLeft: f.left, triesDone: f.done, attempts: c.attempts, seenAt: wallClockSeconds(), bootID: id)
        status.state = .known(.checking)
        status.degradedReason = nil
    }

    func bus() throws -> SystemdBus { try SystemdBus(address: roots.busAddress) }

    func hookTimeout() -> TimeSpan { config.checkTimeout }

    // MARK: check

    /// Runs the checks and reads the required units' states, changing nothing.
    public func check(useBus: Bool = true) throws -> CheckReport {
        let d = try identifyBooted(verb: "check")
        let results = try runChecks(d)
        var units: [HealthStatus.UnitResult] = []
        var warnings = config.warnings
        if !config.units.isEmpty && useBus {
            do {
                let b = try bus()
                try b.watch()
                units = try HealthWatch(bus: b, units: config.units, startupTimeout: config.startupTimeout, stopped: { true }).unitResults(wait: false)
            } catch {
                warnings.append("cannot ask systemd about required units: \(error)")
                units = config.units.map { .init(name: $0.name, activeState: "unknown", result: .known(.failed)) }
            }
        }
        let healthy = !results.contains { $0.kind == .required && $0.result != .passed } && !units.contains { $0.result != .passed }
        return CheckReport(deployment: d.description, healthy: healthy, checks: results, units: units, warnings: warnings)
    }

    // MARK: run

    public func run(phase: RunPhase) throws -> HealthVerdict {
        let d = try identifyBooted(verb: "run --phase \(phase.rawValue)", phase: phase)
        let started = wallClockSeconds()
        var facts: HealthPolicy.Facts
        do {
            let lock = try takeLock()
            var status = try store.load()
            let c = try counting(d, status)
            noteBoot(d, c, &status)
            if phase != .bless { noteFinalizeFailure(&status) }
            try store.save(status)
            withExtendedLifetime(lock) {}
            facts = .init(phase: phase, recordedState: status.state, counter: c.backend, attempts: c.attempts,
                          maxAttempts: config.maxAttempts, requiredUnits: config.units.count)
            // This boot was already judged bad (the check phase failed): nothing left to watch.
            if case .nothing(let reason, _)? = HealthPolicy.alreadyJudged(phase: phase, recordedState: status.state) {
                return HealthVerdict(decision: "none", reason: reason, rebootRequested: false,
                                degraded: status.state == .degraded, healthy: false)
            }
            // finalize (at the last shutdown) leaves a stamp when it could not install the update.
            if phase != .bless, let base = try? Directory.open(roots.sysroot).openDirectory("bootdeploy"), base.exists("finalize-failed.json") {
                let text = ((try? base.readText("finalize-failed.json")) ?? "").trimmingSpaces
                log.log(.finalizeFailed, "the last finalize failed; the staged update was not installed: \(text.prefix(300))")
            }
        }
        let exhausted = HealthPolicy.exhausted(counter: facts.counter, attempts: facts.attempts, maxAttempts: facts.maxAttempts)
        if let exhausted { log.log(.attemptsExhausted, "\(d): \(exhausted)", fields: ["DEPLOYMENT": d.description]) }

        var watcher: HealthWatch?
        if HealthPolicy.waitsForStartup(phase: phase, failure: exhausted) {
            // READY at once: the unit is part of the boot transaction, and startup cannot finish
            // while it waits for us. The decision follows in STATUS=.
            ServiceNotify.ready("waiting for system startup to finish")
            if let b = try? bus() {
                try? b.watch()
                let w = HealthWatch(bus: b, units: config.units, startupTimeout: config.startupTimeout, stopped: { [unowned self] in self.stopRequested })
                watcher = w
                if !w.waitForStartup() {
                    log.log(.startupTimeout, "system startup did not finish within \(config.startupTimeout); checking anyway")
                }
            } else {
                log.log(.startupTimeout, "cannot reach systemd on D-Bus; checking without waiting for startup")
            }
        }

        // Gather what the policy asks for until it decides.
        var verdict = HealthPolicy.judge(facts)
        while case .wait(let step) = verdict {
            switch step {
            case .checks:
                ServiceNotify.status("running checks")
                let checks = try runChecks(d)
                logFailedChecks(checks, d)
                facts.checks = checks
            case .units:
                if let watcher {
                    do { facts.units = try watcher.unitResults(wait: true) } catch {
                        log.warn("cannot ask systemd about the required units: \(error); they count as failed")
                        facts.units = HealthWatch.unknown(config.units)
                    }
                } else {
                    facts.units = HealthWatch.unknown(config.units)
                }
            }
            verdict = HealthPolicy.judge(facts)
        }
        let checks = facts.checks ?? [], units = facts.units ?? []
        func runRecord(_ decision: RunDecision, _ reason: String?) -> HealthStatus.RunRecord {
            .init(phase: .known(phase), startedAt: started, finishedAt: wallClockSeconds(), decision: .known(decision), reason: reason, checks: checks, units: units)
        }

        var decision: HealthVerdict
        switch verdict {
        case .markBad(let failure):
            decision = try decideBad(d, reason: failure, by: .service, reboot: config.rebootOnFailure, bus: watcher?.bus,
                                     run: runRecord(.markedBad, failure))
        case .nothing(let reason, let healthy):
            decision = HealthVerdict(decision: "none", reason: reason, rebootRequested: false, degraded: false, healthy: healthy)
            if phase == .check {
                log.log(.checksPassed, "\(d): all required checks passed", fields: ["DEPLOYMENT": d.description])
                let lock = try takeLock()
                var status = try store.load()
                status.lastRun = runRecord(.none, nil)
                try store.save(status)
                withExtendedLifetime(lock) {}
            }
        case .bless, .wait:
            if !checks.isEmpty { log.log(.checksPassed, "\(d): all required checks passed", fields: ["DEPLOYMENT": d.description]) }
            decision = try decideGood(d, by: .service, run: runRecord(.blessed, nil))
        }
        ServiceNotify.status("\(d): \(decision.decision)\(decision.reason.map { ": " + $0 } ?? "")")

        // The grace period: a required unit that fails now still fails this boot.
        if HealthPolicy.watchesGrace(phase: phase, healthy: decision.healthy, requiredUnits: config.units.count), let w = watcher {
            let graceEnd = monotonicMicroseconds() + config.gracePeriod.microseconds
            ServiceNotify.status("\(d): \(decision.decision); watching \(config.units.count) unit(s) for \(config.gracePeriod)")
            var states: [String: String] = [:]
            if let reason = w.watch(until: graceEnd, states: &states) {
                log.log(.unitFailedInGrace, "\(d): \(reason)", fields: ["DEPLOYMENT": d.description])
                return try decideBad(d, reason: reason, by: .service, reboot: config.rebootOnFailure, bus: w.bus, run: nil)
            }
            // After the grace period failures are only reported: the boot was good.
            ServiceNotify.status("\(d): \(decision.decision); grace period over, reporting unit failures only")
            while !stopRequested {
                guard let reason = w.watch(until: monotonicMicroseconds() + 3_600_000_000, states: &states) else { continue }
                log.log(.unitFailedAfterGrace, "\(d): \(reason) after the grace period; not rolling back", fields: ["DEPLOYMENT": d.description])
                let lock = try takeLock()
                var status = try store.load()
                status.record(.init(at: wallClockSeconds(), stateroot: d.stateroot, id: d.id, event: .known(.failureAfterGrace),
                                    reason: reason, rebootRequested: false, by: .known(.service)))
                try store.save(status)
                withExtendedLifetime(lock) {}
            }
        }
        return decision
    }

    func logFailedChecks(_ checks: [CheckResult], _ d: DeploymentName) {
        for r in checks where r.result == .failed || r.result == .timeout {
            let event: HealthEvent = r.result == .timeout ? .checkTimedOut : .checkFailed
            log.log(event, "\(r.kind.rawValue) check \(r.name) \(r.result == .timeout ? "timed out after \(r.durationMs) ms" : "failed (exit \(r.exitStatus.map(String.init) ?? "signal \(r.signal ?? 0)"))"): \(r.output.suffix(400))",
                    fields: ["CHECK": r.name, "DEPLOYMENT": d.description])
        }
    }

    /// Ends the after-grace watch at its next wake-up (tests).
    public func stop() { stopRequested = true }

    // MARK: By hand

    /// Blesses by hand (`by: .manual`), or as the bless unit after boot-complete.target (`.service`).
    public func markGood(by: DecidedBy = .manual) throws -> HealthVerdict {
        try decideGood(try identifyBooted(verb: by == .manual ? "mark-good" : "run --phase bless", phase: by == .manual ? nil : .bless),
                       by: by, run: nil)
    }

    public func markBad(reason: String?, reboot: Bool) throws -> HealthVerdict {
        try decideBad(try identifyBooted(verb: "mark-bad"), reason: SafeText.escape(reason ?? "marked bad by hand"), by: .manual, reboot: reboot, bus: nil, run: nil)
    }
}
