import BootDeploy
import BootDeployHealth
import Foundation
import Testing
import TestSupport

func ordered(_ items: [(String, DeploymentHealth)]) -> RecordingOrdering {
    RecordingOrdering(items.map { key, state in
        let p = key.split(separator: "/").map(String.init)
        return OrderedDeployment(stateroot: p[0], id: p[1], entryFileName: nil, state: state)
    })
}

@Suite("Boot counting and blessing")
struct CountingTests {
    @Test("blessing drops the counter, marking bad sets +0-DONE, as systemd-bless-boot does")
    func blsRenames() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bd-os-002+2-1.conf")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        _ = try s.markGood()
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        // A later mark-bad in the same boot keeps DONE from the name the boot loader gave it.
        let d = try s.markBad(reason: "by test", reboot: false)
        #expect(d.decision == "marked-bad")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"])
        #expect((f.statusRecord()["bad"] as? [String]) == ["os/new.1"])
        #expect(f.history().last?["reason"] as? String == "by test")
        // mark-good after mark-bad undoes it (bless-boot good from bad).
        _ = try s.markGood()
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        #expect((f.statusRecord()["bad"] as? [String]) == [])
    }

    @Test("a counter without DONE becomes +0 when marked bad")
    func noDone() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+3.conf", deployment: "os/new.1", rank: "002")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        _ = try s.markBad(reason: nil, reboot: false)
        #expect(f.entries() == ["bd-os-002+0.conf"])
    }

    @Test("a stale blessed twin is replaced by the counted entry that booted, in one rename")
    func staleTwinBless() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+1-2.conf", deployment: "os/new.1", rank: "002")
        f.tmp.write("boot/loader.1/entries/bd-os-002.conf", "title stale\nversion 002\noptions bootdeploy=os/new.1\n")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bd-os-002+1-2.conf")
        let counted = try String(contentsOfFile: f.entriesDir + "/bd-os-002+1-2.conf", encoding: .utf8)
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        _ = try s.markGood()
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        #expect(try String(contentsOfFile: f.entriesDir + "/bd-os-002.conf", encoding: .utf8) == counted)
    }

    @Test("marking bad beside a stale blessed twin removes the twin, so the bad mark holds")
    func staleTwinBad() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+1-2.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        _ = try s.markBad(reason: "twin", reboot: false)
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-2.conf"])
    }

    @Test("a blessed name that belongs to another deployment is never replaced")
    func foreignTwin() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+1-2.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-002.conf", deployment: "os/other.3", rank: "002")
        let s = try f.service(ordered([("os/new.1", .indeterminate)]))
        #expect(throws: HealthError.self) { try s.markGood() }
        #expect(f.entries() == ["bd-os-002+1-2.conf", "bd-os-002.conf"])
    }

    @Test("LoaderBootCountPath naming another deployment's entry is not trusted over bootdeploy=")
    func efiCrossCheck() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001+2-1.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bd-os-001+2-1.conf")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .indeterminate)]))
        _ = try s.markGood()
        #expect(f.entries() == ["bd-os-001+2-1.conf", "bd-os-002.conf"])
    }

    @Test("software counter exhausted: marked bad, demoted, the previous good one becomes default")
    func softwareExhausted() throws {
        let f = HealthFixture()
        f.conf("[Boot]\nMaxAttempts=3\nRebootOnFailure=no\n")
        f.tmp.write("sysroot/bootdeploy/os/deploy/new.1.attempts", "4\n")
        f.check("required", "10-ok", "exit 0")
        let order = ordered([("os/new.1", .indeterminate), ("os/old.0", .good)])
        let s = try f.service(order)
        let d = try s.run(phase: .check)
        #expect(d.decision == "marked-bad")
        #expect(d.reason?.contains("exhausted") == true)
        #expect(order.demoted == ["os/new.1"])
        #expect(order.first == "os/old.0")
        #expect((f.statusRecord()["bad"] as? [String]) == ["os/new.1"])
        #expect(f.statusRecord()["state"] as? String == "bad")
        let report = try s.statusReport()
        #expect(report.booted?.counter.rawValue == "software")
        #expect(report.booted?.state.rawValue == "bad")
    }

    @Test("an attempts file that is not a count is refused naming the file and the value (\"1x2\" is not 12)")
    func garbledAttempts() throws {
        for garbled in ["1x2\n", "-1\n", "\n", "9999999999\n"] {
            let f = HealthFixture()
            f.conf("[Boot]\nMaxAttempts=3\n")
            f.tmp.write("sysroot/bootdeploy/os/deploy/new.1.attempts", garbled)
            f.check("required", "10-ok", "exit 0")
            let e = #expect(throws: (any Error).self) {
                _ = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)])).run(phase: .check)
            }
            let text = e.map { "\($0)" } ?? ""
            let value = garbled.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(text.contains("new.1.attempts") && text.contains("'\(value)'"), "\(text)")
        }
        // Larger than any count: an error naming the file and why it cannot be read.
        let f = HealthFixture()
        f.conf("[Boot]\nMaxAttempts=3\n")
        f.tmp.write("sysroot/bootdeploy/os/deploy/new.1.attempts", String(repeating: "1", count: 100))
        let e = #expect(throws: (any Error).self) {
            _ = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)])).run(phase: .check)
        }
        let text = e.map { "\($0)" } ?? ""
        #expect(text.contains("new.1.attempts") && text.contains("cannot be read"), "\(text)")
    }

    @Test("software counter within MaxAttempts: checks pass, blessing removes the file")
    func softwareBless() throws {
        let f = HealthFixture()
        f.conf("[Boot]\nMaxAttempts=3\n")
        f.tmp.write("sysroot/bootdeploy/os/deploy/new.1.attempts", "2\n")
        f.check("required", "10-ok", "exit 0")
        let s = try f.service(ordered([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        // run --phase check decides only on failure; the bless unit blesses afterwards.
        #expect(try s.run(phase: .check).decision == "none")
        #expect(FileManager.default.fileExists(atPath: f.sysroot + "/bootdeploy/os/deploy/new.1.attempts"))
        _ = try s.markGood(by: .service)
        #expect(!FileManager.default.fileExists(atPath: f.sysroot + "/bootdeploy/os/deploy/new.1.attempts"))
        #expect(f.history().last?["event"] as? String == "blessed")
    }

    @Test("every deployment bad: stay up degraded, never reboot")
    func allBad() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.check("required", "10-bad", "echo broken; exit 1")
        let order = ordered([("os/new.1", .indeterminate), ("os/old.0", .bad)])
        let s = try f.service(order)
        // RebootOnFailure defaults to yes and no bus is reachable: a reboot attempt would throw.
        let d = try s.run(phase: .check)
        #expect(d.degraded)
        #expect(!d.rebootRequested)
        #expect(f.statusRecord()["state"] as? String == "degraded")
        #expect((f.statusRecord()["degradedReason"] as? String)?.contains("every deployment has failed") == true)
        #expect(f.history().last?["event"] as? String == "degraded")
        #expect(f.entries() == ["bd-os-002+0-1.conf"])
    }

    @Test("status shows a finalize failure stamp and the boot order")
    func finalizeStamp() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.tmp.write("sysroot/bootdeploy/finalize-failed.json", #"{"schema":1,"error":"ENOSPC writing /boot","at":1764612000}"#)
        let r = try f.cli(["status", "--json"])
        #expect(r.ok, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((o?["finalizeFailed"] as? [String: Any])?["error"] as? String == "ENOSPC writing /boot")
        let deps = o?["deployments"] as? [[String: Any]]
        #expect(deps?.map { $0["id"] as? String } == ["new.1", "old.0"])
        #expect(deps?.first?["isDefault"] as? Bool == true)
        let text = try f.cli(["status"])
        #expect(text.stdout.contains("FINALIZE FAILED"))
        // run reports it to the journal too (stderr here, without journald).
        let r2 = try f.cli(["run", "--phase", "check"])
        if !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
            #expect(r2.stderr.contains("boot-health[6bc704b5]"), "\(r2.stderr)")
            #expect(r2.stderr.contains("ENOSPC writing /boot"))
        }
    }

    @Test("a status file that cannot be read is reported and left alone")
    func corruptStatus() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.tmp.write("sysroot/bootdeploy/health/status.json", "{ not json")
        let r = try f.cli(["mark-good"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("status.json"))
        #expect(f.tmp.read("sysroot/bootdeploy/health/status.json") == "{ not json")
        #expect(f.entries() == ["bd-os-002+2-1.conf"])
    }
}
