import BootDeploySystem
import Glibc

/// Whether a failing check fails the boot (`required.d/`) or only warns (`wanted.d/`).
public enum CheckKind: String, Sendable, Codable, Equatable { case required, wanted }

/// One executable check found in a check directory.
public struct CheckSpec: Sendable, Equatable {
    public var name: String
    public var path: String
    public var kind: CheckKind
}

/// What happened to one check; the shape is part of the status schema (docs/HEALTH.md).
public struct CheckResult: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable, Equatable { case passed, failed, timeout, skipped }
    public var name: String
    public var kind: CheckKind
    public var path: String
    public var result: Outcome
    public var exitStatus: Int32?
    public var signal: Int32?
    public var durationMs: UInt64
    public var output: String
}

/// Finds and runs the check executables.
///
/// Directories, highest priority first: each config dir's `check/<kind>.d/` (so `/etc/boot-health`
/// masks `/usr/lib/boot-health`), then greenboot's `check/<kind>.d/` so that greenboot users move over
/// unchanged. A name found twice runs once, from the first directory. Within a kind, checks run in
/// name order.
public struct CheckSet: Sendable {
    public var checks: [CheckSpec]

    public static func discover(configDirs: [String], greenbootDirs: [String]) -> CheckSet {
        var found: [CheckSpec] = []
        for kind in [CheckKind.required, .wanted] {
            var seen: [String: CheckSpec] = [:]
            for base in configDirs + greenbootDirs {
                let dir = base + "/check/" + kind.rawValue + ".d"
                guard let d = try? Directory.open(dir), let names = try? d.entries() else { continue }
                for name in names where seen[name] == nil && !name.hasPrefix(".") {
                    guard let st = try? d.status(name, followLinks: true), st.st_mode & S_IFMT == S_IFREG,
                          st.st_mode & 0o111 != 0 else { continue }
                    seen[name] = CheckSpec(name: name, path: dir + "/" + name, kind: kind)
                }
            }
            found += seen.values.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
        return CheckSet(checks: found)
    }

    /// Runs the required checks one after the other, stopping at the first failure (fail fast), then
    /// the wanted ones side by side. Every check is bounded by `timeout` and by what is left of
    /// `totalTimeout`; a check that would start after the total deadline is recorded as skipped.
    public func run(timeout: TimeSpan, totalTimeout: TimeSpan) -> [CheckResult] {
        let start = monotonicMicroseconds()
        let totalDeadline = start + totalTimeout.microseconds
        var results: [CheckResult] = []
        var failed = false
        for check in checks where check.kind == .required {
            let now = monotonicMicroseconds()
            if failed || now >= totalDeadline {
                results.append(skipped(check, why: failed ? "not run: an earlier required check failed" : "not run: TotalTimeout= reached"))
                continue
            }
            let outcome = ProcessRunner.run([ProcessJob(path: check.path, deadline: min(now + timeout.microseconds, totalDeadline))])[0]
            let r = result(check, outcome)
            if r.result != .passed { failed = true }
            results.append(r)
        }
        let wanted = checks.filter { $0.kind == .wanted }
        if failed {
            results += wanted.map { skipped($0, why: "not run: a required check failed") }
        } else if !wanted.isEmpty {
            let now = monotonicMicroseconds()
            let deadline = min(now + timeout.microseconds, totalDeadline)
            let outcomes = now >= totalDeadline ? [] : ProcessRunner.run(wanted.map { ProcessJob(path: $0.path, deadline: deadline) })
            for (i, check) in wanted.enumerated() {
                results.append(i < outcomes.count ? result(check, outcomes[i]) : skipped(check, why: "not run: TotalTimeout= reached"))
            }
        }
        return results
    }

    private func skipped(_ c: CheckSpec, why: String) -> CheckResult {
        CheckResult(name: c.name, kind: c.kind, path: c.path, result: .skipped, exitStatus: nil, signal: nil, durationMs: 0, output: why)
    }

    private func result(_ c: CheckSpec, _ o: ProcessOutcome) -> CheckResult {
        let outcome: CheckResult.Outcome = o.timedOut ? .timeout : (o.succeeded ? .passed : .failed)
        return CheckResult(name: c.name, kind: c.kind, path: c.path, result: outcome, exitStatus: o.exitStatus,
                           signal: o.signal, durationMs: o.durationMicroseconds / 1000, output: o.tail)
    }
}

/// Runs the `green.d/` or `red.d/` hooks after a decision; their failures are logged, never acted on.
enum Hooks {
    static func run(_ which: String, configDirs: [String], greenbootDirs: [String], timeout: TimeSpan) -> [ProcessOutcome] {
        var seen: [String: String] = [:]
        for base in configDirs + greenbootDirs {
            let dir = base + "/" + which + ".d"
            guard let d = try? Directory.open(dir), let names = try? d.entries() else { continue }
            for name in names where seen[name] == nil && !name.hasPrefix(".") {
                guard let st = try? d.status(name, followLinks: true), st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o111 != 0 else { continue }
                seen[name] = dir + "/" + name
            }
        }
        var out: [ProcessOutcome] = []
        for name in seen.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            out += ProcessRunner.run([ProcessJob(path: seen[name]!, deadline: monotonicMicroseconds() + timeout.microseconds)])
        }
        return out
    }
}
