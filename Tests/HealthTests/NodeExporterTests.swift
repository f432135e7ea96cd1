import Foundation
import Glibc
import Testing
import TestSupport

/// Debian's prometheus-node-exporter on 127.0.0.1, with only the textfile collector, reading a
/// temporary directory. Ended (SIGKILL: test children start with SIGTERM blocked) when the value goes.
final class NodeExporter: @unchecked Sendable {
    static let binary = "/usr/bin/prometheus-node-exporter"
    let process = Process()
    let port: Int
    let log: String

    init(textfileDir: String, log: String) throws {
        // A port the kernel just gave out and took back: free unless someone races us for it.
        let p = try run("/usr/bin/python3", ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        guard let port = Int(p.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw NodeExporterError("no free port: \(p.stderr)") }
        self.port = port
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
                             "--collector.textfile.directory=\(textfileDir)"]
        let out = FileHandle(forWritingAtPath: log)!
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let until = Date().addingTimeInterval(15)
        while (try? scrape()) == nil {
            if Date() > until || !process.isRunning {
                throw NodeExporterError("node_exporter did not answer on 127.0.0.1:\(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            usleep(100_000)
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// GET /metrics (bounded: 5 s).
    func scrape() throws -> String {
        let r = try run("/usr/bin/python3", ["-c", "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())",
                                             "http://127.0.0.1:\(port)/metrics"])
        guard r.ok else { throw NodeExporterError("scrape failed: \(r.stderr)") }
        return r.stdout
    }

    struct NodeExporterError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

/// The value of the sample `name` whose labels are exactly `labels` (any order), as node_exporter
/// prints it (Go float formatting: `1.7961e+09`); nil when there is none.
func sample(_ name: String, _ labels: [String: String], in text: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
        let body = line.dropFirst(name.count)
        var found: [String: String] = [:]
        var rest = Substring(body)
        if rest.hasPrefix("{") {
            guard let close = rest.lastIndex(of: "}") else { continue }
            for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                found[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            rest = rest[rest.index(after: close)...]
        }
        if found == labels { return Double(rest.trimmingCharacters(in: .whitespaces)) }
    }
    return nil
}

@Suite("node_exporter serves the report", .serialized, .timeLimit(.minutes(2)))
struct NodeExporterTests {
    @Test("node_exporter's textfile collector serves our series with the right values after a bless and after a rollback")
    func scrapeAfterBlessAndRollback() throws {
        guard FileManager.default.isExecutableFile(atPath: NodeExporter.binary) else {
            try TestEnv.skip("scrapeAfterBlessAndRollback", because: "prometheus-node-exporter is not installed")
        }
        guard let bus = try SystemdMock.start("scrapeAfterBlessAndRollback") else { return }
        let collector = TempDir("textfile")
        let exporter = try NodeExporter(textfileDir: collector.path, log: collector.sub("../node-exporter-\(getpid()).log"))
        defer { try? FileManager.default.removeItem(atPath: exporter.log) }
        let booted = ["stateroot": "os", "deployment": "new.1"]

        // A boot whose checks pass: blessed.
        let good = HealthFixture()
        good.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        good.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        good.loaderBootCountPath("bd-os-002+2-1.conf")
        good.check("required", "10-ok", "true")
        #expect(try good.cli(["run"], env: bus.env).ok)
        #expect(try good.cli(["report", "--format", "prometheus", "--textfile-dir", collector.path], env: bus.env).ok)
        let blessedAt = (good.history().last?["at"] as? Int).map(Double.init)
        let m1 = try exporter.scrape()
        #expect(sample("node_textfile_scrape_error", [:], in: m1) == 0, "node_exporter read our file: \(m1)")
        #expect(sample("bootdeploy_health_state", booted.merging(["state": "good"]) { a, _ in a }, in: m1) == 1)
        #expect(sample("bootdeploy_health_state", booted.merging(["state": "bad"]) { a, _ in a }, in: m1) == 0)
        #expect(sample("bootdeploy_boot_tries_left", booted, in: m1) == nil, "a blessed entry counts no tries")
        #expect(sample("bootdeploy_rollbacks_total", ["stateroot": "os"], in: m1) == 0)
        #expect(sample("bootdeploy_last_decision_timestamp_seconds", booted.merging(["decision": "blessed"]) { a, _ in a }, in: m1) == blessedAt)
        #expect(sample("bootdeploy_deployment_role", booted.merging(["role": "default"]) { a, _ in a }, in: m1) == 1)

        // The same machine's next update fails its check: marked bad, rolled back.
        let bad = HealthFixture()
        bad.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        bad.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        bad.loaderBootCountPath("bd-os-002+2-1.conf")
        bad.check("required", "20-db", "exit 1")
        #expect(try bad.cli(["run"], env: bus.env).status == 1)
        #expect(try bad.cli(["report", "--format", "prometheus", "--textfile-dir", collector.path], env: bus.env).ok)
        let rolledBackAt = (bad.history().last?["at"] as? Int).map(Double.init)
        let m2 = try exporter.scrape()
        #expect(sample("node_textfile_scrape_error", [:], in: m2) == 0)
        #expect(sample("bootdeploy_health_state", booted.merging(["state": "bad"]) { a, _ in a }, in: m2) == 1, "\(m2)")
        #expect(sample("bootdeploy_health_state", booted.merging(["state": "good"]) { a, _ in a }, in: m2) == 0)
        #expect(sample("bootdeploy_boot_tries_left", booted, in: m2) == 0)
        #expect(sample("bootdeploy_boot_tries_done", booted, in: m2) == 1)
        #expect(sample("bootdeploy_rollbacks_total", ["stateroot": "os"], in: m2) == 1)
        #expect(sample("bootdeploy_last_decision_timestamp_seconds", booted.merging(["decision": "rollback"]) { a, _ in a }, in: m2) == rolledBackAt)
        #expect(sample("bootdeploy_last_rollback_timestamp_seconds", booted, in: m2) == rolledBackAt)
        #expect(sample("bootdeploy_deployment_role", ["stateroot": "os", "deployment": "old.0", "role": "default"], in: m2) == 1)
    }
}
