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

/// Which part of the work `run` does; the units split it around boot-complete.target.
public enum RunPhase: String, Sendable, CaseIterable {
    /// Wait for startup, check, decide, watch the grace period (one service does it all).
    case all
    /// Run the check executables; on failure mark bad and roll back (Before=boot-complete.target).
    case check
    /// Bless the booted deployment (After=boot-complete.target).
    case bless
    /// Wait for startup, check required units, watch them for the grace period.
    case watch
}

/// What `run`, `mark-good` and `mark-bad` decided.
public struct Decision: Sendable, Equatable {
    public var decision: String
    public var reason: String?
    public var rebootRequested: Bool
    public var degraded: Bool
    public var healthy: Bool
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

/// What `status --json` prints (schema 1, docs/HEALTH.md).
public struct StatusReport: Codable, Sendable {
    public var schema = 1
    public struct Live: Codable, Sendable {
        public var stateroot: String
        public var id: String
        public var counter: String
        public var entry: String?
        public var state: String
        public var triesLeft: Int?
        public var triesDone: Int?
        public var attempts: Int?
    }
    public struct Deployment: Codable, Sendable {
        public var stateroot: String
        public var id: String
        public var entry: String?
        public var state: String
        public var isDefault: Bool
    }
    public var booted: Live?
    public var deployments: [Deployment]
    public var record: HealthStatus
    public var finalizeFailed: JSONValue?
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

    func counting(_ d: DeploymentRef, _ status: HealthStatus) throws -> BootCounting {
        let known = status.booted.flatMap { $0.stateroot == d.stateroot && $0.id == d.id ? $0.entry : nil }
        // Within one boot the backend found first stays: blessing through grubenv removes
        // boot_counter, and the same boot's mark-bad must still go to grubenv.
        var choice = config.counter
        if choice == .auto, let b = status.booted, b.stateroot == d.stateroot, b.id == d.id, b.bootID == Self.bootID(),
           let remembered = HealthConfig.CounterChoice(rawValue: b.counter) {
            choice = remembered
        }
        let c = try BootCounting.detect(deployment: d, boot: roots.boot, sysroot: roots.sysroot, efivars: roots.efivars,
                                        choice: choice, knownBootedName: known)
        for w in c.warnings { log.warn(w) }
        return c
    }

