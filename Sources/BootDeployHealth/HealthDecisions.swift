import BootDeployEarlyBoot
import BootDeploy
import BootDeploySystem

/// What `run`, `mark-good` and `mark-bad` decided, as the commands report it (`HealthPolicy.Decision` is
/// the policy's choice; this is what came of carrying it out).
public struct HealthVerdict: Sendable, Equatable {
    public var decision: String
    public var reason: String?
    public var rebootRequested: Bool
    public var degraded: Bool
    public var healthy: Bool
}

/// Carrying out `HealthPolicy`'s decisions: the counter, the record, the boot order, the hooks,
/// the reboot. Nothing here decides; `HealthPolicy.afterBad` says what follows a bad boot.
extension HealthService {
    /// Blesses the booted deployment, records it, runs the green hooks.
    func decideGood(_ d: DeploymentName, by: DecidedBy, run: HealthStatus.RunRecord?) throws -> HealthVerdict {
        let lock = try takeLock()
        var status = try store.load()
        var c = try counting(d, status)
        noteBoot(d, c, &status)
        let did = try c.bless()
        status.bad.removeAll { $0 == d.description }
        status.state = .known(.good)
        status.degradedReason = nil
        if let run { status.lastRun = run }
        status.record(.init(at: wallClockSeconds(), stateroot: d.stateroot, id: d.id, event: .known(.blessed), reason: by == .manual ? "marked good by hand" : nil,
                            rebootRequested: false, by: .known(by)))
        try store.save(status)
        withExtendedLifetime(lock) {}
        log.log(.blessed, "\(d): boot blessed (\(c.backend.rawValue): \(did))", fields: ["DEPLOYMENT": d.description, "COUNTER": c.backend.rawValue])
        runHooks("green")
        return HealthVerdict(decision: "blessed", reason: nil, rebootRequested: false, degraded: false, healthy: true)
    }

    func runHooks(_ kind: String) {
        for o in Hooks.run(kind, configDirs: roots.configDirs, greenbootDirs: roots.greenbootDirs, timeout: hookTimeout()) where !o.succeeded {
            log.log(o.refusal == nil ? .configWarning : .checkRefused, "\(kind).d hook failed: \(o.tail.suffix(200))")
        }
    }

    /// Marks the booted deployment bad, demotes it, and reboots into something better when there
    /// is something better, the rate limit allows and `reboot` says so.
    func decideBad(_ d: DeploymentName, reason: String, by: DecidedBy, reboot: Bool, bus: SystemdBus?,
                   run: HealthStatus.RunRecord?) throws -> HealthVerdict {
        do {
            let lock = try takeLock()
            var status = try store.load()
            var c = try counting(d, status)
            noteBoot(d, c, &status)
            let did = try c.markBad()
            if !status.bad.contains(d.description) { status.bad.append(d.description) }
            // A grace-period failure amends the service's own run; a manual mark-bad is history only.
            if let run { status.lastRun = run } else if by == .service, var last = status.lastRun {
                last.decision = .known(.markedBad)
                last.reason = reason
                status.lastRun = last
            }
            status.state = .known(.bad)
            try store.save(status)
            withExtendedLifetime(lock) {}
            log.log(.markedBad, "\(d): marked bad: \(reason) (\(c.backend.rawValue): \(did))",
                    fields: ["DEPLOYMENT": d.description, "REASON": reason, "COUNTER": c.backend.rawValue])
        }
        // The deployment layer takes the sysroot lock itself for its transaction.
        do {
            try ordering.demote(d)
        } catch {
            log.warn("\(d): could not demote in the boot order: \(error)")
        }
        let ordered: [OrderedDeployment]
        do { ordered = try ordering.orderedDeployments() } catch {
            // With no order known nothing counts as left to boot: degraded, no reboot.
            log.warn("\(d): cannot read the boot order: \(error)")
            ordered = []
        }
        let lock = try takeLock()
        var status = try store.load()
        let now = wallClockSeconds()
        let next = HealthPolicy.afterBad(deployment: d, reason: reason, ordered: ordered, bad: status.badDeployments,
                                         reboot: reboot, by: by, reboots: status.reboots, now: now,
                                         limitInterval: config.rebootLimitInterval, limitBurst: config.rebootLimitBurst)
        status.state = .known(.bad)
        switch next {
        case .demote(let why):
            status.state = .known(.degraded)
            status.degradedReason = why
            log.log(.degraded, "\(d): no other deployment is good: staying up degraded, no reboot", fields: ["DEPLOYMENT": d.description, "REASON": reason])
        case .rateLimited(let recent):
            log.log(.rebootRateLimited, "\(d): \(recent) automatic reboots within \(config.rebootLimitInterval): not rebooting again",
                    fields: ["DEPLOYMENT": d.description])
        case .reboot:
            if by == .service {
                status.reboots = HealthPolicy.recentReboots(status.reboots, now: now, interval: config.rebootLimitInterval) + [now]
            }
        case .stay:
            break
        }
        var rebootTarget: DeploymentName?
        if case .reboot(let target) = next { rebootTarget = target }
        status.record(.init(at: now, stateroot: d.stateroot, id: d.id, event: .known(HealthPolicy.event(next)), reason: reason,
                            rebootRequested: rebootTarget != nil, by: .known(by)))
        try store.save(status)
        withExtendedLifetime(lock) {}
        runHooks("red")
        if let target = rebootTarget {
            log.log(.rebootRequested, "\(d): rebooting into \(target)", fields: ["DEPLOYMENT": d.description, "NEXT": target.description])
            do {
                try (bus ?? self.bus()).requestReboot()
            } catch {
                log.warn("\(d): reboot request failed: \(error)")
                throw HealthError.refused("marked \(d) bad, but the reboot request failed: \(error)")
            }
        }
        let degraded: Bool
        if case .demote = next { degraded = true } else { degraded = false }
        return HealthVerdict(decision: degraded ? "degraded" : "marked-bad", reason: reason, rebootRequested: rebootTarget != nil,
                        degraded: degraded, healthy: false)
    }
}
