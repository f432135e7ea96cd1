import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials

/// The persistent health record, `$SYSROOT/bootdeploy/health/status.json`, schema 1.
///
/// It lives on the physical root so that it survives reboots and rollbacks; it is rewritten whole
/// and atomically (`Directory.replaceFile`) under the sysroot lock. docs/HEALTH.md documents every
/// field; new fields may be added within schema 1, renames or removals bump `schema`.
public struct HealthStatus: Codable, Sendable, Equatable {
    public static let currentSchema = 1
    public var schema = HealthStatus.currentSchema
    /// The deployment of the boot that wrote this record last.
    public var booted: BootedInfo?
    /// `unknown`, `checking`, `good`, `bad`, or `degraded` (every deployment failed: staying up).
    public var state: Recorded<HealthState> = .known(.unknown)
    public var degradedReason: String?
    public var lastRun: RunRecord?
    /// Newest last, at most `historyLimit` events.
    public var history: [HistoryEvent] = []
    /// CLOCK_REALTIME seconds of automatic reboots, for the rate limit.
    public var reboots: [Int64] = []
    /// Deployments marked bad (`stateroot/id`), for counters that cannot say so themselves.
    public var bad: [String] = []
    /// `bad` as deployments (the file keeps them as text); an entry that is not a valid
    /// `STATEROOT/ID` names no deployment and matches none.
    public var badDeployments: Set<DeploymentName> { Set(bad.compactMap { try? DeploymentName(argument: $0) }) }
    /// Events counted since the record began, per stateroot and event: `{"os": {"rollback": 2}}`.
    /// Unlike `history` they never shrink, so the fleet report can export them as Prometheus
    /// counters. Absent from records written before they existed: then seeded from the history.
    public var totals: [String: [String: Int]]?

    public static let historyLimit = 100

    public init() {}

    public struct BootedInfo: Codable, Sendable, Equatable {
        public var stateroot: String
        public var id: String
        /// Counter backend: `bls`, `grubenv`, `software` or `none`.
        public var counter: Recorded<CounterKind>
        /// The entry file name as booted (counter before blessing), when known.
        public var entry: String?
        public var triesLeft: Int?
        public var triesDone: Int?
        public var attempts: Int?
        /// When this boot's first record was written (CLOCK_REALTIME seconds).
        public var seenAt: Int64
        /// `/proc/sys/kernel/random/boot_id`, to tell boots apart.
        public var bootID: String?
    }

    public struct UnitResult: Codable, Sendable, Equatable {
        public var name: String
        public var activeState: String
        public var result: Recorded<UnitOutcome>
    }

    public struct RunRecord: Codable, Sendable, Equatable {
        public var phase: Recorded<RunPhase>
        public var startedAt: Int64
        public var finishedAt: Int64?
        /// `blessed`, `marked-bad`, `none` (check only), `degraded`.
        public var decision: Recorded<RunDecision>
        public var reason: String?
        public var checks: [CheckResult]
        public var units: [UnitResult]
    }

    public struct HistoryEvent: Codable, Sendable, Equatable {
        public var at: Int64
        public var stateroot: String
        public var id: String
        /// `blessed`, `marked-bad`, `rollback`, `degraded`, `reboot-rate-limited`, `failure-after-grace`,
        /// `finalize-failed` (the last shutdown did not install the staged update).
        public var event: Recorded<HealthEventKind>
        public var reason: String?
        public var rebootRequested: Bool
        /// `service` (boot-health run) or `manual` (mark-good / mark-bad).
        public var by: Recorded<DecidedBy>
    }

    mutating func record(_ e: HistoryEvent) {
        var t = totals ?? Self.counted(history)
        t[e.stateroot, default: [:]][e.event.rawValue, default: 0] += 1
        totals = t
        history.append(e)
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }

    /// The totals a record without `totals` starts from: what its history still shows.
    static func counted(_ events: [HistoryEvent]) -> [String: [String: Int]] {
        var t: [String: [String: Int]] = [:]
        for e in events { t[e.stateroot, default: [:]][e.event.rawValue, default: 0] += 1 }
        return t
    }

    /// `totals`, or for an older record the counts of its history.
    public var effectiveTotals: [String: [String: Int]] { totals ?? Self.counted(history) }
}

/// Reading and writing `status.json` below `$SYSROOT/bootdeploy/health/`.
struct StatusStore {
    var sysroot: String

    static let dirName = "health"
    static let fileName = "status.json"

    func load() throws -> HealthStatus {
        guard let base = try? Directory.open(sysroot).openDirectory("bootdeploy"),
              let dir = try? base.openDirectory(Self.dirName), dir.exists(Self.fileName) else { return HealthStatus() }
        let bytes = try dir.readFile(Self.fileName)
        do {
            let s = try JSONDecoder().decode(HealthStatus.self, from: Data(bytes))
            guard s.schema == HealthStatus.currentSchema else {
                throw HealthError.invalid("\(dir.path)/\(Self.fileName): schema \(s.schema) is newer than this boot-health understands (\(HealthStatus.currentSchema))")
            }
            return s
        } catch let e as HealthError {
            throw e
        } catch {
            // Never overwrite what we cannot read (invariant 4): the caller stops.
            throw HealthError.invalid("\(dir.path)/\(Self.fileName): not a valid status record (\(error)); move it away to start afresh")
        }
    }

    func save(_ s: HealthStatus) throws {
        let base = try Directory.open(sysroot).openDirectory("bootdeploy")
        try base.makeDirectory(Self.dirName, mode: 0o755)
        let dir = try base.openDirectory(Self.dirName)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try dir.replaceFile(Self.fileName, Array(try enc.encode(s)) + [0x0A])
    }
}

/// An error of boot-health with a message for the person at the console.
public enum HealthError: Error, CustomStringConvertible {
    case invalid(String)
    case refused(String)
    public var description: String {
        switch self {
        case .invalid(let m), .refused(let m): return m
        }
    }
}
