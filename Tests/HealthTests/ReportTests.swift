import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// The booted new deployment (counted: `+2-1` after this boot's attempt) and the previous good one.
private func twoDeployments(_ f: HealthFixture) {
    f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
    f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
    f.loaderBootCountPath("bd-os-002+2-1.conf")
}

extension HealthFixture {
    /// `boot-health report ARGS` as a JSON object (exits non-zero -> recorded issue, empty object).
    func report(_ args: [String] = [], env: [String: String] = [:]) throws -> [String: Any] {
        let r = try cli(["report", "--json"] + args, env: env)
        #expect(r.ok, "\(r.stdout)\(r.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// A status record with these history events (`at`, `event`), as an earlier boot-health left it.
    func writeRecord(history: [(Int, String)], totals: String? = nil) {
        let events = history.map {
            "{\"at\": \($0.0), \"stateroot\": \"os\", \"id\": \"old.0\", \"event\": \"\($0.1)\", \"rebootRequested\": false, \"by\": \"service\"}"
        }
        tmp.write("sysroot/bootdeploy/health/status.json", """
            {"schema": 1, "state": "good", "history": [\(events.joined(separator: ","))], "reboots": [], "bad": []\(totals.map { ", \"totals\": " + $0 } ?? "")}
            """)
    }
}

@Suite("The fleet report", .serialized, .timeLimit(.minutes(2)))
struct ReportTests {
    @Test("after a rollback the report names the bad deployment, the reason, the failed check, the roles and one rollback")
    func afterRollback() throws {
        guard let bus = try SystemdMock.start("reportAfterRollback") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.check("required", "20-db", "echo 'database did not answer' >&2; exit 1")
        #expect(try f.cli(["run"], env: bus.env).status == 1)

        let r = try f.report(env: bus.env)
        #expect(r["apiVersion"] as? String == "bootdeploy/v1")
        #expect(r["kind"] as? String == "HealthReport")
        let roles = r["deployments"] as? [String: Any]
        #expect((roles?["booted"] as? [String: Any])?["id"] as? String == "new.1")
        #expect((roles?["booted"] as? [String: Any])?["state"] as? String == "bad")
        #expect((roles?["default"] as? [String: Any])?["id"] as? String == "old.0", "the bad one lost first place")
        #expect(roles?["rollback"] == nil, "nothing good is left behind the default: \(String(describing: roles))")
        let health = r["health"] as? [String: Any]
        #expect(health?["state"] as? String == "bad")
        #expect(health?["bad"] as? [String] == ["os/new.1"])
        let last = r["lastDecision"] as? [String: Any]
        #expect(last?["event"] as? String == "rollback")
        #expect(last?["id"] as? String == "new.1")
        #expect((last?["reason"] as? String)?.contains("20-db") == true)
        let checks = (r["lastRun"] as? [String: Any])?["checks"] as? [[String: Any]]
        #expect(checks?.first?["name"] as? String == "20-db")
        #expect(checks?.first?["result"] as? String == "failed")
        #expect((checks?.first?["output"] as? String)?.contains("database did not answer") == true)
        let window = r["window"] as? [String: Any]
        #expect(window?["rollbacks"] as? Int == 1)
        #expect(window?["markedBad"] as? Int == 1)
        #expect(window?["complete"] as? Bool == true)
        #expect(((r["totals"] as? [String: Any])?["os"] as? [String: Any])?["rollback"] as? Int == 1)
    }