    /// Notes this boot in the record the first time it is seen (entry name before any rename).
    func noteBoot(_ d: DeploymentRef, _ c: BootCounting, _ status: inout HealthStatus) {
        let id = Self.bootID()
        if let b = status.booted, b.stateroot == d.stateroot, b.id == d.id, b.bootID == id { return }
        let f = c.counterFields
        status.booted = .init(stateroot: d.stateroot, id: d.id, counter: c.backend.rawValue, entry: c.bootedName ?? c.entryName,
                              triesLeft: f.left, triesDone: f.done, attempts: c.attempts, seenAt: wallClockSeconds(), bootID: id)
        status.state = "checking"
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
                units = try unitResults(b, wait: false)
            } catch {
                warnings.append("cannot ask systemd about required units: \(error)")
                units = config.units.map { .init(name: $0.name, activeState: "unknown", result: "failed") }
            }
        }
        let healthy = !results.contains { $0.kind == .required && $0.result != .passed } && !units.contains { $0.result != "passed" }
        return CheckReport(deployment: d.description, healthy: healthy, checks: results, units: units, warnings: warnings)
    }

    // MARK: run

    public func run(phase: RunPhase) throws -> Decision {
        let d = try identifyBooted(verb: "run --phase \(phase.rawValue)", phase: phase)
        let started = wallClockSeconds()
        var checks: [CheckResult] = []
        var units: [HealthStatus.UnitResult] = []
        var failure: String?
        var b: SystemdBus?

        do {
            let lock = try takeLock()
            var status = try store.load()
            let c = try counting(d, status)
            noteBoot(d, c, &status)
            if phase != .bless { noteFinalizeFailure(&status) }
            try store.save(status)
            withExtendedLifetime(lock) {}
            // This boot was already judged bad (the check phase failed): nothing left to watch.
            if phase == .watch, status.state == "bad" || status.state == "degraded" {
                return Decision(decision: "none", reason: "already marked \(status.state) in this boot", rebootRequested: false,
                                degraded: status.state == "degraded", healthy: false)
            }
            // finalize (at the last shutdown) leaves a stamp when it could not install the update.
            if phase != .bless, let base = try? Directory.open(roots.sysroot).openDirectory("bootdeploy"), base.exists("finalize-failed.json") {
                let text = ((try? base.readText("finalize-failed.json")) ?? "").trimmingSpaces
                log.log(.finalizeFailed, "the last finalize failed; the staged update was not installed: \(text.prefix(300))")
            }
            // Software counter: boots that never got as far as blessing count against the deployment.
            if c.backend == .software, let n = c.attempts, n > config.maxAttempts {
                failure = "boot attempts exhausted: \(n) unblessed boots, MaxAttempts=\(config.maxAttempts)"
                log.log(.attemptsExhausted, "\(d): \(failure!)", fields: ["DEPLOYMENT": d.description])
            }
        }

        if phase == .all || phase == .watch, failure == nil || phase == .watch {
            // READY at once: the unit is part of the boot transaction, and startup cannot finish
            // while it waits for us. The decision follows in STATUS=.
            ServiceNotify.ready("waiting for system startup to finish")
            b = try? bus()
            if let b {
                try? b.watch()
                if !waitForStartup(b) {
                    log.log(.startupTimeout, "system startup did not finish within \(config.startupTimeout); checking anyway")
                }
            } else {
                log.log(.startupTimeout, "cannot reach systemd on D-Bus; checking without waiting for startup")
            }
        }

        if failure == nil && (phase == .all || phase == .check) {
            ServiceNotify.status("running checks")
            checks = try runChecks(d)
            for r in checks where r.result == .failed || r.result == .timeout {
                let event: HealthEvent = r.result == .timeout ? .checkTimedOut : .checkFailed
                log.log(event, "\(r.kind.rawValue) check \(r.name) \(r.result == .timeout ? "timed out after \(r.durationMs) ms" : "failed (exit \(r.exitStatus.map(String.init) ?? "signal \(r.signal ?? 0)"))"): \(r.output.suffix(400))",
                        fields: ["CHECK": r.name, "DEPLOYMENT": d.description])
            }
            if let bad = checks.first(where: { $0.kind == .required && ($0.result == .failed || $0.result == .timeout) }) {
                failure = "required check \(bad.name) \(bad.result == .timeout ? "timed out" : "failed")" +
                    (bad.output.isEmpty ? "" : ": " + String(bad.output.split(separator: "\n").last ?? ""))
            }
        }

        if failure == nil && (phase == .all || phase == .watch) && !config.units.isEmpty {
            if let b {
                units = (try? unitResults(b, wait: true)) ?? config.units.map { .init(name: $0.name, activeState: "unknown", result: "failed") }
            } else {
                units = config.units.map { .init(name: $0.name, activeState: "unknown", result: "failed") }
            }
            if let u = units.first(where: { $0.result != "passed" }) {
                failure = "required unit \(u.name) is \(u.activeState) (\(u.result))"
            }
        }

        var decision: Decision
        if let failure {
            decision = try decideBad(d, reason: failure, by: "service", reboot: config.rebootOnFailure, bus: b,
                                     run: .init(phase: phase.rawValue, startedAt: started, finishedAt: wallClockSeconds(),
                                                decision: "marked-bad", reason: failure, checks: checks, units: units))
        } else if phase == .check {
            log.log(.checksPassed, "\(d): all required checks passed", fields: ["DEPLOYMENT": d.description])
            decision = Decision(decision: "none", reason: nil, rebootRequested: false, degraded: false, healthy: true)
            let lock = try takeLock()
            var status = try store.load()
            status.lastRun = .init(phase: phase.rawValue, startedAt: started, finishedAt: wallClockSeconds(), decision: "none",
                                   reason: nil, checks: checks, units: units)
            try store.save(status)
            withExtendedLifetime(lock) {}
        } else if phase == .watch {
            decision = Decision(decision: "none", reason: nil, rebootRequested: false, degraded: false, healthy: true)
        } else {
            if !checks.isEmpty { log.log(.checksPassed, "\(d): all required checks passed", fields: ["DEPLOYMENT": d.description]) }
            decision = try decideGood(d, by: "service", run: .init(phase: phase.rawValue, startedAt: started, finishedAt: wallClockSeconds(),
                                                                   decision: "blessed", reason: nil, checks: checks, units: units))
        }
        ServiceNotify.status("\(d): \(decision.decision)\(decision.reason.map { ": " + $0 } ?? "")")

        // The grace period: a required unit that fails now still fails this boot.
        if decision.healthy, phase == .all || phase == .watch, !config.units.isEmpty, let b {
            let graceEnd = monotonicMicroseconds() + config.gracePeriod.microseconds
            ServiceNotify.status("\(d): \(decision.decision); watching \(config.units.count) unit(s) for \(config.gracePeriod)")
            var states: [String: String] = [:]
            if let reason = watch(b, until: graceEnd, states: &states) {
                log.log(.unitFailedInGrace, "\(d): \(reason)", fields: ["DEPLOYMENT": d.description])
                return try decideBad(d, reason: reason, by: "service", reboot: config.rebootOnFailure, bus: b, run: nil)
            }
            // After the grace period failures are only reported: the boot was good.
            ServiceNotify.status("\(d): \(decision.decision); grace period over, reporting unit failures only")
            while !stopRequested {
                guard let reason = watch(b, until: monotonicMicroseconds() + 3_600_000_000, states: &states) else { continue }
                log.log(.unitFailedAfterGrace, "\(d): \(reason) after the grace period; not rolling back", fields: ["DEPLOYMENT": d.description])
                let lock = try takeLock()
                var status = try store.load()
                status.record(.init(at: wallClockSeconds(), stateroot: d.stateroot, id: d.id, event: "failure-after-grace",
                                    reason: reason, rebootRequested: false, by: "service"))
                try store.save(status)
                withExtendedLifetime(lock) {}
            }
        }
        return decision
    }

    /// Ends the after-grace watch at its next wake-up (tests).
    public func stop() { stopRequested = true }

    func waitForStartup(_ b: SystemdBus) -> Bool {
        ServiceNotify.status("waiting for system startup to finish")
        if let t = try? b.startupFinishedAt(), t > 0 { return true }
        let deadline = monotonicMicroseconds() + config.startupTimeout.microseconds
        while true {
            guard let ev = try? b.nextEvent(until: deadline) else { return false }
            switch ev {
            case .startupFinished: return true
            case .overflow: if let t = try? b.startupFinishedAt(), t > 0 { return true }
            default: continue
            }
        }
    }

    /// The required units' states; with `wait`, units still starting get until their timeout.
    func unitResults(_ b: SystemdBus, wait: Bool) throws -> [HealthStatus.UnitResult] {
        var paths: [String: String] = [:]
        var results: [String: HealthStatus.UnitResult] = [:]
        for u in config.units {
            guard let p = try? b.unitPath(u.name) else {
                results[u.name] = .init(name: u.name, activeState: "not-found", result: "failed")
                continue
            }
            paths[u.name] = p
            let st = (try? b.activeState(path: p)) ?? "unknown"
            results[u.name] = .init(name: u.name, activeState: st, result: st == "active" ? "passed" : (st == "failed" ? "failed" : "timeout"))
        }
        if wait {
            let start = monotonicMicroseconds()
            func pending() -> [RequiredUnit] { config.units.filter { results[$0.name]?.result == "timeout" } }
            while let next = pending().map({ start + $0.timeout.microseconds }).min(), monotonicMicroseconds() < next {
                let ev = try b.nextEvent(until: next)
                for u in pending() {
                    guard let p = paths[u.name] else { continue }
                    var st: String?
                    switch ev {
                    case .unitChanged(let path, let s) where path == p: st = s.isEmpty ? (try? b.activeState(path: p)) : s
                    case .jobRemoved(let unit, _) where unit == u.name: st = try? b.activeState(path: p)
                    case .overflow: st = try? b.activeState(path: p)
                    default: break
                    }
                    if let st {
                        results[u.name] = .init(name: u.name, activeState: st, result: st == "active" ? "passed" : (st == "failed" ? "failed" : "timeout"))
                    }
                }
                if ev == nil { break }
            }
        }
        return config.units.map { results[$0.name]! }
    }

    /// Waits for a required unit to fail, until `deadline`. Returns why, or nil when none failed.
    ///
    /// `states` carries the last ActiveState seen per unit across calls: only a change *into*
    /// `failed` counts, so a unit that stays failed is reported once, not at every wake-up. An
    /// empty `states` is filled first, and a unit already failed then counts at once.
    func watch(_ b: SystemdBus, until deadline: UInt64, states: inout [String: String]) -> String? {
        var paths: [String: String] = [:]
        for u in config.units { if let p = try? b.unitPath(u.name) { paths[p] = u.name } }
        func update(_ name: String, _ path: String, _ reported: String?) -> String? {
            let now = (reported?.isEmpty == false ? reported : nil) ?? ((try? b.activeState(path: path)) ?? "unknown")
            let before = states[name]
            states[name] = now
            return now == "failed" && before != "failed" ? "required unit \(name) failed" : nil
        }
        if states.isEmpty {
            for (p, name) in paths.sorted(by: { $0.value < $1.value }) { if let r = update(name, p, nil) { return r } }
        }
        while !stopRequested {
            guard let ev = try? b.nextEvent(until: deadline) else { return nil }
            switch ev {
            case .unitChanged(let path, let state):
                guard let name = paths[path] else { continue }
                if let r = update(name, path, state) { return r }
            case .jobRemoved(let unit, _):
                guard let p = paths.first(where: { $0.value == unit })?.key else { continue }
                if let r = update(unit, p, nil) { return r }
            case .overflow:
                for (p, name) in paths { if let r = update(name, p, nil) { return r } }
            case .startupFinished:
                continue
            }
        }
        return nil
    }

    // MARK: Decisions

    /// Blesses the booted deployment, records it, runs the green hooks.
    func decideGood(_ d: DeploymentRef, by: String, run: HealthStatus.RunRecord?) throws -> Decision {
        let lock = try takeLock()
        var status = try store.load()
        var c = try counting(d, status)
        noteBoot(d, c, &status)
        let did = try c.bless()
        status.bad.removeAll { $0 == d.description }
        status.state = "good"
        status.degradedReason = nil
        if let run { status.lastRun = run }
        status.record(.init(at: wallClockSeconds(), stateroot: d.stateroot, id: d.id, event: "blessed", reason: by == "manual" ? "marked good by hand" : nil,
                            rebootRequested: false, by: by))
        try store.save(status)
        withExtendedLifetime(lock) {}
        log.log(.blessed, "\(d): boot blessed (\(c.backend.rawValue): \(did))", fields: ["DEPLOYMENT": d.description, "COUNTER": c.backend.rawValue])
        for o in Hooks.run("green", configDirs: roots.configDirs, greenbootDirs: roots.greenbootDirs, timeout: hookTimeout()) where !o.succeeded {
            log.log(o.refusal == nil ? .configWarning : .checkRefused, "green.d hook failed: \(o.tail.suffix(200))")
        }
        return Decision(decision: "blessed", reason: nil, rebootRequested: false, degraded: false, healthy: true)
    }

    /// Marks the booted deployment bad, demotes it, and reboots into something better when there
    /// is something better, the rate limit allows and `reboot` says so.
    func decideBad(_ d: DeploymentRef, reason: String, by: String, reboot: Bool, bus: SystemdBus?,
                   run: HealthStatus.RunRecord?) throws -> Decision {
        var c: BootCounting
        do {
            let lock = try takeLock()
            var status = try store.load()
            c = try counting(d, status)
            noteBoot(d, c, &status)
            let did = try c.markBad()
            if !status.bad.contains(d.description) { status.bad.append(d.description) }
            // A grace-period failure amends the service's own run; a manual mark-bad is history only.
            if let run { status.lastRun = run } else if by == "service", var last = status.lastRun {
                last.decision = "marked-bad"
                last.reason = reason
                status.lastRun = last
            }
            status.state = "bad"
            try store.save(status)
            withExtendedLifetime(lock) {}
            log.log(.markedBad, "\(d): marked bad: \(reason) (\(c.backend.rawValue): \(did))",
                    fields: ["DEPLOYMENT": d.description, "REASON": reason, "COUNTER": c.backend.rawValue])
        }
        // The deployment layer takes the sysroot lock itself for its transaction.
        do {
            try ordering.demote(stateroot: d.stateroot, id: d.id)
        } catch {
            log.warn("\(d): could not demote in the boot order: \(error)")
        }
        let ordered = (try? ordering.orderedDeployments()) ?? []
        let lock = try takeLock()
        var status = try store.load()
        let now = wallClockSeconds()
        let better = ordered.filter { $0.key != d.description && $0.state != .bad && !status.bad.contains($0.key) }
        var rebootRequested = false
        var degraded = false
        var event = "marked-bad"
        if better.isEmpty {
            degraded = true
            event = "degraded"
            status.state = "degraded"
            status.degradedReason = "every deployment has failed (\(reason)); staying up, not rebooting"
            log.log(.degraded, "\(d): no other deployment is good: staying up degraded, no reboot", fields: ["DEPLOYMENT": d.description, "REASON": reason])
        } else {
            status.state = "bad"
            if reboot {
                let recent = status.reboots.filter { now - $0 < Int64(config.rebootLimitInterval.seconds) }
                if by == "service" && recent.count >= config.rebootLimitBurst {
                    event = "reboot-rate-limited"
                    log.log(.rebootRateLimited, "\(d): \(recent.count) automatic reboots within \(config.rebootLimitInterval): not rebooting again",
                            fields: ["DEPLOYMENT": d.description])
                } else {
                    rebootRequested = true
                    event = "rollback"
                    if by == "service" { status.reboots = recent + [now] }
                }
            }
        }
        status.record(.init(at: now, stateroot: d.stateroot, id: d.id, event: event, reason: reason, rebootRequested: rebootRequested, by: by))
        try store.save(status)
        withExtendedLifetime(lock) {}
        for o in Hooks.run("red", configDirs: roots.configDirs, greenbootDirs: roots.greenbootDirs, timeout: hookTimeout()) where !o.succeeded {
            log.log(o.refusal == nil ? .configWarning : .checkRefused, "red.d hook failed: \(o.tail.suffix(200))")
        }
        if rebootRequested {
            let target = better.first.map(\.key) ?? "?"
            log.log(.rebootRequested, "\(d): rebooting into \(target)", fields: ["DEPLOYMENT": d.description, "NEXT": target])
            do {
                try (bus ?? self.bus()).requestReboot()
            } catch {
                log.warn("\(d): reboot request failed: \(error)")
                throw HealthError.refused("marked \(d) bad, but the reboot request failed: \(error)")
            }
        }
        return Decision(decision: degraded ? "degraded" : "marked-bad", reason: reason, rebootRequested: rebootRequested,
                        degraded: degraded, healthy: false)
    }

    // MARK: By hand

    /// Blesses by hand (`by: "manual"`), or as the bless unit after boot-complete.target (`"service"`).
    public func markGood(by: String = "manual") throws -> Decision {
        try decideGood(try identifyBooted(verb: by == "manual" ? "mark-good" : "run --phase bless", phase: by == "manual" ? nil : .bless),
                       by: by, run: nil)
    }

    public func markBad(reason: String?, reboot: Bool) throws -> Decision {
        try decideBad(try identifyBooted(verb: "mark-bad"), reason: SafeText.escape(reason ?? "marked bad by hand"), by: "manual", reboot: reboot, bus: nil, run: nil)
    }

    // MARK: status

    public func statusReport() throws -> StatusReport {
        let record = try store.load()
        var warnings: [String] = []
        var live: StatusReport.Live?
        do {
            let d = try knownBootedDeployment()
            do {
                let c = try counting(d, record)
                let f = c.counterFields
                live = .init(stateroot: d.stateroot, id: d.id, counter: c.backend.rawValue, entry: c.entryName,
                             state: c.state(badList: record.bad).rawValue, triesLeft: f.left, triesDone: f.done, attempts: c.attempts)
            } catch {
                warnings.append("booted deployment \(d): \(error)")
            }
        } catch {
            warnings.append("booted deployment unknown, nothing judged: \(error)")
        }
        var deployments: [StatusReport.Deployment] = []
        do {
            let ordered = try ordering.orderedDeployments()
            for (i, o) in ordered.enumerated() {
                let state = record.bad.contains(o.key) ? "bad" : o.state.rawValue
                deployments.append(.init(stateroot: o.stateroot, id: o.id, entry: o.entryFileName, state: state, isDefault: i == 0))
            }
        } catch {
            warnings.append("boot order: \(error)")
        }
        var finalize: JSONValue?
        if let base = try? Directory.open(roots.sysroot).openDirectory("bootdeploy"), base.exists("finalize-failed.json") {
            do {
                finalize = try JSONDecoder().decode(JSONValue.self, from: Data(try base.readFile("finalize-failed.json")))
            } catch {
                finalize = .string("unreadable: \(error)")
            }
        }
        return StatusReport(booted: live, deployments: deployments, record: record, finalizeFailed: finalize, warnings: warnings)
    }
}
