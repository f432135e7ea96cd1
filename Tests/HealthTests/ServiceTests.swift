import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// Two deployments: the booted new one, counted by systemd-boot (`+2-1` after this boot's
/// attempt), and the previous good one.
private func twoDeployments(_ f: HealthFixture) {
    f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
    f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
    f.loaderBootCountPath("bd-os-002+2-1.conf")
}

@Suite("Service against a systemd stand-in on a private bus", .serialized, .timeLimit(.minutes(2)))
struct ServiceTests {
    @Test("passing checks bless the booted entry and nothing reboots")
    func passBlesses() throws {
        guard let bus = try SystemdMock.start("passBlesses") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.check("required", "10-ok", "echo all good")
        f.hook("green", "10-note", "touch \(f.tmp.sub("green-ran"))")
        let r = try f.cli(["run"], env: bus.env)
        #expect(r.ok, "\(r.stdout)\(r.stderr)")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        #expect(bus.rebootRequests == 0)
        #expect(FileManager.default.fileExists(atPath: f.tmp.sub("green-ran")))
        let last = f.statusRecord()["lastRun"] as? [String: Any]
        #expect(last?["decision"] as? String == "blessed")
        #expect((last?["checks"] as? [[String: Any]])?.first?["output"] as? String == "all good\n")
        #expect(bus.callLog.contains("FinishTimestampMonotonic"))
    }

