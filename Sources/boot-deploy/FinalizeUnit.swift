import CSystemdShim
import Glibc

/// Starts bootdeploy-finalize.service, so that its ExecStop runs finalize at shutdown: the
/// manager's `StartUnit(unit, "replace")` over sd-bus, which returns once the job is queued (what
/// `systemctl start --no-block` does). Only on a machine run by systemd, or where the caller named
/// a system bus (`DBUS_SYSTEM_BUS_ADDRESS`); elsewhere (an image being built, tests) there is
/// nothing to start. A failure is a warning: the deployment is staged either way.
func startFinalizeUnit() {
    let unit = "bootdeploy-finalize.service"
    guard access("/run/systemd/system", F_OK) == 0 || getenv("DBUS_SYSTEM_BUS_ADDRESS") != nil else { return }
    var bus: OpaquePointer?
    let r = bd_bus_open(nil, &bus)
    guard r >= 0, let bus else {
        FileHandle.stderr("boot-deploy: warning: could not connect to the system bus (\(String(cString: strerror(-r)))); run 'systemctl start \(unit)'\n")
        return
    }
    defer { bd_bus_close(bus) }
    if bd_bus_start_unit(bus, unit, "replace") < 0 {
        let why = bd_bus_last_error(bus).map { String(cString: $0) } ?? "unknown error"
        FileHandle.stderr("boot-deploy: warning: could not start \(unit): \(why); run 'systemctl start \(unit)'\n")
    }
}
