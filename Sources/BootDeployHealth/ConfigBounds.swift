/// The ceiling of every duration and number in boot-health.conf (docs/HEALTH.md, "Configuration").
///
/// "Every wait must end": a timeout of a thousand years is a wait that never ends in practice, and
/// an arithmetic overflow waiting to happen. Values above these are refused with the file and line.
public enum ConfigBounds {
    static let hour = TimeSpan.seconds(3600)
    static let day = TimeSpan.seconds(86_400)

    /// The largest value each time-span key accepts.
    public static func maximum(section: String, key: String) -> TimeSpan {
        switch (section, key) {
        case ("Checks", "Timeout"): return hour
        case ("Checks", "TotalTimeout"): return TimeSpan.seconds(4 * 3600)
        case ("Boot", "StartupTimeout"): return hour
        case ("Boot", "GracePeriod"): return day
        case ("Boot", "RebootLimitInterval"): return TimeSpan.seconds(7 * 86_400)
        case ("Boot", "UnitTimeout"): return hour
        default: return hour  // [Unit:NAME] Timeout= and any span added later
        }
    }

    public static let maxAttempts = 1...100
    public static let rebootLimitBurst = 0...100
    /// Checks running at once; the runner lowers it further when file descriptors are short.
    public static let parallelism = 1...256
    /// Required units (RequiredUnits= and [Unit:NAME] together).
    public static let units = 256
}
