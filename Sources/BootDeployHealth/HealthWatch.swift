import BootDeploySystem

/// Waiting on systemd over D-Bus: for startup to finish, for the required units to settle, and
/// for a required unit to fail during (and after) the grace period. It decides nothing: it
/// reports unit states and failures to `HealthService`, which asks `HealthPolicy`.
struct HealthWatch {
    let bus: SystemdBus
    let units: [RequiredUnit]
    let startupTimeout: TimeSpan
    /// Polled between events: ends `watch` (tests stop the after-grace watch through it).
    let stopped: () -> Bool

    /// Waits for system startup to finish; false when it did not within `startupTimeout`.
    func waitForStartup() -> Bool {
        ServiceNotify.status("waiting for system startup to finish")
        if let t = try? bus.startupFinishedAt(), t > 0 { return true }
        let deadline = monotonicMicroseconds() + startupTimeout.microseconds
        while true {
            guard let ev = try? bus.nextEvent(until: deadline) else { return false }
            switch ev {
            case .startupFinished: return true
            case .overflow: if let t = try? bus.startupFinishedAt(), t > 0 { return true }
            default: continue
            }
        }
    }

    static func unitResult(_ name: String, _ st: String) -> HealthStatus.UnitResult {
        .init(name: name, activeState: st, result: .known(st == "active" ? .passed : (st == "failed" ? .failed : .timeout)))
    }

    /// What every required unit counts as when systemd cannot be asked.
    static func unknown(_ units: [RequiredUnit]) -> [HealthStatus.UnitResult] {
        units.map { .init(name: $0.name, activeState: "unknown", result: .known(.failed)) }
    }

    /// The required units' states; with `wait`, units still starting get until their timeout.
    func unitResults(wait: Bool) throws -> [HealthStatus.UnitResult] {
        var paths: [String: String] = [:]
        var results: [String: HealthStatus.UnitResult] = [:]
        for u in units {
            guard let p = try? bus.unitPath(u.name) else {
                results[u.name] = .init(name: u.name, activeState: "not-found", result: .known(.failed))
                continue
            }
            paths[u.name] = p
            results[u.name] = Self.unitResult(u.name, (try? bus.activeState(path: p)) ?? "unknown")
        }
        if wait {
            let start = monotonicMicroseconds()
            func pending() -> [RequiredUnit] { units.filter { results[$0.name]?.result.value == .timeout } }
            while let next = pending().map({ start + $0.timeout.microseconds }).min(), monotonicMicroseconds() < next {
                let ev = try bus.nextEvent(until: next)
                for u in pending() {
                    guard let p = paths[u.name] else { continue }
                    var st: String?
                    switch ev {
                    case .unitChanged(let path, let s) where path == p: st = s.isEmpty ? (try? bus.activeState(path: p)) : s
                    case .jobRemoved(let unit, _) where unit == u.name: st = try? bus.activeState(path: p)
                    case .overflow: st = try? bus.activeState(path: p)
                    default: break
                    }
                    if let st { results[u.name] = Self.unitResult(u.name, st) }
                }
                if ev == nil { break }
            }
        }
        return units.map { results[$0.name]! }
    }

    /// Waits for a required unit to fail, until `deadline`. Returns why, or nil when none failed.
    ///
    /// `states` carries the last ActiveState seen per unit across calls: only a change *into*
    /// `failed` counts, so a unit that stays failed is reported once, not at every wake-up. An
    /// empty `states` is filled first, and a unit already failed then counts at once.
    func watch(until deadline: UInt64, states: inout [String: String]) -> String? {
        var paths: [String: String] = [:]
        for u in units { if let p = try? bus.unitPath(u.name) { paths[p] = u.name } }
        func update(_ name: String, _ path: String, _ reported: String?) -> String? {
            let now = (reported?.isEmpty == false ? reported : nil) ?? ((try? bus.activeState(path: path)) ?? "unknown")
            let before = states[name]
            states[name] = now
            return now == "failed" && before != "failed" ? "required unit \(name) failed" : nil
        }
        if states.isEmpty {
            for (p, name) in paths.sorted(by: { $0.value < $1.value }) { if let r = update(name, p, nil) { return r } }
        }
        while !stopped() {
            guard let ev = try? bus.nextEvent(until: deadline) else { return nil }
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
}
