import BootDeploy
import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials

/// Puts the last shutdown's finalize failure into the health history, once.
///
/// `boot-deploy finalize` leaves `$SYSROOT/bootdeploy/finalize-failed.json` when it could not
/// install the staged update, and a staged update that was never finalized (power cut, crash)
/// leaves its persistent marker `$SYSROOT/bootdeploy/staged.json` without the per-boot
/// `/run/bootdeploy/staged.json`. Both stay until acknowledged, so the report could only say "one
/// now". The history makes them countable over time (`report --since`, the Prometheus counter):
/// each distinct failure becomes one `finalize-failed` event, recognized again by its reason.
extension HealthService {
    /// Adds a `finalize-failed` event for the failure on disk, unless the history has it already.
    func noteFinalizeFailure(_ status: inout HealthStatus) {
        guard let failure = finalizeFailureOnDisk() else { return }
        let known = status.history.contains {
            $0.event == .finalizeFailed && $0.stateroot == failure.stateroot && $0.id == failure.id && $0.reason == failure.reason
        }
        if known { return }
        status.record(.init(at: failure.at, stateroot: failure.stateroot, id: failure.id, event: .known(.finalizeFailed),
                            reason: failure.reason, rebootRequested: false, by: .known(.service)))
    }

    struct FinalizeFailureFact: Equatable {
        var stateroot: String
        var id: String
        var reason: String
        var at: Int64
    }

    /// The failure `boot-deploy finalize` left, or nil. An unreadable stamp is itself a failure to
    /// record (with the deployment unknown): silence would hide it.
    func finalizeFailureOnDisk() -> FinalizeFailureFact? {
        guard let base = try? Directory.open(roots.sysroot).openDirectory("bootdeploy") else { return nil }
        let stamp = "finalize-failed.json"
        if base.exists(stamp) {
            do {
                let f = try FinalizeFailure.decode(try base.readFile(stamp), file: "\(base.path)/\(stamp)")
                return .init(stateroot: f.stateroot, id: f.id, reason: "finalize at \(f.time) failed: \(f.error)",
                             at: ISOTime.seconds(f.time) ?? wallClockSeconds())
            } catch {
                return .init(stateroot: "", id: "", reason: "\(base.path)/\(stamp) is unreadable: \(error)", at: wallClockSeconds())
            }
        }
        // Staged, never finalized: the persistent marker outlived the boot that staged it.
        let marker = "staged.json"
        // No run dir at all means nothing is staged in this boot: the answer, not an error.
        guard base.exists(marker), (try? Directory.open(roots.runDir))?.exists(marker) != true else { return nil }
        do {
            let s = try StagedDeployment.decode(try base.readFile(marker), file: "\(base.path)/\(marker)")
            if s.locked { return nil }   // deliberately not finalized
            return .init(stateroot: s.stateroot, id: s.id, reason: "staged at \(s.staged) but never finalized (no clean shutdown)",
                         at: ISOTime.seconds(s.staged) ?? wallClockSeconds())
        } catch {
            return .init(stateroot: "", id: "", reason: "\(base.path)/\(marker) is unreadable: \(error)", at: wallClockSeconds())
        }
    }
}

/// `2026-12-01T18:00:00Z` (what boot-deploy writes) to seconds since the epoch, without Foundation's
/// formatters; nil for anything else.
enum ISOTime {
    static func seconds(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "Z") else { return nil }
        func n(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for c in b[r] {
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        guard let y = n(0..<4), let mo = n(5..<7), let d = n(8..<10), let h = n(11..<13), let mi = n(14..<16), let s = n(17..<19),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        return daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's well-known algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