    @Test("--since counts only the events from that time on, and says when the history may have dropped some")
    func sinceWindow() throws {
        let f = HealthFixture()
        twoDeployments(f)
        f.writeRecord(history: [(1000, "rollback"), (2000, "blessed"), (3000, "rollback"), (4000, "finalize-failed")])
        let all = try f.report()["window"] as? [String: Any]
        #expect(all?["rollbacks"] as? Int == 2)
        #expect(all?["finalizeFailures"] as? Int == 1)
        let since = try f.report(["--since", "@2500"])["window"] as? [String: Any]
        #expect(since?["from"] as? Int == 2500)
        #expect(since?["rollbacks"] as? Int == 1)
        #expect(since?["blessed"] as? Int == 0)
        #expect((since?["events"] as? [Any])?.count == 2)
        let iso = try f.report(["--since", "1970-01-01T00:33:20Z"])["window"] as? [String: Any]
        #expect(iso?["from"] as? Int == 2000)
        #expect(iso?["rollbacks"] as? Int == 1)
        #expect((try f.report(["--since", "2000-02-29T23:59:59Z"])["window"] as? [String: Any])?["from"] as? Int == 951_868_799)
        let ago = try f.report(["--since", "1h 30min"])
        #expect(((ago["window"] as? [String: Any])?["from"] as? Int).map { (ago["generatedAt"] as! Int) - $0 } == 5400)
        // The record predates `totals`: they are seeded from the history.
        let totals = try f.report()["totals"] as? [String: [String: Int]]
        #expect(totals?["os"]?["rollback"] == 2)

        // A full history whose oldest event is inside the window may have lost older ones.
        f.writeRecord(history: (0..<100).map { (5000 + $0, "blessed") })
        #expect((try f.report(["--since", "@4000"])["window"] as? [String: Any])?["complete"] as? Bool == false)
        #expect((try f.report(["--since", "@5050"])["window"] as? [String: Any])?["complete"] as? Bool == true)
    }

