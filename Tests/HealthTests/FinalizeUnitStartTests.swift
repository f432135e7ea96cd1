import Foundation
import Testing
import TestSupport

/// `deploy --stage` starts bootdeploy-finalize.service itself, over sd-bus (the manager's
/// StartUnit), not by running systemctl; `--no-start-unit` leaves it alone.
@Suite("deploy --stage starts the finalize unit over the bus", .serialized, .timeLimit(.minutes(2)))
struct FinalizeUnitStartTests {
    func stage(_ bus: SystemdMock, extra: [String]) throws -> RunResult {
        let f = HealthFixture()
        let global = ["--sysroot", f.sysroot, "--boot", f.boot, "--run-dir", f.tmp.sub("run")]
        let env = ["DBUS_SYSTEM_BUS_ADDRESS": bus.address]
        guard try run(TestEnv.tool("boot-deploy"), ["init"] + global + ["--stateroot", "os"]).ok else { throw SystemdMock.MockError("init failed") }
        f.tmp.write("tree/usr/lib/modules/6.1.0-test/vmlinuz", "kernel")
        f.tmp.write("tree/usr/lib/modules/6.1.0-test/initramfs.img", "initrd")
        f.tmp.write("tree/usr/lib/os-release", "PRETTY_NAME=\"Test\"\nVERSION_ID=1\n")
        return try run(TestEnv.tool("boot-deploy"), ["deploy"] + global + ["--stateroot", "os", "--tree", f.tmp.sub("tree"),
                                                                         "--karg", "root=UUID=1234", "--stage"] + extra, env: env)
    }

    @Test("StartUnit(bootdeploy-finalize.service, replace) is called once; with --no-start-unit never")
    func startsUnit() throws {
        guard let bus = try SystemdMock.start("startsUnit") else { return }
        try bus.addUnit("bootdeploy-finalize.service", state: "inactive")
        let r = try stage(bus, extra: [])
        #expect(r.ok, "\(r.stderr)")
        #expect(!r.stderr.contains("finalize.service"), "\(r.stderr)")
        #expect(bus.callLog.contains("StartUnit \"bootdeploy-finalize.service\" \"replace\""), "\(bus.callLog)")
    }

    @Test("--no-start-unit: no call")
    func noStart() throws {
        guard let bus = try SystemdMock.start("noStart") else { return }
        let r = try stage(bus, extra: ["--no-start-unit"])
        #expect(r.ok, "\(r.stderr)")
        #expect(!bus.callLog.contains("StartUnit"), "\(bus.callLog)")
    }
}
