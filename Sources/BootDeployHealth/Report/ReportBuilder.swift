import BootDeployEarlyBoot
import BootDeploy

/// What a report is made of, gathered by the caller (the command reads files and asks the
/// deployment layer); `HealthReport.build` turns it into the document without any I/O.
public struct ReportFacts: Sendable {
    /// boot-health's own view: the live counter, the boot order, the persistent record.
    public var health: StatusReport
    /// boot-deploy's status (staged deployment, versions); nil when it could not be read.
    public var deploy: BootStatus?
    /// Why `deploy` is nil.
    public var deployError: String?
    public var now: Int64
    /// Start of the window (seconds since the epoch); nil = the whole history.
    public var since: Int64?
    public var machineID: String?
    public var bootID: String?

    public init(health: StatusReport, deploy: BootStatus?, deployError: String? = nil, now: Int64, since: Int64? = nil,
                machineID: String? = nil, bootID: String? = nil) {
        self.health = health
        self.deploy = deploy
        self.deployError = deployError
        self.now = now
        self.since = since
        self.machineID = machineID
        self.bootID = bootID
    }
}

extension HealthReport {
    /// The report for `facts`. Pure: the same facts give the same document.
    public static func build(_ facts: ReportFacts) -> HealthReport {
        let record = facts.health.record
        var warnings = facts.health.warnings
        if let e = facts.deployError { warnings.append("boot-deploy status: \(e)") }
        warnings += (facts.deploy?.problems ?? []).map { "boot-deploy: \($0)" }

        // boot-deploy knows versions and the staged deployment, but only deployments with records,
        // and the booted one only from prepare-root's booted.json; boot-health knows the booted one
        // from the command line and orders entries without records. Each role from the first that knows.
        let fromDeploy = facts.deploy.map { rolesOf($0, bad: record.badDeployments) }
        let fromHealth = rolesOf(facts.health)
        let roles = Roles(booted: fromDeploy?.booted ?? fromHealth.booted, default: fromDeploy?.default ?? fromHealth.default,
                          staged: fromDeploy?.staged,
                          rollback: fromDeploy?.default != nil ? fromDeploy?.rollback : fromHealth.rollback)
        let (state, stateWarning) = healthState(facts)
        if let stateWarning { warnings.append(stateWarning) }
        let live = facts.health.booted
        let health = Health(state: state, degradedReason: state == .degraded ? record.degradedReason : nil, counter: live?.counter,
                            triesLeft: live?.triesLeft, triesDone: live?.triesDone, attempts: live?.attempts, bad: record.bad)

        let lastDecision = record.history.last { $0.event.value?.isDecision ?? true }
        let finalize = facts.deploy?.finalizeFailure ?? facts.health.finalizeFailed.map { "finalize failed: \($0.compact)" }
        return HealthReport(generatedAt: facts.now, machineID: facts.machineID, bootID: facts.bootID, deployments: roles,
                            health: health, lastDecision: lastDecision, lastRun: record.lastRun,
                            window: window(record, since: facts.since), totals: record.effectiveTotals,
                            finalizeFailure: finalize, warnings: warnings)
    }

    /// The record speaks about this boot only when it noted this boot (same deployment, same
    /// boot ID); otherwise its state is the previous boot's, and this one is not judged yet.
    static func healthState(_ facts: ReportFacts) -> (HealthState, String?) {
        let record = facts.health.record
        guard let live = facts.health.booted, let seen = record.booted,
              seen.stateroot == live.stateroot, seen.id == live.id else { return (.unknown, nil) }
        if let now = facts.bootID, let then = seen.bootID, now != then { return (.unknown, nil) }
        guard let s = record.state.value else {
            return (.unknown, "the status record's state \"\(record.state)\" is not one this boot-health knows")
        }
        return (s, nil)
    }

    static func rolesOf(_ s: BootStatus, bad: Set<DeploymentName>) -> Roles {
        func isBad(_ d: BootStatus.Deployment) -> Bool { bad.contains(DeploymentName(stateroot: d.stateroot, id: d.id)) }
        func ref(_ d: BootStatus.Deployment) -> Deployment {
            return Deployment(stateroot: d.stateroot, id: d.id, version: d.version, entry: d.entry,
                                 state: isBad(d) ? .bad : d.state.flatMap { DeploymentHealth(rawValue: $0.rawValue) },
                                 triesLeft: d.triesLeft, triesDone: d.triesDone)
        }
        let ordered = s.deployments.filter { $0.index != nil }.sorted { $0.index! < $1.index! }
        // The record's bad list counts too: a counter that cannot say "bad" (grubenv, none) must
        // not make a failed deployment the rollback target.
        let rollback = ordered.dropFirst().first { $0.state != .bad && !isBad($0) }
        return Roles(booted: s.deployments.first { $0.booted }.map(ref),
                     default: ordered.first.map(ref),
                     staged: s.deployments.first { $0.staged }.map(ref),
                     rollback: rollback.map(ref))
    }

    /// Without boot-deploy's status (no records on this sysroot): boot-health's own order.
    static func rolesOf(_ h: StatusReport) -> Roles {
        func ref(_ d: StatusReport.Deployment) -> Deployment {
            let f = d.entry.flatMap { EntryFileName($0)?.counter }
            return Deployment(stateroot: d.stateroot, id: d.id, version: nil, entry: d.entry, state: d.state,
                                 triesLeft: f?.left, triesDone: f?.done)
        }
        let booted = h.booted.map {
            Deployment(stateroot: $0.stateroot, id: $0.id, version: nil, entry: $0.entry, state: $0.state,
                          triesLeft: $0.triesLeft, triesDone: $0.triesDone)
        }
        return Roles(booted: booted, default: h.deployments.first.map(ref), staged: nil,
                     rollback: h.deployments.dropFirst().first { $0.state != .bad }.map(ref))
    }

    static func window(_ record: HealthStatus, since: Int64?) -> Window {
        let events = record.history.filter { since == nil || $0.at >= since! }
        func count(_ k: HealthEventKind) -> Int { events.filter { $0.event == k }.count }
        // A full history may have dropped older events; the window is whole only if it starts
        // after the oldest event kept.
        let full = record.history.count >= HealthStatus.historyLimit
        let complete = !full || (since.map { s in record.history.first.map { $0.at < s } ?? true } ?? false)
        return Window(from: since, complete: complete, rollbacks: count(.rollback), finalizeFailures: count(.finalizeFailed),
                      markedBad: count(.markedBad) + count(.rollback) + count(.degraded) + count(.rebootRateLimited),
                      blessed: count(.blessed), events: events)
    }
}
