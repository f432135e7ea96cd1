import BootDeployEarlyBoot
import FoundationEssentials

/// `boot-health report --json`: one typed, versioned document for fleet managers (docs/REPORT.md).
///
/// What a dashboard needs about one machine in one read: which deployment is booted, default,
/// staged and next in line for a rollback; the health verdict on this boot and the boot counter;
/// the last decision and the last run's checks and units; and how many rollbacks and finalize
/// failures happened since a given time. It is built from boot-health's persistent record and
/// boot-deploy's status; it changes nothing. Within `apiVersion` `bootdeploy/v1` fields are only
/// added; a removal or change of meaning is a new apiVersion.
public struct HealthReport: Codable, Sendable, Equatable {
    public static let currentAPIVersion = "bootdeploy/v1"
    public static let currentKind = "HealthReport"

    public var apiVersion = HealthReport.currentAPIVersion
    public var kind = HealthReport.currentKind
    /// When the report was made (seconds since the epoch, UTC).
    public var generatedAt: Int64
    /// `/etc/machine-id`, so that a collector can tell machines apart; nil when unreadable.
    public var machineID: String?
    /// This boot's `/proc/sys/kernel/random/boot_id`.
    public var bootID: String?
    public var deployments: Roles
    public var health: Health
    /// The newest decision in the history (blessed, marked bad, rollback, ...); nil before the first.
    public var lastDecision: HealthStatus.HistoryEvent?
    /// The service's last run with every check's and unit's result; nil before the first run.
    public var lastRun: HealthStatus.RunRecord?
    /// Events at or after `window.from`, and their counts.
    public var window: Window
    /// Counts per stateroot and event since the record began (they never decrease).
    public var totals: [String: [String: Int]]
    /// The last shutdown's finalize failure, while it is not acknowledged.
    public var finalizeFailure: String?
    /// What could not be read or does not add up; the rest of the report is still true.
    public var warnings: [String]

    /// One deployment in one of its roles.
    public struct Deployment: Codable, Sendable, Equatable {
        public var stateroot: String
        public var id: String
        public var version: String?
        /// The entry file name now, counter included.
        public var entry: String?
        /// `good`, `indeterminate` (tries left) or `bad`, from the entry and the record's bad list.
        public var state: DeploymentHealth?
        public var triesLeft: Int?
        public var triesDone: Int?
        /// Which deployment this is.
        public var name: BootDeployEarlyBoot.DeploymentName { .init(stateroot: stateroot, id: id) }
    }

    /// The deployments that matter to a fleet, each nil when there is none.
    public struct Roles: Codable, Sendable, Equatable {
        public var booted: Deployment?
        public var `default`: Deployment?
        public var staged: Deployment?
        /// What a rollback would boot: the first deployment after the default that is not bad.
        public var rollback: Deployment?
    }

    /// The verdict on the booted deployment in this boot.
    public struct Health: Codable, Sendable, Equatable {
        public var state: HealthState
        public var degradedReason: String?
        /// The counter backend: `bls`, `grubenv`, `software`, `none`; nil when nothing is booted.
        public var counter: Recorded<CounterKind>?
        public var triesLeft: Int?
        public var triesDone: Int?
        /// The software counter's unblessed boots.
        public var attempts: Int?
        /// Deployments marked bad and not blessed since (`stateroot/id`).
        public var bad: [String]
    }

    /// A time window over the history.
    public struct Window: Codable, Sendable, Equatable {
        /// The start (seconds since the epoch); nil = everything the history holds.
        public var from: Int64?
        /// False when the history (at most 100 events) may have dropped events of the window.
        public var complete: Bool
        public var rollbacks: Int
        public var finalizeFailures: Int
        public var markedBad: Int
        public var blessed: Int
        public var events: [HealthStatus.HistoryEvent]
    }
}

/// The health verdict on the booted deployment, as the record says it for this boot.
public enum HealthState: String, Codable, Sendable, CaseIterable {
    /// Not judged yet in this boot (or no record at all).
    case unknown
    /// boot-health has seen this boot and not decided yet.
    case checking
    case good
    /// Marked bad; a rollback was requested or is up to the boot loader.
    case bad
    /// Every deployment failed: staying up, not rebooting.
    case degraded
}

/// History events that are decisions (as opposed to findings such as `finalize-failed`).
public enum HealthEventKind: String, Sendable, CaseIterable {
    case blessed
    case markedBad = "marked-bad"
    case rollback
    case degraded
    case rebootRateLimited = "reboot-rate-limited"
    case failureAfterGrace = "failure-after-grace"
    case finalizeFailed = "finalize-failed"

    public var isDecision: Bool { self != .finalizeFailed }
}