    @Test("a --since that is no time is refused naming the value")
    func badSince() throws {
        let f = HealthFixture()
        let r = try f.cli(["report", "--json", "--since", "yesterday-ish"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--since yesterday-ish"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("the totals survive the history's limit: a rollback 100 events ago is still counted")
    func totalsOutliveHistory() throws {
        guard let bus = try SystemdMock.start("totalsOutliveHistory") else { return }
        let f = HealthFixture()
        twoDeployments(f)
        f.writeRecord(history: [(1000, "rollback")] + (0..<99).map { (2000 + $0, "blessed") },
                      totals: "{\"os\": {\"rollback\": 1, \"blessed\": 99}}")
        #expect(try f.cli(["mark-good"], env: bus.env).ok)
        let r = try f.report(env: bus.env)
        #expect((r["window"] as? [String: Any])?["rollbacks"] as? Int == 0, "the rollback fell out of the history")
        #expect((r["totals"] as? [String: [String: Int]])?["os"]?["rollback"] == 1)
        #expect((r["totals"] as? [String: [String: Int]])?["os"]?["blessed"] == 100)
        let prom = try f.cli(["report", "--format", "prometheus"], env: bus.env)
        #expect(prom.stdout.contains("bootdeploy_rollbacks_total{stateroot=\"os\"} 1\n"), "\(prom.stdout)")
    }

    @Test("a failed finalize goes into the history once, however many runs see its stamp, and is counted")
    func finalizeFailureCountedOnce() throws {
        let f = HealthFixture()
        twoDeployments(f)
        f.tmp.write("sysroot/bootdeploy/finalize-failed.json",
                    "{\"schema\": 1, \"stateroot\": \"os\", \"id\": \"next.2\", \"error\": \"no space left on /boot\", \"time\": \"2026-12-01T18:00:00Z\"}\n")
        f.check("required", "10-ok", "true")
        for _ in 0..<2 { #expect(try f.cli(["run", "--phase", "check"]).ok) }
        let events = f.history().filter { $0["event"] as? String == "finalize-failed" }
        #expect(events.count == 1)
        #expect(events.first?["id"] as? String == "next.2")
        #expect(events.first?["at"] as? Int == 1_796_148_000)
        #expect((events.first?["reason"] as? String)?.contains("no space left on /boot") == true)
        let r = try f.report()
        #expect((r["window"] as? [String: Any])?["finalizeFailures"] as? Int == 1)
        #expect((r["finalizeFailure"] as? String)?.contains("no space left on /boot") == true)
        #expect((r["lastDecision"] as? [String: Any])?["event"] as? String != "finalize-failed", "a finding is not a decision")
        let prom = try f.cli(["report", "--format", "prometheus"])
        #expect(prom.stdout.contains("bootdeploy_finalize_failures_total{stateroot=\"os\"} 1\n"), "\(prom.stdout)")
    }

    @Test("an update staged but never finalized (no clean shutdown) is a finalize failure too; one staged in this boot is not")
    func neverFinalized() throws {
        let f = HealthFixture()
        twoDeployments(f)
        f.check("required", "10-ok", "true")
        let marker = "{\"schema\": 1, \"stateroot\": \"os\", \"id\": \"next.2\", \"tries\": 3, \"locked\": false, \"staged\": \"2026-12-01T18:00:00Z\"}\n"
        f.tmp.write("sysroot/bootdeploy/staged.json", marker)
        f.tmp.write("run/staged.json", marker)
        #expect(try f.cli(["run", "--phase", "check"]).ok)
        #expect(f.history().filter { $0["event"] as? String == "finalize-failed" }.isEmpty, "staged in this boot: waiting for shutdown")
        try FileManager.default.removeItem(atPath: f.tmp.sub("run/staged.json"))
        #expect(try f.cli(["run", "--phase", "check"]).ok)
        let events = f.history().filter { $0["event"] as? String == "finalize-failed" }
        #expect(events.count == 1)
        #expect((events.first?["reason"] as? String)?.contains("never finalized") == true)
        #expect(events.first?["at"] as? Int == 1_796_148_000)
    }

    @Test("the textfile is replaced atomically in the collector directory, and refused for a missing directory")
    func textfile() throws {
        let f = HealthFixture()
        twoDeployments(f)
        f.tmp.mkdir("collector")
        let r = try f.cli(["report", "--format", "prometheus", "--textfile-dir", f.tmp.sub("collector")])
        #expect(r.ok, "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.tmp.sub("collector")) == ["bootdeploy.prom"], "no temporary file left")
        let text = f.tmp.read("collector/bootdeploy.prom") ?? ""
        #expect(text.contains("bootdeploy_health_state{stateroot=\"os\",deployment=\"new.1\",state=\"unknown\"} 1\n"))
        #expect(text.contains("bootdeploy_boot_tries_left{stateroot=\"os\",deployment=\"new.1\"} 2\n"))
        let missing = try f.cli(["report", "--format", "prometheus", "--textfile-dir", f.tmp.sub("nope")])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains(f.tmp.sub("nope")), "\(missing.stderr)")
        #expect(try f.cli(["report", "--textfile-dir", f.tmp.sub("collector")]).status != 0, "--textfile-dir needs --format prometheus")
    }

    @Test("Prometheus text: HELP and TYPE once per family, label values escaped")
    func exposition() throws {
        #expect(PrometheusText.escapeLabelValue("a\\b\"c\nd") == "a\\\\b\\\"c\\nd")
        // A report as a collector would receive it, with a stateroot that needs escaping.
        let json = """
            {"apiVersion": "bootdeploy/v1", "kind": "HealthReport", "generatedAt": 5000,
             "deployments": {"booted": {"stateroot": "we\\"ird\\\\", "id": "x.1", "triesLeft": 1, "triesDone": 2}},
             "health": {"state": "checking", "triesLeft": 1, "triesDone": 2, "bad": []},
             "lastDecision": {"at": 4000, "stateroot": "we\\"ird\\\\", "id": "x.1", "event": "rollback", "rebootRequested": true, "by": "service"},
             "window": {"complete": true, "rollbacks": 1, "finalizeFailures": 0, "markedBad": 1, "blessed": 0,
                        "events": [{"at": 4000, "stateroot": "we\\"ird\\\\", "id": "x.1", "event": "rollback", "rebootRequested": true, "by": "service"}]},
             "totals": {"we\\"ird\\\\": {"rollback": 3}}, "warnings": []}
            """
        let report = try JSONDecoder().decode(HealthReport.self, from: Data(json.utf8))
        let text = PrometheusText.render(report)
        let lines = text.split(separator: "\n").map(String.init)
        let helps = lines.filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(helps).count == helps.count, "one HELP per family")
        for h in helps { #expect(lines.contains { $0.hasPrefix("# TYPE \(h) ") }) }
        #expect(lines.contains("bootdeploy_health_state{stateroot=\"we\\\"ird\\\\\",deployment=\"x.1\",state=\"checking\"} 1"), "\(text)")
        #expect(lines.contains("bootdeploy_rollbacks_total{stateroot=\"we\\\"ird\\\\\"} 3"))
        #expect(lines.contains("bootdeploy_last_rollback_timestamp_seconds{stateroot=\"we\\\"ird\\\\\",deployment=\"x.1\"} 4000"))
        #expect(lines.contains("# TYPE bootdeploy_rollbacks_total counter"))
        #expect(!lines.contains { $0.hasPrefix("bootdeploy_boot_tries_left") && !$0.hasSuffix(" 1") })
    }
}