    @Test("a failing required check marks the entry +0-DONE, requests a reboot, and records why")
    func failingCheck() throws {
        guard let bus = try SystemdMock.start("failingCheck") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.check("required", "20-db", "echo 'database did not answer' >&2; exit 1")
        f.hook("red", "10-note", "touch \(f.tmp.sub("red-ran"))")
        let r = try f.cli(["run"], env: bus.env)
        #expect(r.status == 1)
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"])
        #expect(bus.rebootRequests == 1, "\(bus.callLog)")
        #expect(FileManager.default.fileExists(atPath: f.tmp.sub("red-ran")))
        // No journald here: the decision went to stderr, tagged with its MESSAGE_ID.
        if !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
            #expect(r.stderr.contains("boot-health[ac263c41]"), "\(r.stderr)")
        }
        let status = try f.cli(["status", "--json"], env: bus.env)
        #expect(status.stdout.contains("database did not answer"))
        let h = f.history().last
        #expect(h?["event"] as? String == "rollback")
        #expect((h?["reason"] as? String)?.contains("20-db") == true)
        #expect(h?["rebootRequested"] as? Bool == true)
        let deps = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["deployments"] as? [[String: Any]]
        #expect(deps?.first?["id"] as? String == "old.0", "the bad deployment must not stay first")
    }

    @Test("a hung check is cut off at its timeout: same outcome, in about the timeout")
    func hungCheck() throws {
        guard let bus = try SystemdMock.start("hungCheck") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.conf("[Checks]\nTimeout=2s\n")
        f.check("required", "10-hang", "echo waiting for the network; sleep 600")
        var r: RunResult?
        let t = try elapsed { r = try f.cli(["run"], env: bus.env) }
        #expect(r?.status == 1)
        #expect(t >= 2.0 && t < 5.0, "took \(t) s for a 2 s timeout")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"])
        #expect(bus.rebootRequests == 1)
        let checks = (f.statusRecord()["lastRun"] as? [String: Any])?["checks"] as? [[String: Any]]
        #expect(checks?.first?["result"] as? String == "timeout")
        #expect(checks?.first?["output"] as? String == "waiting for the network\n")
    }

    @Test("run waits for StartupFinished before it checks")
    func waitsForStartup() throws {
        guard let bus = try SystemdMock.start("waitsForStartup", startupFinished: false) else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.check("required", "10-mark", "touch \(f.tmp.sub("checked"))")
        let cli = try BackgroundCLI(f, ["run"], env: bus.env)
        defer { cli.stop() }
        #expect(cli.wait(1.5) == nil, "run must wait: \(cli.output)")
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("checked")))
        try bus.finishStartup()
        #expect(cli.wait(10) == 0, "\(cli.output)")
        #expect(FileManager.default.fileExists(atPath: f.tmp.sub("checked")))
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
    }

    @Test("a required service that fails during the grace period rolls the boot back")
    func graceFailure() throws {
        guard let bus = try SystemdMock.start("graceFailure") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.conf("[Boot]\nRequiredUnits=app.service\nGracePeriod=30s\n")
        try bus.addUnit("app.service", state: "active")
        let cli = try BackgroundCLI(f, ["run"], env: bus.env)
        defer { cli.stop() }
        // Blessed first, then watched.
        let until = Date().addingTimeInterval(10)
        while f.entries() != ["bd-os-001.conf", "bd-os-002.conf"] && Date() < until { usleep(50_000) }
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"], "\(cli.output)")
        #expect(cli.wait(0.5) == nil)
        try bus.setState("app.service", "failed")
        #expect(cli.wait(10) == 1, "\(cli.output)")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"], "DONE comes from the name the boot loader gave it")
        #expect(bus.rebootRequests == 1)
        #expect((f.history().last?["reason"] as? String)?.contains("app.service") == true)
    }

    @Test("a required unit that never becomes active fails the boot after its timeout")
    func unitTimeout() throws {
        guard let bus = try SystemdMock.start("unitTimeout") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.conf("[Boot]\nRequiredUnits=slow.service\n[Unit:slow.service]\nTimeout=1s\n")
        try bus.addUnit("slow.service", state: "activating")
        var r: RunResult?
        let t = try elapsed { r = try f.cli(["run"], env: bus.env) }
        #expect(r?.status == 1)
        #expect(t >= 1.0 && t < 4.0, "took \(t) s")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"])
        let units = (f.statusRecord()["lastRun"] as? [String: Any])?["units"] as? [[String: Any]]
        #expect(units?.first?["activeState"] as? String == "activating")
    }

    @Test("after the grace period a failure is reported, not rolled back; watching costs no wake-ups")
    func afterGrace() throws {
        guard let bus = try SystemdMock.start("afterGrace") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.conf("[Boot]\nRequiredUnits=app.service\nGracePeriod=2s\n")
        try bus.addUnit("app.service", state: "active")
        let cli = try BackgroundCLI(f, ["run"], env: bus.env)
        defer { cli.stop() }
        let until = Date().addingTimeInterval(10)
        while f.entries() != ["bd-os-001.conf", "bd-os-002.conf"] && Date() < until { usleep(50_000) }
        usleep(300_000)
        // Idle while watching: count wake-ups across the grace period's end and past it.
        let before = cli.contextSwitches
        let rss = cli.rssKiB
        sleep(4)
        let wakeups = cli.contextSwitches - before
        print("PERF: boot-health run watching 1 unit: RSS \(rss) KiB, \(wakeups) context switches in 4 s (grace period ended inside the window)")
        #expect(wakeups <= 10, "the watch polls: \(wakeups) wake-ups in 4 s")
        try bus.setState("app.service", "failed")
        let until2 = Date().addingTimeInterval(10)
        while !f.history().contains(where: { $0["event"] as? String == "failure-after-grace" }) && Date() < until2 { usleep(50_000) }
        #expect(f.history().contains { $0["event"] as? String == "failure-after-grace" }, "\(cli.output)")
        #expect(bus.rebootRequests == 0)
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        #expect(cli.wait(0.2) == nil, "the watcher keeps running")
        // Reported once, not again at every wake-up while the unit stays failed; again when it
        // recovers and fails anew.
        usleep(500_000)
        #expect(f.history().filter { $0["event"] as? String == "failure-after-grace" }.count == 1)
        let quiet = cli.contextSwitches
        sleep(1)
        #expect(cli.contextSwitches - quiet <= 5, "busy after reporting")
        try bus.setState("app.service", "active")
        try bus.setState("app.service", "failed")
        let until3 = Date().addingTimeInterval(10)
        while f.history().filter({ $0["event"] as? String == "failure-after-grace" }).count < 2 && Date() < until3 { usleep(50_000) }
        #expect(f.history().filter { $0["event"] as? String == "failure-after-grace" }.count == 2)
        #expect(f.statusRecord()["state"] as? String == "good", "a failure after the grace period does not change the verdict")
    }

    @Test("when every other deployment is bad too: stay up, degraded, no reboot")
    func allBad() throws {
        guard let bus = try SystemdMock.start("allBad") else { return }
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001+0-3.conf", deployment: "os/old.0", rank: "001")
        f.check("required", "10-bad", "exit 1")
        let r = try f.cli(["run"], env: bus.env)
        #expect(r.status == 1)
        #expect(r.stdout.contains("degraded"))
        #expect(bus.rebootRequests == 0)
        #expect(f.statusRecord()["state"] as? String == "degraded")
        let text = try f.cli(["status"], env: bus.env)
        #expect(text.stdout.contains("every deployment has failed"))
    }

    @Test("automatic reboots are rate-limited across boots (the count is persisted)")
    func rateLimit() throws {
        guard let bus = try SystemdMock.start("rateLimit") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.conf("[Boot]\nRebootLimitBurst=2\nRebootLimitInterval=1h\n")
        f.check("required", "10-bad", "exit 1")
        for _ in 0..<3 { _ = try f.cli(["run"], env: bus.env) }
        #expect(bus.rebootRequests == 2)
        #expect(f.history().last?["event"] as? String == "reboot-rate-limited")
        #expect((f.statusRecord()["reboots"] as? [Any])?.count == 2)
    }

    @Test("mark-bad reboots only when asked; mark-good blesses")
    func byHand() throws {
        guard let bus = try SystemdMock.start("byHand") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        #expect(try f.cli(["mark-bad", "--reason", "operator saw errors"], env: bus.env).ok)
        #expect(bus.rebootRequests == 0)
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"])
        #expect(f.history().last?["reason"] as? String == "operator saw errors")
        #expect(f.history().last?["by"] as? String == "manual")
        #expect(try f.cli(["mark-good"], env: bus.env).ok)
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        #expect(try f.cli(["mark-bad", "--reboot"], env: bus.env).ok)
        #expect(bus.rebootRequests == 1)
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002+0-1.conf"])
    }
}
