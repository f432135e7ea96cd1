import Foundation
import Testing
import TestSupport

@Suite("Unit files")
struct UnitFileTests {
    static let unitsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("units").path

    @Test("the boot-health units, enabled, form no ordering cycle with multi-user, boot-complete and systemd-bless-boot")
    func noCycles() throws {
        guard TestEnv.have("systemd-analyze") else { try TestEnv.skip("noCycles", because: "systemd-analyze is not installed") }
        let t = TempDir("units")
        for d in ["multi-user.target.wants", "boot-complete.target.requires", "basic.target.wants"] { t.mkdir(d) }
        for u in ["boot-health-check", "boot-health-bless", "boot-health"] {
            try FileManager.default.copyItem(atPath: "\(Self.unitsDir)/\(u).service", toPath: t.sub("\(u).service"))
            try FileManager.default.createSymbolicLink(atPath: t.sub("multi-user.target.wants/\(u).service"), withDestinationPath: "../\(u).service")
        }
        try FileManager.default.createSymbolicLink(atPath: t.sub("boot-complete.target.requires/boot-health-check.service"),
                                                   withDestinationPath: "../boot-health-check.service")
        if FileManager.default.fileExists(atPath: "/lib/systemd/system/systemd-bless-boot.service") {
            try FileManager.default.createSymbolicLink(atPath: t.sub("basic.target.wants/systemd-bless-boot.service"),
                                                       withDestinationPath: "/lib/systemd/system/systemd-bless-boot.service")
        }
        let r = try run("/usr/bin/systemd-analyze", ["verify", "multi-user.target"], env: ["SYSTEMD_UNIT_PATH": t.path + ":"])
        let problems = (r.stdout + r.stderr).split(separator: "\n").filter { !$0.contains("is not executable") && !$0.contains("man ") }
        #expect(!problems.contains { $0.contains("ordering cycle") }, "\(problems.joined(separator: "\n"))")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("the check unit gates boot-complete.target and blessing follows it")
    func ordering() throws {
        let check = try String(contentsOfFile: "\(Self.unitsDir)/boot-health-check.service", encoding: .utf8)
        let bless = try String(contentsOfFile: "\(Self.unitsDir)/boot-health-bless.service", encoding: .utf8)
        #expect(check.contains("RequiredBy=boot-complete.target"))
        #expect(check.split(separator: "\n").contains { $0.hasPrefix("Before=") && $0.contains("boot-complete.target") && $0.contains("systemd-bless-boot.service") })
        #expect(bless.split(separator: "\n").contains { $0.hasPrefix("After=") && $0.contains("boot-complete.target") })
        #expect(bless.split(separator: "\n").contains { $0.hasPrefix("Before=") && $0.contains("systemd-bless-boot.service") })
    }
}
