import CSystemdShim
import Glibc

/// A failed call to systemd over D-Bus.
public struct BusError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var message: String
    public var description: String { "\(operation): \(message)" }
}

/// The few things boot-health asks of systemd's manager, over sd-bus.
///
/// Signals are event-driven: `nextEvent` blocks in `sd_bus_wait` until a signal arrives or the
/// deadline passes, so watching the grace period costs no periodic wake-ups.
public final class SystemdBus: @unchecked Sendable {
    let handle: OpaquePointer

    public enum Event: Sendable, Equatable {
        case startupFinished
        case jobRemoved(unit: String, result: String)
        case unitChanged(path: String, activeState: String)
        /// Events were lost: re-read the states.
        case overflow
    }

    /// Connects to `address`, or to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured) when nil.
    public init(address: String? = nil) throws(BusError) {
        var h: OpaquePointer?
        let r = address.map { a in a.withCString { bd_bus_open($0, &h) } } ?? bd_bus_open(nil, &h)
        guard r >= 0, let h else { throw BusError(operation: "connect to \(address ?? "the system bus")", message: String(cString: strerror(-r))) }
        handle = h
    }

    deinit { bd_bus_close(handle) }

    private func fail(_ op: String) -> BusError { BusError(operation: op, message: String(cString: bd_bus_last_error(handle))) }

    public func watch() throws(BusError) {
        guard bd_bus_watch(handle) >= 0 else { throw fail("add signal matches") }
    }

    /// Waits until `deadline` (monotonic microseconds) for one event; nil when the deadline passed.
    public func nextEvent(until deadline: UInt64) throws(BusError) -> Event? {
        let now = monotonicMicroseconds()
        var ev = bd_bus_event()
        let r = bd_bus_next_event(handle, deadline > now ? deadline - now : 0, &ev)
        if r < 0 { throw fail("wait for systemd signals") }
        if r == 0 { return nil }
        func str<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        switch Int(ev.kind) {
        case Int(BD_BUS_EVENT_STARTUP_FINISHED): return .startupFinished
        case Int(BD_BUS_EVENT_JOB_REMOVED): return .jobRemoved(unit: str(ev.unit), result: str(ev.value))
        case Int(BD_BUS_EVENT_UNIT_CHANGED): return .unitChanged(path: str(ev.path), activeState: str(ev.value))
        default: return .overflow
        }
    }

    /// Manager.FinishTimestampMonotonic: non-zero once startup has finished.
    public func startupFinishedAt() throws(BusError) -> UInt64 {
        var v: UInt64 = 0
        guard bd_bus_manager_u64(handle, "FinishTimestampMonotonic", &v) >= 0 else { throw fail("read FinishTimestampMonotonic") }
        return v
    }

    public func unitPath(_ unit: String) throws(BusError) -> String {
        var p: UnsafeMutablePointer<CChar>?
        guard bd_bus_unit_path(handle, unit, &p) >= 0, let p else { throw fail("GetUnit(\(unit))") }
        defer { free(p) }
        return String(cString: p)
    }

    public func activeState(path: String) throws(BusError) -> String {
        var p: UnsafeMutablePointer<CChar>?
        guard bd_bus_unit_string(handle, path, "ActiveState", &p) >= 0, let p else { throw fail("ActiveState of \(path)") }
        defer { free(p) }
        return String(cString: p)
    }

    public func startUnit(_ unit: String, mode: String) throws(BusError) {
        guard bd_bus_start_unit(handle, unit, mode) >= 0 else { throw fail("StartUnit(\(unit), \(mode))") }
    }

    /// What `systemctl reboot` does: start reboot.target, irreversibly, so shutdown runs cleanly.
    public func requestReboot() throws(BusError) {
        try startUnit("reboot.target", mode: "replace-irreversibly")
    }
}
