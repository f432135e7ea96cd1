/// The start of a report's window, as `--since` takes it.
public enum ReportSince {
    /// `@SECONDS` (since the epoch), `YYYY-MM-DDTHH:MM:SSZ` (UTC), or a time span in systemd's
    /// notation meaning "that long ago" (`24h`, `7d`, `1h 30min`). Throws naming the value.
    public static func parse(_ text: String, now: Int64) throws -> Int64 {
        let t = text.trimmingSpaces
        if t.hasPrefix("@") {
            guard let n = Int64(t.dropFirst()), n >= 0 else { throw HealthError.invalid("--since \(text): not seconds since the epoch after '@'") }
            return n
        }
        if let iso = ISOTime.seconds(t) { return iso }
        if let span = TimeSpan(parsing: t) { return now - Int64(span.microseconds / 1_000_000) }
        throw HealthError.invalid("--since \(text): expected @SECONDS, YYYY-MM-DDTHH:MM:SSZ (UTC) or a time span such as 24h or 7d (meaning ago)")
    }
}
