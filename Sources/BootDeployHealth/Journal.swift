import BootDeploySystem
import CSystemdShim
import Glibc

/// The decisions boot-health logs, each with a stable MESSAGE_ID (documented in docs/HEALTH.md) so
/// that `journalctl MESSAGE_ID=...` finds them across versions. The ids were generated once for
/// this project; never change them.
public enum HealthEvent: String, Sendable, CaseIterable {
    case checksPassed = "24a1f877421c44da8676ea969089eb0e"
    case checkFailed = "ba2ad6ca718c407d9ec210482ec8f5ee"
    case checkTimedOut = "724a1d934541423086c67c8fd3105b38"
    case blessed = "5ac6be9d438243e7891bc4e37ae18236"
    case markedBad = "ac263c41719e43bda14767f558b3f099"
    case rebootRequested = "9fb7e669a9494db29a227548c1285f88"
    case degraded = "8d16868f0cd34918b71f8c6983e0f42b"
    case rebootRateLimited = "84f500dec50b433bafc7d4ec3301d82d"
    case unitFailedInGrace = "68af4783d246436f8789ff8b31e7fe2d"
    case unitFailedAfterGrace = "66a96f4f0fb14cbc9b2d8195f619d40f"
    case startupTimeout = "9d2e1dcdbe2f49ac94742b08a68fcece"
    case attemptsExhausted = "0119fed2bcd347a4b57492e7e1a6b95a"
    case configWarning = "21c80257c5bf4ce9b0a2f9abb149d1ea"
    case finalizeFailed = "6bc704b52b8b40a3a3978a75d8635036"
    /// A check was not run because of its owner, its mode or a directory on its path.
    case checkRefused = "6ce3f97c8c5d4a6fa5114a219d33d4f7"
    /// The booted deployment could not be identified: nothing judged, nothing changed.
    case notJudged = "c9eabe151e084314b31c3de072ab4452"

    /// The journal priority of the event (syslog levels).
    var priority: Int {
        switch self {
        case .checksPassed, .blessed: return 5
        case .checkFailed, .checkTimedOut, .markedBad, .unitFailedInGrace, .attemptsExhausted, .checkRefused, .notJudged: return 3
        case .degraded: return 2
        case .rebootRequested, .rebootRateLimited, .unitFailedAfterGrace, .startupTimeout, .finalizeFailed, .configWarning: return 4
        }
    }
}

/// Writes decisions to the journal, or to stderr and /dev/kmsg when there is no journal.
///
/// `sd_journal_sendv` reports success even when journald's socket is missing (the datagram is
/// simply dropped), so its presence is checked first: a decision must never vanish silently.
public struct HealthLog: Sendable {
    public var journalSocket: String
    public var useKmsg: Bool
    public var quiet: Bool

    public init(journalSocket: String = "/run/systemd/journal/socket", useKmsg: Bool = true, quiet: Bool = false) {
        self.journalSocket = journalSocket
        self.useKmsg = useKmsg
        self.quiet = quiet
    }

    public func log(_ event: HealthEvent, _ text: String, fields: [String: String] = [:]) {
        // Whatever the message quotes (check output, names, config lines) never reaches the
        // journal or a terminal raw (SafeText).
        let message = SafeText.escape(text, .multiLine)
        var list = ["MESSAGE=\(message)", "MESSAGE_ID=\(event.rawValue)", "PRIORITY=\(event.priority)",
                    "SYSLOG_IDENTIFIER=boot-health"]
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { list.append("BOOT_HEALTH_\(k)=\(SafeText.escape(v))") }
        if access(journalSocket, F_OK) == 0 {
            let ptrs = list.map { strdup($0) }
            defer { for p in ptrs { free(p) } }
            let r = ptrs.map { UnsafePointer($0) }.withUnsafeBufferPointer { bd_sd_journal_send_fields($0.baseAddress, $0.count) }
            if r >= 0 { return }
        }
        let line = "boot-health[\(event.rawValue.prefix(8))]: \(message)\n"
        if !quiet { _ = line.withCString { write(2, $0, strlen($0)) } }
        if useKmsg, event.priority <= 4 {
            let fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY)
            if fd >= 0 {
                let k = "<\(event.priority)>" + line
                _ = k.withCString { write(fd, $0, strlen($0)) }
                close(fd)
            }
        }
    }

    /// Plain warnings (unknown config keys): stderr, which the service manager puts in the journal.
    public func warn(_ message: String) {
        log(.configWarning, message)
    }
}

/// sd_notify, a no-op outside a Type=notify service.
public enum ServiceNotify {
    /// `status` is one line: a newline in it would start another notify assignment.
    public static func ready(_ status: String) { _ = bd_sd_notify("READY=1\nSTATUS=\(SafeText.escape(status))") }
    public static func status(_ status: String) { _ = bd_sd_notify("STATUS=\(SafeText.escape(status))") }
}
