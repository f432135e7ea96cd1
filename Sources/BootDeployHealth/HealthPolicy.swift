import BootDeployEarlyBoot

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

/// boot-health's judgement, with no input or output of its own: facts in (check results, unit
/// states, the counter, the record, the reboot history, the configuration), a typed decision out.
/// `HealthService` gathers the facts and carries the decision out; tests drive this directly.
enum HealthPolicy {
    /// What the service does next.
    public enum Decision: Sendable, Equatable {
        /// Bless the booted deployment (its counter, the record, the green hooks).
        case bless
        /// Mark the booted deployment bad, then ask `afterBad` what follows.
        case markBad(reason: String)
        /// Change nothing; `healthy` says whether this boot still looks good.
        case nothing(reason: String?, healthy: Bool)
        /// Go on: the next step of the phase has to run before anything can be decided.
        case wait(next: Step)
    }

    /// What follows a deployment marked bad (it is always moved out of first place first).
    public enum Consequence: Sendable, Equatable {
        /// Reboot into `target`, the best deployment not known bad.
        case reboot(into: DeploymentName)
        /// Every deployment has failed: stay up degraded, never reboot.
        case demote(degradedReason: String)
        /// Rebooting was asked for, but the automatic reboots of the last interval reached the burst.
        case rateLimited(recent: Int)
        /// Marked bad and demoted; no reboot was asked for.
        case stay
    }

    /// The facts a run gathers on the policy's demand, in this order.
    public enum Step: String, Sendable, Equatable {
        /// Run the check executables (phases `all` and `check`).
        case checks
        /// Read (and wait for) the required units' states (phases `all` and `watch`).
        case units
    }

    /// The facts `judge` decides on; `nil` for a step that did not run.
    public struct Facts: Sendable, Equatable {
        public var phase: RunPhase
        /// The state this boot already has in the record (`bad`/`degraded` end a watch phase).
        public var recordedState: Recorded<HealthState>
        public var counter: BootCounting.Backend
        /// Unblessed boots counted by the software counter.
        public var attempts: Int?
        public var maxAttempts: Int
        public var checks: [CheckResult]?
        public var units: [HealthStatus.UnitResult]?
        public var requiredUnits: Int
        public init(phase: RunPhase, recordedState: Recorded<HealthState> = .known(.checking), counter: BootCounting.Backend, attempts: Int? = nil,
                    maxAttempts: Int, checks: [CheckResult]? = nil, units: [HealthStatus.UnitResult]? = nil, requiredUnits: Int = 0) {
            self.phase = phase; self.recordedState = recordedState; self.counter = counter; self.attempts = attempts
            self.maxAttempts = maxAttempts; self.checks = checks; self.units = units; self.requiredUnits = requiredUnits
        }
    }

    /// A watch phase in a boot already judged has nothing left to do.
    public static func alreadyJudged(phase: RunPhase, recordedState: Recorded<HealthState>) -> Decision? {
        guard phase == .watch, recordedState == .bad || recordedState == .degraded else { return nil }
        return .nothing(reason: "already marked \(recordedState) in this boot", healthy: false)
    }

    /// Software counter: boots that never got as far as blessing count against the deployment.
    /// Any other counter, or no attempts known, never exhausts.
    public static func exhausted(counter: BootCounting.Backend, attempts: Int?, maxAttempts: Int) -> String? {
        guard counter == .software, let n = attempts, n > maxAttempts else { return nil }
        return "boot attempts exhausted: \(n) unblessed boots, MaxAttempts=\(maxAttempts)"
    }

    /// Whether the run waits for system startup (a failure already known only waits in `watch`).
    public static func waitsForStartup(phase: RunPhase, failure: String?) -> Bool {
        (phase == .all || phase == .watch) && (failure == nil || phase == .watch)
    }

    /// The first required check that failed or timed out, as a reason.
    public static func checkFailure(_ checks: [CheckResult]) -> String? {
        guard let bad = checks.first(where: { $0.kind == .required && ($0.result == .failed || $0.result == .timeout) }) else { return nil }
        return "required check \(bad.name) \(bad.result == .timeout ? "timed out" : "failed")" +
            (bad.output.isEmpty ? "" : ": " + String(bad.output.split(separator: "\n").last ?? ""))
    }

    /// The first required unit not active, as a reason.
    public static func unitFailure(_ units: [HealthStatus.UnitResult]) -> String? {
        units.first(where: { $0.result != .passed }).map { "required unit \($0.name) is \($0.activeState) (\($0.result))" }
    }

    /// The decision for a run with the facts gathered so far: `.wait(next:)` names the step whose
    /// result is still missing; every other case is final.
    public static func judge(_ f: Facts) -> Decision {
        if let done = alreadyJudged(phase: f.phase, recordedState: f.recordedState) { return done }
        if let r = exhausted(counter: f.counter, attempts: f.attempts, maxAttempts: f.maxAttempts) { return .markBad(reason: r) }
        if f.phase == .all || f.phase == .check {
            guard let checks = f.checks else { return .wait(next: .checks) }
            if let r = checkFailure(checks) { return .markBad(reason: r) }
        }
        if (f.phase == .all || f.phase == .watch) && f.requiredUnits > 0 {
            guard let units = f.units else { return .wait(next: .units) }
            if let r = unitFailure(units) { return .markBad(reason: r) }
        }
        switch f.phase {
        case .check, .watch: return .nothing(reason: nil, healthy: true)
        case .all, .bless: return .bless
        }
    }

    /// Whether the grace period is watched after the decision.
    public static func watchesGrace(phase: RunPhase, healthy: Bool, requiredUnits: Int) -> Bool {
        healthy && (phase == .all || phase == .watch) && requiredUnits > 0
    }

    /// What follows marking `deployment` bad. `ordered` is the boot order after demotion, `bad` the
    /// deployments the record knows bad, `reboots` the times of earlier automatic reboots.
    /// A manual mark-bad (`by: .manual`) is not rate limited and does not count as automatic.
    public static func afterBad(deployment: DeploymentName, reason: String, ordered: [OrderedDeployment], bad: Set<DeploymentName>,
                                reboot: Bool, by: DecidedBy, reboots: [Int64], now: Int64,
                                limitInterval: TimeSpan, limitBurst: Int) -> Consequence {
        let better = ordered.filter { $0.deployment != deployment && $0.state != .bad && !bad.contains($0.deployment) }
        guard let target = better.first else {
            return .demote(degradedReason: "every deployment has failed (\(reason)); staying up, not rebooting")
        }
        guard reboot else { return .stay }
        let recent = recentReboots(reboots, now: now, interval: limitInterval)
        if by == .service && recent.count >= limitBurst { return .rateLimited(recent: recent.count) }
        return .reboot(into: target.deployment)
    }

    /// The automatic reboots within the rate-limit interval before `now`.
    public static func recentReboots(_ reboots: [Int64], now: Int64, interval: TimeSpan) -> [Int64] {
        reboots.filter { now - $0 < Int64(interval.seconds) }
    }

    /// The history event that records a consequence.
    public static func event(_ c: Consequence) -> HealthEventKind {
        switch c {
        case .reboot: return .rollback
        case .demote: return .degraded
        case .rateLimited: return .rebootRateLimited
        case .stay: return .markedBad
        }
    }
}
