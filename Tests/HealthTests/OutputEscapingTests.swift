import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// Issue 11, item 9d: what checks print (and what names and configs say) never reaches a terminal,
/// the journal or the status record raw.
@Suite("Output escaping")
struct OutputEscapingTests {
    /// Bytes a terminal would act on: ESC (CSI, OSC title), BEL, CR, C1 CSI, a bidi override.
    static let hostile = "printf 'A\\033[2J\\033]0;pwned\\007B\\rC\\302\\233D\\342\\200\\256E\\n'"
    static let raw: [String] = ["\u{1b}", "\u{07}", "\r", "\u{9b}", "\u{202e}"]

    private func hostileFixture() -> HealthFixture {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.check("required", "10-noisy", Self.hostile + "; exit 1")
        f.check("wanted", "50-\u{1b}[31mred", Self.hostile)
        f.conf("[Checks]\nColour\u{1b}]0;x\u{07}=1\n")
        return f
    }

    private func expectClean(_ text: String, _ what: String) {
        for c in Self.raw { #expect(!text.contains(c), "\(what) carries \(c.unicodeScalars.first!.value) raw: \(text.debugDescription)") }
    }

    @Test("check prints check output, check names and config warnings escaped, as text and as JSON")
    func checkCommand() throws {
        let f = hostileFixture()
        let text = try f.cli(["check"])
        #expect(text.status == 1)
        expectClean(text.stdout, "check stdout")
        expectClean(text.stderr, "check stderr")
        #expect(text.stdout.contains("A\\u001b[2J\\u001b]0;pwned\\u0007B\\u000dC\\u009bD\\u202eE"), "\(text.stdout)")
        let json = try f.cli(["check", "--json"])
        expectClean(json.stdout, "check --json")
        let o = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let checks = o?["checks"] as? [[String: Any]] ?? []
        for c in checks {
            expectClean(c["output"] as? String ?? "", "decoded output")
            expectClean(c["name"] as? String ?? "", "decoded name")
        }
        #expect(checks.contains { ($0["name"] as? String) == "50-\\u001b[31mred" }, "\(checks)")
    }

    @Test("the status record, status, and the journal fallback hold the escaped text only")
    func recordAndJournal() throws {
        let f = hostileFixture()
        f.conf("[Boot]\nRebootOnFailure=no\n", dropIn: "10-noreboot.conf")
        let run = try f.cli(["run", "--phase", "check"])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        expectClean(run.stdout, "run stdout")
        expectClean(run.stderr, "run stderr (the journal fallback)")
        let bytes = try String(contentsOfFile: f.sysroot + "/bootdeploy/health/status.json", encoding: .utf8)
        expectClean(bytes, "status.json")
        for c in f.lastChecks() { expectClean(c["output"] as? String ?? "", "status.json decoded output") }
        for c in f.history() { expectClean(c["reason"] as? String ?? "", "history reason") }
        let status = try f.cli(["status"])
        expectClean(status.stdout, "status")
        let statusJSON = try f.cli(["status", "--json"])
        expectClean(statusJSON.stdout, "status --json")
        #expect((try? JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8))) != nil, "status --json stays JSON")
    }

    @Test("status escapes what it prints even from a status record or finalize stamp written by someone else")
    func foreignRecord() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        let evil = "\\u001b]0;owned\\u0007\\u009b31m"   // JSON escapes: the decoded text is raw
        f.tmp.write("sysroot/bootdeploy/health/status.json", """
            {"schema":1,"state":"bad","bad":[],"reboots":[],"history":[{"at":1,"stateroot":"os","id":"new.1",\
            "event":"marked-bad","reason":"\(evil)","rebootRequested":false,"by":"manual"}]}
            """)
        f.tmp.write("sysroot/bootdeploy/finalize-failed.json", "{\"error\":\"\(evil)\"}")
        let text = try f.cli(["status"])
        #expect(text.status == 0, "\(text.stderr)")
        expectClean(text.stdout, "status")
        #expect(text.stdout.contains("\\u001b]0;owned"), "\(text.stdout)")
        let json = try f.cli(["status", "--json"])
        expectClean(json.stdout, "status --json")
        #expect((try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) != nil, "status --json stays JSON: \(json.stdout)")
    }

    @Test("mark-bad --reason with control characters is stored and shown escaped")
    func manualReason() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        let r = try f.cli(["mark-bad", "--reason", "bad\u{1b}]0;t\u{07}\nREADY=1"])
        #expect(r.ok, "\(r.stderr)")
        let reason = f.history().last?["reason"] as? String ?? ""
        expectClean(reason, "reason")
        #expect(!reason.contains("\n"), "a reason is one line: \(reason.debugDescription)")
        expectClean(try f.cli(["status"]).stdout, "status")
    }

    @Test("the rule: controls become \\uXXXX, newline and tab survive only in multi-line text, twice is once")
    func rule() {
        #expect(SafeText.escape("a\u{1b}b\u{7f}c\u{85}d\u{2066}e\u{feff}", .multiLine) == "a\\u001bb\\u007fc\\u0085d\\u2066e\\ufeff")
        #expect(SafeText.escape("l1\n\tl2", .multiLine) == "l1\n\tl2")
        #expect(SafeText.escape("l1\n\tl2", .oneLine) == "l1\\u000a\\u0009l2")
        #expect(SafeText.escape("plain ünïcode ✓") == "plain ünïcode ✓")
        let once = SafeText.escape("x\u{1b}y\r", .multiLine)
        #expect(SafeText.escape(once, .multiLine) == once)
        #expect(SafeText.escape(bytes: [0x41, 0xff, 0x1b]) == "A\u{fffd}\\u001b")
    }
}
