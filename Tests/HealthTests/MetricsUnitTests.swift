import Foundation
import Testing
import TestSupport

@Suite("The metrics units")
struct MetricsUnitTests {
    static let unitsDir = UnitFileTests.unitsDir

    func lines(_ unit: String) throws -> [String] {
        try String(contentsOfFile: "\(Self.unitsDir)/\(unit)", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test("boot-health-metrics.path and .service pass systemd-analyze verify")
    func verify() throws {
        guard TestEnv.have("systemd-analyze") else { try TestEnv.skip("metricsVerify", because: "systemd-analyze is not installed") }
        let t = TempDir("units")
        for u in ["boot-health-metrics.path", "boot-health-metrics.service"] {
            try FileManager.default.copyItem(atPath: "\(Self.unitsDir)/\(u)", toPath: t.sub(u))
        }
        let r = try run("/usr/bin/systemd-analyze", ["verify", t.sub("boot-health-metrics.path"), t.sub("boot-health-metrics.service")],
                        env: ["SYSTEMD_UNIT_PATH": t.path + ":"])
        let problems = (r.stdout + r.stderr).split(separator: "\n").filter { !$0.contains("is not executable") && !$0.contains("man ") }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("the path unit watches the file boot-health writes, and the service's command line writes the textfile")
    func pathAndCommandAgreeWithTheBinary() throws {
        let path = try lines("boot-health-metrics.path")
        let watched = path.first { $0.hasPrefix("PathChanged=") }.map { String($0.dropFirst("PathChanged=".count)) }
        #expect(watched == "/sysroot/bootdeploy/health/status.json")

        // The record really is there: a decision writes it below --sysroot.
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        _ = try f.cli(["mark-bad", "--reason", "test"])
        #expect(FileManager.default.fileExists(atPath: f.sysroot + "/bootdeploy/health/status.json"))

        // ExecStart as systemd would run it, with the fixture's roots added after the subcommand.
        let service = try lines("boot-health-metrics.service")
        let dirDefault = service.first { $0.hasPrefix("Environment=TEXTFILE_DIR=") }
        #expect(dirDefault == "Environment=TEXTFILE_DIR=/var/lib/prometheus/node-exporter")
        let exec = try #require(service.first { $0.hasPrefix("ExecStart=") })
        let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(words.first == "/usr/bin/boot-health")
        f.tmp.mkdir("collector")
        let args = words.dropFirst().map { $0 == "${TEXTFILE_DIR}" ? f.tmp.sub("collector") : $0 }
        let r = try f.cli(Array(args))
        #expect(r.ok, "\(r.stderr)")
        #expect(f.tmp.read("collector/bootdeploy.prom")?.contains("bootdeploy_health_state{stateroot=\"os\",deployment=\"new.1\",state=\"bad\"} 1") == true)
    }
}
