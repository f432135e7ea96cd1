import BootDeployEarlyBoot
@testable import BootDeployHealth
import Testing

/// `HealthPolicy` as a table: facts in, the decision out. No process, bus or file is involved.
@Suite struct HealthPolicyTests {
    typealias D = HealthPolicy.Decision

    static func check(_ name: String, _ kind: CheckKind, _ result: CheckResult.Outcome, output: String = "") -> CheckResult {
        CheckResult(name: name, kind: kind, path: "/etc/boot-health/check/\(kind.rawValue).d/\(name)", result: result,
                    exitStatus: result == .failed ? 1 : 0, signal: nil, durationMs: 3, output: output, refusal: nil)
    }
    static func unit(_ name: String, _ state: String) -> HealthStatus.UnitResult {
        .init(name: name, activeState: state, result: .known(state == "active" ? .passed : (state == "failed" ? .failed : .timeout)))
    }
    static let ok = check("a", .required, .passed)
    static let wantedFail = check("w", .wanted, .failed, output: "meh")
    static let requiredFail = check("r", .required, .failed, output: "first\nlast line")
    static let requiredTimeout = check("t", .required, .timeout)

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var facts: HealthPolicy.Facts
        var expected: D
        var testDescription: String { label }
    }

    static func f(_ phase: RunPhase, state: HealthState = .checking, counter: BootCounting.Backend = .bls, attempts: Int? = nil,
                  checks: [CheckResult]? = nil, units: [HealthStatus.UnitResult]? = nil, required: Int = 0) -> HealthPolicy.Facts {
        .init(phase: phase, recordedState: .known(state), counter: counter, attempts: attempts, maxAttempts: 3,
              checks: checks, units: units, requiredUnits: required)
    }

    static let cases: [Case] = [
        .init(label: "all: checks not yet run -> wait for checks", facts: f(.all), expected: .wait(next: .checks)),
        .init(label: "check: checks not yet run -> wait for checks", facts: f(.check), expected: .wait(next: .checks)),
        .init(label: "all: checks pass, no units -> bless", facts: f(.all, checks: [ok, wantedFail]), expected: .bless),
        .init(label: "all: no checks at all -> bless", facts: f(.all, checks: []), expected: .bless),
        .init(label: "all: checks pass, units pending -> wait for units", facts: f(.all, checks: [ok], required: 1), expected: .wait(next: .units)),
        .init(label: "all: units active -> bless", facts: f(.all, checks: [ok], units: [unit("u", "active")], required: 1), expected: .bless),
        .init(label: "all: required check failed -> markBad with its last output line",
              facts: f(.all, checks: [ok, requiredFail]), expected: .markBad(reason: "required check r failed: last line")),
        .init(label: "check: required check timed out -> markBad",
              facts: f(.check, checks: [requiredTimeout]), expected: .markBad(reason: "required check t timed out")),
        .init(label: "check: wanted check failed -> nothing, healthy",
              facts: f(.check, checks: [wantedFail], required: 2), expected: .nothing(reason: nil, healthy: true)),
        .init(label: "watch: unit failed -> markBad",
              facts: f(.watch, units: [unit("a", "active"), unit("b", "failed")], required: 2),
              expected: .markBad(reason: "required unit b is failed (failed)")),
        .init(label: "watch: unit still activating -> markBad (timeout)",
              facts: f(.watch, units: [unit("a", "activating")], required: 1), expected: .markBad(reason: "required unit a is activating (timeout)")),
        .init(label: "watch: units active -> nothing, healthy (bless is its own unit)",
              facts: f(.watch, units: [unit("a", "active")], required: 1), expected: .nothing(reason: nil, healthy: true)),
        .init(label: "watch: no required units -> nothing, healthy", facts: f(.watch), expected: .nothing(reason: nil, healthy: true)),
        .init(label: "watch after a bad check phase -> nothing, unhealthy",
              facts: f(.watch, state: .bad, required: 1), expected: .nothing(reason: "already marked bad in this boot", healthy: false)),
        .init(label: "watch after degraded -> nothing, unhealthy",
              facts: f(.watch, state: .degraded), expected: .nothing(reason: "already marked degraded in this boot", healthy: false)),
        .init(label: "all: a state of bad from an earlier run does not stop the all phase",
              facts: f(.all, state: .bad, checks: []), expected: .bless),
        .init(label: "software counter exhausted -> markBad before any check",
              facts: f(.all, counter: .software, attempts: 4), expected: .markBad(reason: "boot attempts exhausted: 4 unblessed boots, MaxAttempts=3")),
        .init(label: "software counter exhausted in the bless phase -> markBad",
              facts: f(.bless, counter: .software, attempts: 5), expected: .markBad(reason: "boot attempts exhausted: 5 unblessed boots, MaxAttempts=3")),
        .init(label: "software counter at the limit -> not exhausted",
              facts: f(.all, counter: .software, attempts: 3, checks: []), expected: .bless),
        .init(label: "software counter with no attempts known -> never marked bad",
              facts: f(.all, counter: .software, attempts: nil, checks: []), expected: .bless),
        .init(label: "no counter, many attempts -> never marked bad for attempts",
              facts: f(.all, counter: .none, attempts: 99, checks: []), expected: .bless),
        .init(label: "bls counter, many attempts -> the boot loader counts, not us",
              facts: f(.bless, counter: .bls, attempts: 99), expected: .bless),
    ]

    @Test(arguments: cases) func judge(_ c: Case) {
        #expect(HealthPolicy.judge(c.facts) == c.expected, "\(c.label)")
    }

    @Test func everyDecisionIsReachable() {
        let got = Self.cases.map { HealthPolicy.judge($0.facts) }
        #expect(got.contains(.bless))
        #expect(got.contains { if case .markBad = $0 { true } else { false } })
        #expect(got.contains { if case .nothing = $0 { true } else { false } })
        #expect(got.contains(.wait(next: .checks)) && got.contains(.wait(next: .units)))
    }

    @Test func startupAndGrace() {
        #expect(HealthPolicy.waitsForStartup(phase: .all, failure: nil))
        #expect(!HealthPolicy.waitsForStartup(phase: .all, failure: "exhausted"))
        #expect(HealthPolicy.waitsForStartup(phase: .watch, failure: "exhausted"))
        #expect(!HealthPolicy.waitsForStartup(phase: .check, failure: nil))
        #expect(!HealthPolicy.waitsForStartup(phase: .bless, failure: nil))
        #expect(HealthPolicy.watchesGrace(phase: .all, healthy: true, requiredUnits: 1))
        #expect(HealthPolicy.watchesGrace(phase: .watch, healthy: true, requiredUnits: 1))
        #expect(!HealthPolicy.watchesGrace(phase: .all, healthy: false, requiredUnits: 1))
        #expect(!HealthPolicy.watchesGrace(phase: .all, healthy: true, requiredUnits: 0))
        #expect(!HealthPolicy.watchesGrace(phase: .check, healthy: true, requiredUnits: 1))
    }

    // MARK: After marking bad

    static let now: Int64 = 1_000_000
    static let hour = TimeSpan.seconds(3600)
    static func o(_ id: String, _ state: DeploymentHealth = .good) -> OrderedDeployment {
        .init(stateroot: "os", id: id, entryFileName: "os-\(id).conf", state: state)
    }
    static func after(_ ordered: [OrderedDeployment], bad: Set<DeploymentName> = ["os/new"], reboot: Bool = true, by: DecidedBy = .service,
                      reboots: [Int64] = [], burst: Int = 3) -> HealthPolicy.Consequence {
        HealthPolicy.afterBad(deployment: "os/new", reason: "x", ordered: ordered, bad: bad, reboot: reboot, by: by,
                              reboots: reboots, now: now, limitInterval: hour, limitBurst: burst)
    }

    @Test func rebootIntoTheBestDeploymentNotKnownBad() {
        #expect(Self.after([Self.o("old"), Self.o("new")]) == .reboot(into: "os/old"))
        // demote may have failed: the bad one can still be first; skip it and those the record knows bad.
        #expect(Self.after([Self.o("new"), Self.o("mid"), Self.o("old")], bad: ["os/new", "os/mid"]) == .reboot(into: "os/old"))
        #expect(Self.after([Self.o("mid", .bad), Self.o("old", .indeterminate)]) == .reboot(into: "os/old"))
        #expect(HealthPolicy.event(.reboot(into: "os/old")).rawValue == "rollback")
    }

    @Test func nothingBetterMeansDegradedNeverAReboot() {
        let c = Self.after([Self.o("new"), Self.o("old", .bad)])
        #expect(c == .demote(degradedReason: "every deployment has failed (x); staying up, not rebooting"))
        #expect(Self.after([]) == c)
        #expect(Self.after([Self.o("new")], by: .manual) == c)
        #expect(HealthPolicy.event(c).rawValue == "degraded")
    }

    @Test func noRebootAskedStays() {
        #expect(Self.after([Self.o("old")], reboot: false) == .stay)
        #expect(HealthPolicy.event(.stay).rawValue == "marked-bad")
    }

    /// Never a reboot loop: automatic reboots within the interval stop at the burst.
    @Test func rateLimitRespected() {
        let ordered = [Self.o("old")]
        let recent: [Int64] = [Self.now - 10, Self.now - 600, Self.now - 3599]
        #expect(Self.after(ordered, reboots: recent) == .rateLimited(recent: 3))
        #expect(HealthPolicy.event(.rateLimited(recent: 3)).rawValue == "reboot-rate-limited")
        #expect(Self.after(ordered, reboots: Array(recent.prefix(2))) == .reboot(into: "os/old"))
        // Reboots older than the interval do not count.
        #expect(Self.after(ordered, reboots: [Self.now - 3600, Self.now - 7200, Self.now - 9000, Self.now - 5]) == .reboot(into: "os/old"))
        // A person asking for the reboot is not rate limited.
        #expect(Self.after(ordered, by: .manual, reboots: recent) == .reboot(into: "os/old"))
        // Simulated loop: each automatic reboot is recorded; the fourth is refused.
        var history: [Int64] = []
        var outcomes: [HealthPolicy.Consequence] = []
        for i in 0..<4 {
            let t = Self.now + Int64(i * 60)
            let c = HealthPolicy.afterBad(deployment: "os/new", reason: "x", ordered: ordered, bad: ["os/new"], reboot: true, by: .service,
                                          reboots: history, now: t, limitInterval: Self.hour, limitBurst: 3)
            outcomes.append(c)
            if case .reboot = c { history = HealthPolicy.recentReboots(history, now: t, interval: Self.hour) + [t] }
        }
        #expect(outcomes == [.reboot(into: "os/old"), .reboot(into: "os/old"), .reboot(into: "os/old"), .rateLimited(recent: 3)])
    }
}

/// The policy's tables name deployments as they are written (`"os/old"`); a literal that is not a
/// valid name is a mistake in the test itself.
extension DeploymentName: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        do { self = try DeploymentName(argument: value) } catch { fatalError("test literal \(value): \(error)") }
    }
}
