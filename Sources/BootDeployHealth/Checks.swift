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
/// `name`, `path` and `output` are escaped (SafeText): they come from outside.
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
    /// Set when the check was not run because of its owner, its mode or a directory on its path
    /// (result `failed`): why.
    public var refusal: String?
}

/// Finds and runs the check executables.
///
/// Directories, highest priority first: each config dir's `check/<kind>.d/` (so `/etc/boot-health`
/// masks `/usr/lib/boot-health`), then greenboot's `check/<kind>.d/` so that greenboot users move over
/// unchanged. A name is claimed by the first directory that has it, whatever it is there: an
/// executable runs; `/dev/null`, an empty or a non-executable file masks it (nothing of that name
/// runs); a subdirectory is ignored. Within a kind, checks run in name order.
public struct CheckSet: Sendable {
    public var checks: [CheckSpec]

    public static func discover(configDirs: [String], greenbootDirs: [String]) throws -> CheckSet {
        var found: [CheckSpec] = []
        for kind in [CheckKind.required, .wanted] {
            for (name, path) in try claimedNames(configDirs.map { $0 + "/check/" + kind.rawValue + ".d" }
                                                  + greenbootDirs.map { $0 + "/check/" + kind.rawValue + ".d" }) {
                switch CheckFile.open(path) {
                case .runnable(let fd): close(fd); found.append(CheckSpec(name: name, path: path, kind: kind))
                case .masked, .ignored: continue
                // Judged again when it would start: it ends as a refused or failed check there.
                case .refused, .broken, .exhausted: found.append(CheckSpec(name: name, path: path, kind: kind))
                }
            }
        }
        return CheckSet(checks: found)
    }

    /// Every non-hidden name of `dirs` (highest priority first) with the path of its first
    /// occurrence, in name order. A directory that does not exist has no names; one that cannot be
    /// read is an error (its checks would otherwise vanish without a word).
    static func claimedNames(_ dirs: [String]) throws -> [(String, String)] {
        var claimed: [String: String] = [:]
        for dir in dirs {
            guard let names = try ConfigFiles.listIfPresent(dir) else { continue }
            for name in names where claimed[name] == nil && !name.hasPrefix(".") { claimed[name] = dir + "/" + name }
        }
        return claimed.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { ($0, claimed[$0]!) }
    }

    /// Runs the required checks one after the other, stopping at the first failure (fail fast), then
    /// the wanted ones side by side, at most `parallelism` at once. Every check is bounded by
    /// `timeout` from its own start and by `totalTimeout` from the start of the run; a check that
    /// would start after that is recorded as skipped.
    public func run(timeout: TimeSpan, totalTimeout: TimeSpan, parallelism: Int = 8) -> [CheckResult] {
        execute(timeout: timeout, totalTimeout: totalTimeout, parallelism: parallelism).results
    }

    /// `run`, and the name of a required check that could not be started for want of descriptors or
    /// processes (then the boot cannot be judged).
    func execute(timeout: TimeSpan, totalTimeout: TimeSpan, parallelism: Int) -> (results: [CheckResult], shortage: String?) {
        let totalDeadline = monotonicMicroseconds() &+ totalTimeout.microseconds
        var results: [CheckResult] = []
        var failed = false
        var shortage: String?
        for check in checks where check.kind == .required {
            if failed {
                results.append(skipped(check, why: "not run: an earlier required check failed"))
                continue
            }
            let o = ProcessRunner.run([ProcessJob(path: check.path, timeout: timeout.microseconds)], notAfter: totalDeadline)[0]
            if o.exhausted { shortage = shortage ?? "\(check.name): \(o.tail)" }
            let r = result(check, o)
            if r.result != .passed { failed = true }
            results.append(r)
        }
        let wanted = checks.filter { $0.kind == .wanted }
        if failed {
            results += wanted.map { skipped($0, why: "not run: a required check failed") }
        } else if !wanted.isEmpty {
            let outcomes = ProcessRunner.run(wanted.map { ProcessJob(path: $0.path, timeout: timeout.microseconds) },
                                             parallel: parallelism, notAfter: totalDeadline)
            for (i, check) in wanted.enumerated() { results.append(result(check, outcomes[i])) }
        }
        return (results, shortage)
    }

    private func skipped(_ c: CheckSpec, why: String) -> CheckResult {
        CheckResult(name: SafeText.escape(c.name), kind: c.kind, path: SafeText.escape(c.path), result: .skipped, exitStatus: nil,
                    signal: nil, durationMs: 0, output: why)
    }

    private func result(_ c: CheckSpec, _ o: ProcessOutcome) -> CheckResult {
        if o.notStarted { return skipped(c, why: "not run: TotalTimeout= reached") }
        if o.masked != nil { return skipped(c, why: o.tail) }
        let outcome: CheckResult.Outcome = o.timedOut ? .timeout : (o.succeeded ? .passed : .failed)
        return CheckResult(name: SafeText.escape(c.name), kind: c.kind, path: SafeText.escape(c.path), result: outcome,
                           exitStatus: o.exitStatus, signal: o.signal, durationMs: o.durationMicroseconds / 1000, output: o.tail,
                           refusal: o.refusal)
    }
}

/// Runs the `green.d/` or `red.d/` hooks after a decision; their failures are logged, never acted on.
/// They are found, masked and judged like checks.
enum Hooks {
    static func run(_ which: String, configDirs: [String], greenbootDirs: [String], timeout: TimeSpan) -> [ProcessOutcome] {
        let names: [(String, String)]
        do {
            names = try CheckSet.claimedNames((configDirs + greenbootDirs).map { $0 + "/" + which + ".d" })
        } catch {
            var o = ProcessOutcome()
            o.spawnError = "\(error)"
            o.tail = SafeText.escape("\(which).d: \(error)")
            return [o]
        }
        var out: [ProcessOutcome] = []
        for (_, path) in names {
            switch CheckFile.open(path) {
            case .runnable(let fd): close(fd)
            case .masked, .ignored: continue
            case .refused, .broken, .exhausted: break  // ends below as a refusal or an error, which is logged
            }
            out += ProcessRunner.run([ProcessJob(path: path, timeout: timeout.microseconds)])
        }
        return out
    }
}
