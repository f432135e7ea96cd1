import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// Issue 11, item 9f: many checks under a small descriptor limit, and `Parallelism=`.
@Suite("Check parallelism", .serialized)
struct ParallelismTests {
    @Test("700 wanted checks under ulimit -n 1024 all run and pass (no EMFILE)")
    func sevenHundred() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        for i in 0..<700 { f.check("wanted", String(format: "w%03d", i), "exit 0") }
        var r: RunResult?
        let t = try elapsed { r = try f.cliShell("ulimit -n 1024;", ["check", "--json"], seconds: 300) }
        print("PERF: 700 wanted checks, Parallelism=8 (default), ulimit -n 1024: \(String(format: "%.2f", t)) s")
        let o = try JSONSerialization.jsonObject(with: Data((r?.stdout ?? "").utf8)) as? [String: Any]
        let checks = o?["checks"] as? [[String: Any]] ?? []
        #expect(checks.count == 700)
        let bad = checks.filter { $0["result"] as? String != "passed" }
        #expect(bad.isEmpty, "\(bad.count) failed, e.g. \(bad.first ?? [:])")
        #expect(r?.status == 0, "\(r?.stderr ?? "")")
    }

    @Test("Parallelism= bounds how many wanted checks run at once, each with its own Timeout from its start")
    func bounded() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.conf("[Checks]\nParallelism=2\nTimeout=2s\n")
        // Each check notes how many are running beside it.
        let dir = f.tmp.sub("running")
        try f.shell("mkdir running")
        for i in 0..<6 {
            f.check("wanted", "w\(i)", "touch \(dir)/$$; ls \(dir) | wc -l >> \(f.tmp.sub("seen")); sleep 0.7; rm \(dir)/$$")
        }
        var r: RunResult?
        let t = try elapsed { r = try f.cli(["check"]) }
        #expect(r?.status == 0, "\(r?.stdout ?? "")\(r?.stderr ?? "")")
        let seen = (f.tmp.read("seen") ?? "").split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(seen.count == 6)
        #expect(seen.allSatisfy { $0 <= 2 }, "more than 2 at once: \(seen)")
        // Six 0.7 s checks two at a time: about 2.1 s, and none timed out although the whole
        // wanted phase is longer than Timeout=2s.
        #expect(t >= 2.0 && t < 6.0, "took \(t) s")
    }

    @Test("a Parallelism= above what the descriptor limit affords is lowered, with a warning, and every check still runs")
    func loweredToTheLimit() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.conf("[Checks]\nParallelism=256\n")
        for i in 0..<120 { f.check("wanted", String(format: "w%03d", i), "sleep 0.05") }
        let r = try f.cliShell("ulimit -n 128;", ["check"], seconds: 120)
        #expect(r.status == 0, "\(r.stdout.suffix(2000))\(r.stderr)")
        #expect(r.stderr.contains("Parallelism=256 lowered to") || r.stdout.contains("Parallelism=256 lowered to"), "\(r.stderr)")
        #expect(!r.stdout.contains("failed"), "\(r.stdout.suffix(2000))")
    }

    @Test("out of descriptors with nothing else running: a required check makes it 'cannot judge' (exit 2), never a silent failure")
    func exhausted() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.check("required", "10-ok", "exit 0")
        var outcomes: [Int32] = []
        for limit in 8...20 {
            let r = try f.cliShell("ulimit -n \(limit);", ["check"], seconds: 30)
            outcomes.append(r.status)
            switch r.status {
            case 0: #expect(r.stdout.contains("healthy"))
            case 2: #expect(r.stderr.contains("Too many open files"), "ulimit -n \(limit): \(r.stderr)")
            default: Issue.record("ulimit -n \(limit): exit \(r.status): \(r.stdout)\(r.stderr)")
            }
        }
        #expect(outcomes.contains(2) && outcomes.last == 0, "\(outcomes)")
        #expect(f.entries() == ["bd-os-002+2-1.conf"])
    }
}
