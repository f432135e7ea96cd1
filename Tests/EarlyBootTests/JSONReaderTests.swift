import BootDeployEarlyBoot
import Foundation
import Testing

@Suite("Foundation-free JSON reader")
struct JSONReaderTests {
    @Test("parses every kind of value and keeps number literals")
    func parsesValues() throws {
        let v = try JSONValue.parse(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"\\\/\n\u00e9\ud83d\ude00"}, "big": 123456789012345678901} "#)
        #expect(v["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(v["b"]?["c"]?.string == "x\"\\/\n\u{e9}\u{1F600}")
        #expect(v["big"] == .number("123456789012345678901"))
        #expect(v["big"]?.int == nil, "an integer that does not fit is not silently truncated")
        #expect(v["a"]?.array?[1].double == -2500)
    }

    @Test("reports the line and column of the first error")
    func errorPositions() {
        let cases: [(String, Int, Int, String)] = [
            ("{\n  \"a\": 1,\n  \"b\": tru\n}", 3, 8, "invalid literal"),
            ("{\"a\": 1,}", 1, 9, "expected a key"),
            ("[1, 2", 1, 6, "end of input"),
            ("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate key"),
            ("\"abc", 1, 1, "unterminated"),
            ("\"a\tb\"", 1, 3, "control character"),
            ("01", 1, 1, "leading zero"),
            ("1 2", 1, 3, "after the document"),
            ("\"\\ud800\"", 1, 2, "surrogate"),
            ("", 1, 1, "end of input"),
            ("// c\n{}", 1, 1, "expected a value"),
        ]
        for (text, line, column, fragment) in cases {
            do {
                _ = try JSONValue.parse(text)
                Issue.record("accepted \(text.debugDescription)")
            } catch {
                #expect(error.line == line && error.column == column, "\(text.debugDescription): \(error)")
                #expect(error.message.contains(fragment), "\(text.debugDescription): \(error)")
            }
        }
    }

    @Test("refuses invalid UTF-8 and nesting beyond the limit")
    func refusesHostileInput() {
        #expect(throws: JSONError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONError.self) { try JSONValue.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) }
        #expect((try? JSONValue.parse(String(repeating: "[", count: 50) + String(repeating: "]", count: 50))) != nil)
    }

    @Test("reads a MountLayout exactly as JSONEncoder writes it")
    func readsEncoderOutput() throws {
        let layout = MountLayout(root: "bootdeploy/os/deploy/3f2a9c01b7de.0", mounts: [
            BindMount(origin: .physical, source: "", target: "/sysroot", readOnly: false, purpose: "sysroot"),
            BindMount(origin: .physical, source: "bootdeploy/os/var", target: "/var", readOnly: false, purpose: "var"),
            BindMount(origin: .deployment, source: "usr", target: "/usr", readOnly: true, purpose: "usr"),
        ])
        let data = try JSONEncoder().encode(layout)
        let parsed = try MountLayout(json: JSONValue.parse(Array(data)), file: "x")
        #expect(parsed == layout)
    }

    @Test("renders text that Foundation reads back to the same value")
    func renderRoundTrip() throws {
        let v = JSONValue.object(["s": .string("a\"b\\c\u{1}\n\u{e9}"), "n": .number("42"), "z": .null,
                                  "l": .array([.bool(true), .object([:])])])
        for text in [v.rendered(), v.renderedPretty()] {
            let back = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
            #expect(back["s"] as? String == "a\"b\\c\u{1}\n\u{e9}")
            #expect(back["n"] as? Int == 42)
            #expect(try JSONValue.parse(text) == v)
        }
    }

    @Test("fuzzing: mutated records never crash, and what is accepted Foundation accepts too")
    func fuzz() throws {
        let seed = Array(#"{"schema": 1, "stateroot": "os", "id": "a.0", "layout": {"version": 1, "root": "r", "mounts": [{"origin": "physical", "source": "", "target": "/sysroot", "readOnly": false}]}, "x": [1.5e-3, "\u00e9", null]}"#.utf8)
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("{}[]\",:\\/ 0123456789-+.eEtrufalsn\u{0}\n\tuabcdef".utf8) + [0xC3, 0xFF, 0x80]
        var accepted = 0, refused = 0
        for _ in 0..<3000 {
            var b = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[at] = alphabet.randomElement(using: &rng)!
                case 1: b.remove(at: at)
                default: b.insert(alphabet.randomElement(using: &rng)!, at: at)
                }
                if b.isEmpty { b = [0x7B] }
            }
            do {
                let v = try JSONValue.parse(b)
                accepted += 1
                let foundation = try? JSONSerialization.jsonObject(with: Data(b), options: [.fragmentsAllowed])
                #expect(foundation != nil, "accepted what Foundation refuses: \(String(decoding: b, as: UTF8.self))")
                #expect(try JSONValue.parse(v.rendered()) == v, "render/parse round trip")
            } catch {
                refused += 1
                #expect(error.offset >= 0 && error.offset <= b.count)
            }
        }
        #expect(accepted > 0 && refused > 0, "the fuzzer exercised both outcomes (\(accepted) accepted, \(refused) refused)")
    }

    @Test("fuzzing: random command lines and records give a name or one clean error line, never a crash")
    func fuzzCommandLineAndRecord() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("bootdeploy=os/a.0 \"\\..//-_\u{1}\u{7f}\n\tx".unicodeScalars)
        let name = DeploymentName(stateroot: "os", id: "a.0")
        for _ in 0..<2000 {
            var text = "bootdeploy="
            for _ in 0..<Int.random(in: 0...12, using: &rng) { text.unicodeScalars.append(alphabet.randomElement(using: &rng)!) }
            if let v = KernelCommandLine(text).last("bootdeploy") {
                do {
                    let n = try DeploymentName(argument: v)
                    #expect(DeploymentName.problem(n.stateroot) == nil && DeploymentName.problem(n.id) == nil)
                    let parts = n.deploymentPath.split(separator: "/", omittingEmptySubsequences: false)
                    #expect(parts.count == 4 && !parts.contains { $0.isEmpty || $0 == "." || $0 == ".." }, "\(n.deploymentPath)")
                } catch {
                    #expect(!PrepareRootError.printable(error.message).contains("\n"))
                }
            }
            var bytes = Array(#"{"schema": 1, "stateroot": "os", "id": "a.0", "layout": {"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "bootdeploy/os/var", "target": "/var", "readOnly": false}]}}"#.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            do {
                let r = try EarlyBootRecord.parse(bytes, file: "f", expected: name)
                try r.layout.validate(for: name, file: "f")
            } catch {
                #expect(error.message.hasPrefix("f"), "\(error.message)")
            }
        }
    }
}
