import BootDeployEarlyBoot
import BootDeploy
import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// boot-health on a UKI placed as a Type #2 entry (`EFI/Linux/bootdeploy-*.efi`, docs/UKI.md): the
/// counter is in the image's name, and blessing and marking bad rename the image, as systemd-boot
/// and systemd-bless-boot do.
@Suite("Boot counting on Type #2 entries", .serialized)
struct Type2CountingTests {
    static func image(_ f: HealthFixture, _ name: String, deployment: String) throws {
        let t = TempDir("bht2")
        t.write("k", "kernel")
        f.tmp.mkdir("boot/EFI/Linux")
        try UKIBuilder.build(UKIContents(osRelease: UKIOSRelease.render(title: "Demo", deployment: try DeploymentName(argument: deployment)),
                                         commandLine: "root=UUID=1234 rw bootdeploy=\(deployment)", kernelRelease: "6.1.0-test",
                                         kernelPath: t.sub("k"), initrdPath: nil),
                             scratch: t.path, output: f.boot + "/EFI/Linux/" + name)
    }

    static func images(_ f: HealthFixture) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: f.boot + "/EFI/Linux")) ?? []).sorted()
    }

    static func requireTools(_ test: String) throws {
        if !FileManager.default.fileExists(atPath: UKIBuilder.defaultStub) { try TestEnv.skip(test, because: "systemd-boot-efi's stub missing") }
        if !TestEnv.have("objcopy") { try TestEnv.skip(test, because: "objcopy missing") }
    }

    @Test("blessing renames the booted UKI to no counter; marking bad to +0-DONE; the Type #1 entry beside it is untouched")
    func blessAndMarkBad() throws {
        try Self.requireTools("blessAndMarkBad")
        let f = HealthFixture()
        try Self.image(f, "bootdeploy-002-os+2-1.efi", deployment: "os/new.1")
        f.entry("bootdeploy-001-os.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bootdeploy-002-os+2-1.efi")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        _ = try s.markGood()
        #expect(Self.images(f) == ["bootdeploy-002-os.efi"])
        #expect(f.entries() == ["bootdeploy-001-os.conf"])
        let d = try s.markBad(reason: "by test", reboot: false)
        #expect(d.decision == "marked-bad")
        #expect(Self.images(f) == ["bootdeploy-002-os+0-1.efi"], "DONE kept from the name the boot loader gave: \(Self.images(f))")
        #expect(f.entries() == ["bootdeploy-001-os.conf"])
    }

    @Test("an image of another deployment is never renamed, and a UKI-only /boot (no loader/entries) still counts")
    func onlyImages() throws {
        try Self.requireTools("onlyImages")
        let f = HealthFixture()
        try FileManager.default.removeItem(atPath: f.boot + "/loader")
        try FileManager.default.removeItem(atPath: f.boot + "/loader.1")
        try Self.image(f, "bootdeploy-005-os+3.efi", deployment: "os/new.1")
        try Self.image(f, "bootdeploy-004-os.efi", deployment: "os/old.0")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        _ = try s.markBad(reason: nil, reboot: false)
        #expect(Self.images(f) == ["bootdeploy-004-os.efi", "bootdeploy-005-os+0.efi"])
        _ = try s.markGood()
        #expect(Self.images(f) == ["bootdeploy-004-os.efi", "bootdeploy-005-os.efi"])
    }
}
