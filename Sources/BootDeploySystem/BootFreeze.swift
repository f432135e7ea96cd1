import CBootDeployShim
import Glibc
import SystemPackage

/// Freezing /boot so that its journal is written back into place, without ever leaving it frozen.
///
/// A frozen filesystem blocks every write to it in uninterruptible sleep until someone thaws it,
/// so a writer killed between FIFREEZE and FITHAW must not take the thaw with it. Two guards:
/// - a watchdog child (freeze_watchdog.c) that thaws when the freezer dies or after
///   `watchdogTimeoutMilliseconds`; it only dies by SIGKILL;
/// - a marker, `$SYSROOT/bootdeploy/.boot-frozen`, written before the freeze and removed after the
///   thaw, for the case where freezer and watchdog are killed together (a service's whole cgroup
///   by SIGKILL). The next writer, holding the sysroot lock as the freezer did, finds the marker
///   and thaws the freeze it names (same boot only: a freeze does not outlive a reboot).
/// Every writer of /boot calls `ensureWritable` first: it recovers a freeze of ours and refuses,
/// with a message, a freeze it did not make (an administrator's fsfreeze, a snapshot tool).
public enum BootFreeze {
    /// Below `$SYSROOT/bootdeploy`; a dot name, so it can never be a stateroot.
    public static let markerName = ".boot-frozen"
    /// How long /boot may stay frozen before the watchdog thaws it whatever the writer does.
    public static let watchdogTimeoutMilliseconds: Int32 = 30_000

    /// What one freeze attempt found.
    public enum Outcome: Sendable, Equatable {
        /// Frozen and thawed again.
        case cycled
        /// FIFREEZE said EBUSY: someone else holds it frozen.
        case alreadyFrozen
        /// This filesystem (or this caller) cannot freeze: EOPNOTSUPP, EPERM, ...
        case unsupported(Errno)
    }

    /// The freeze/thaw itself, guarded by the watchdog and the marker (in `marker`, the sysroot's
    /// `bootdeploy/`, when given). Passes the fault seam at FIFREEZE and at FITHAW.
    public static func cycle(_ dir: Directory, marker: Directory?) throws(SystemError) -> Outcome {
        if let marker {
            let text = "\(currentBootID() ?? "-") \(dir.deviceNumber) \(getpid()) \(dir.path)\n"
            try marker.writeFile(markerName, Array(text.utf8), mode: 0o600, sync: false)
        }
        if let e = FaultInjection.gate("fifreeze", dir.path) { throw SystemError("ioctl(FIFREEZE)", dir.path, e) }
        var pid: Int32 = 0, pipe: Int32 = -1
        try retryingOnInterrupt { bd_freeze_watchdog_start(dir.fd, watchdogTimeoutMilliseconds, &pid, &pipe) }
            .get("fork(freeze watchdog)", dir.path)
        if bd_fifreeze(dir.fd) != 0 {
            let e = Errno(rawValue: Glibc.errno)
            _ = bd_freeze_watchdog_stop(pid, pipe, 1)
            try marker?.remove(markerName)
            return e == .resourceBusy ? .alreadyFrozen : .unsupported(e)
        }
        if let e = FaultInjection.gate("fithaw", dir.path) {
            // An injected failure of the thaw: the watchdog, told nothing, thaws as it would.
            _ = bd_freeze_watchdog_stop(pid, pipe, 0)
            throw SystemError("ioctl(FITHAW)", dir.path, e)
        }
        let thawed = bd_fithaw(dir.fd) == 0
        let e = Errno(rawValue: Glibc.errno)
        _ = bd_freeze_watchdog_stop(pid, pipe, thawed ? 1 : 0)
        if !thawed && e != .invalidArgument { throw SystemError("ioctl(FITHAW)", dir.path, e) }
        try marker?.remove(markerName)
        return .cycled
    }

    /// Makes sure a write to `dir`'s filesystem will not hang: thaws a freeze that an interrupted
    /// writer of ours left (returning a note saying so), and throws `.resourceBusy` naming the
    /// path when someone else holds it frozen (found by one guarded freeze/thaw, only with
    /// `probe`). Only meaningful on a filesystem that can freeze.
    public static func ensureWritable(_ dir: Directory, marker: Directory?, probe: Bool = true) throws(SystemError) -> [String] {
        var notes: [String] = []
        if let marker, marker.exists(markerName) {
            let text = (try? marker.readText(markerName)) ?? ""
            let fields = text.split(separator: " ")
            let sameBoot = fields.first.map { String($0) == (currentBootID() ?? "-") } ?? true
            if sameBoot && bd_fithaw(dir.fd) == 0 {
                notes.append("\(dir.path) was left frozen by an interrupted writer (\(marker.path)/\(markerName)); thawed it")
            }
            try marker.remove(markerName)
        }
        if !probe { return notes }
        switch try cycle(dir, marker: marker) {
        case .cycled, .unsupported: return notes
        case .alreadyFrozen:
            throw SystemError("ioctl(FIFREEZE)", dir.path + " is frozen by another program (fsfreeze, a snapshot tool); nothing was written, thaw it with 'fsfreeze -u " + dir.path + "'", .resourceBusy)
        }
    }

    /// The kernel's id of this boot, which tells a marker of this boot from a stale one.
    static func currentBootID() -> String? {
        guard let d = try? Directory.open("/proc/sys/kernel/random"), let t = try? d.readText("boot_id") else { return nil }
        let id = t.filter { !$0.isWhitespace }
        return id.isEmpty ? nil : id
    }
}
