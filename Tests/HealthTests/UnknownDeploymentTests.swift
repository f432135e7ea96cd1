import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// Issue 11, item 10: boot-health never judges or acts on a deployment it cannot identify.
@Suite("Unknown or unnamed booted deployment", .serialized)
struct UnknownDeploymentTests {
    /// Two real deployments (entries in /boot), a failing required check, and `cmdline` as booted.
    private func machine(cmdline: String) -> HealthFixture {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.check("required", "10-bad", "echo broken; exit 1")
        f.tmp.write("cmdline", cmdline)
        return f
    }

    static let unidentifiable = [
        "root=UUID=1234 rw quiet\n",                       // no bootdeploy= at all
        "root=UUID=1234 bootdeploy=\n",
        "root=UUID=1234 bootdeploy=os\n",
        "root=UUID=1234 bootdeploy=os/../../etc\n",
        "root=UUID=1234 bootdeploy=os/new.1/x\n",
        "root=UUID=1234 bootdeploy=os/new.1 bootdeploy=os/bad\u{1b}id\n",  // the last one wins, and is malformed
        "root=UUID=1234 bootdeploy=os/ghost.9\n",           // well-formed, but no such deployment
        "root=UUID=1234 bootdeploy=\"os/ghost.9\"\n",
    ]

    @Test("check exits 2 (cannot judge) when bootdeploy= is missing, malformed or names no deployment", arguments: unidentifiable)
    func checkExits2(_ cmdline: String) throws {
        let f = machine(cmdline: cmdline)
        let r = try f.cli(["check"])
        #expect(r.status == 2, "\(cmdline.debugDescription): \(r.status) \(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("bootdeploy"), "\(r.stderr)")
        #expect(!r.stderr.contains("\u{1b}"))
    }

    @Test("run, mark-good, mark-bad and run --phase bless refuse it: nothing marked, renamed, demoted or rebooted",
          arguments: ["root=UUID=1234 bootdeploy=os/ghost.9\n", "root=UUID=1234 bootdeploy=os/../x\n", "root=UUID=1234\n"])
    func verbsRefuse(_ cmdline: String) throws {
        for verb in [["run", "--phase", "check"], ["run", "--phase", "bless"], ["mark-good"], ["mark-bad", "--reboot"]] {
            let f = machine(cmdline: cmdline)
            let r = try f.cli(verb)
            #expect(r.status == 2, "\(verb) \(cmdline.debugDescription): \(r.status) \(r.stdout)\(r.stderr)")
            #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+2-1.conf"], "\(verb): /boot changed")
            #expect(f.statusRecord()["bad"] as? [String] ?? [] == [], "\(verb): \(f.statusRecord())")
            #expect(f.history().isEmpty, "\(verb): \(f.history())")
            if !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
                #expect(r.stderr.contains("boot-health[c9eabe15]"), "\(verb): not logged with its MESSAGE_ID: \(r.stderr)")
            }
        }
    }

    @Test("run on a deployment that does not exist does not demote, mark bad or ask for a reboot; the record says why")
    func runDoesNotAct() throws {
        let f = machine(cmdline: "root=UUID=1234 bootdeploy=os/ghost.9\n")
        let o = order([("os/new.1", .indeterminate), ("os/old.0", .good)])
        let s = try f.service(o)
        #expect(throws: (any Error).self) { try s.run(phase: .all) }
        #expect(o.demoted.isEmpty)
        #expect(f.statusRecord()["booted"] == nil, "the stranger is not noted as booted")
        let last = f.statusRecord()["lastRun"] as? [String: Any]
        #expect(last?["decision"] as? String == "not-judged")
        #expect((last?["reason"] as? String)?.contains("os/ghost.9") == true, "\(last ?? [:])")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+2-1.conf"])
    }

    @Test("status says the booted deployment is unknown instead of calling it good")
    func statusSaysUnknown() throws {
        let f = machine(cmdline: "root=UUID=1234 bootdeploy=os/ghost.9\n")
        let r = try f.cli(["status", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(o?["booted"] == nil || o?["booted"] is NSNull, "\(r.stdout)")
        #expect((o?["warnings"] as? [String])?.contains { $0.contains("os/ghost.9") && $0.contains("no deployment") } == true, "\(r.stdout)")
    }

    @Test("a deployment known only by its record is judged; a bare tree without record or entry is not")
    func knownByRecord() throws {
        let f = HealthFixture(booted: "os/rec.2")
        f.tmp.write("sysroot/bootdeploy/os/deploy/rec.2.json", "{}")
        f.check("required", "10-ok", "exit 0")
        #expect(try f.cli(["check"]).status == 0)
        let g = HealthFixture(booted: "os/tree.3")
        g.tmp.mkdir("sysroot/bootdeploy/os/deploy/tree.3/usr")
        #expect(try g.cli(["check"]).status == 2)
    }
}
