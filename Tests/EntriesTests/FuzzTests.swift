import Foundation
import Testing
import TestSupport
@testable import BootDeploy

@Suite("Malformed input never crashes the entry layer")
struct FuzzTests {
    static func randomBytes(_ g: inout SeededGenerator) -> [UInt8] {
        let fragments: [[UInt8]] = [
            Array("title ".utf8), Array("options ".utf8), Array("linux /k\n".utf8), Array("version 1.1~rc1\n".utf8),
            Array("sort-key x\n".utf8), [0x0A], [0x0D], [0x0D, 0x0A], [0x09], [0x20], [0x00], [0x23],
            [0xFF], [0xC3], [0xC3, 0xA9], [0xE2, 0x9C, 0x93], [0xED, 0xA0, 0x80], [0xF0, 0x9D, 0x94, 0x98],
            [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0x80], Array("\"".utf8), Array("+3-1".utf8),
        ]
        // Half of the cases stay clean (valid UTF-8, no NUL) so that the parse-render path is
        // exercised as much as the refusal path.
        let clean = g.chance(0.5)
        let usable = clean ? fragments.filter { f in !f.contains(0) && (f.allSatisfy { $0 < 0x80 } || f.count > 1 && String(validating: f, as: UTF8.self) != nil) } : fragments
        var out: [UInt8] = []
        for _ in 0..<g.int(0...40) {
            if !clean && g.chance(0.3) {
                out += (0..<g.int(1...8)).map { _ in UInt8.random(in: 0...255, using: &g) }
            } else {
                out += g.pick(usable)
            }
        }
        return out
    }

    @Test("random and malformed entry bytes either parse or fail with FILE:LINE:")
    func bytes() {
        var g = SeededGenerator(seed: 99)
        var parsed = 0, refused = 0
        for i in 0..<20000 {
            let input = Self.randomBytes(&g)
            do {
                let e = try BootEntry.parse(bytes: input, file: "fuzz-\(i).conf")
                parsed += 1
                // Whatever parsed must survive render and parse again unchanged.
                let again = try BootEntry.parse(e.render(), file: "again.conf")
                #expect(again == e, "case \(i): \(input)")
            } catch {
                refused += 1
                #expect(error.line >= 1, "case \(i)")
                #expect(error.description.hasPrefix("fuzz-\(i).conf:\(error.line): "), "case \(i): \(error)")
                let lines = 1 + input.filter { $0 == 0x0A || $0 == 0x0D }.count
                #expect(error.line <= lines, "case \(i)")
            }
        }
        print("fuzz: 20000 byte inputs, \(parsed) parsed, \(refused) refused with file:line")
        #expect(parsed > 1000 && refused > 1000)
    }

    @Test("huge lines and huge files are refused or read, never a crash")
    func huge() throws {
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: BootEntry.maximumLineLength + 10)
        #expect(throws: EntryParseError.self) { try BootEntry.parse(bytes: Array("title ok\n".utf8) + long, file: "h.conf") }
        do {
            _ = try BootEntry.parse(bytes: Array("title ok\n\n".utf8) + long, file: "h.conf")
        } catch {
            #expect(error.line == 3)
        }
        // Many short lines are fine.
        let many = String(repeating: "options a\n", count: 100_000)
        #expect(try BootEntry.parse(many, file: "m.conf").options.count == 100_000)
    }

    @Test("random file names never crash the name grammar, and parsed names render back exactly")
    func names() {
        var g = SeededGenerator(seed: 5)
        let alphabet = Array("ab+-.019_ZCONFconf~^@ é\u{0}/")
        var accepted = 0
        for _ in 0..<20000 {
            var s = String((0..<g.int(0...12)).map { _ in g.pick(alphabet) })
            if g.chance(0.6) { s += g.pick([".conf", ".CONF", "+1.conf", "+0-9.conf", "+99999999999.conf", "+1-.conf"]) }
            if let n = EntryFileName(s) {
                accepted += 1
                #expect(n.fileName == s)
                #expect(EntryFileName(n.fileName) == n)
                _ = n.afterBootAttempt().fileName
                #expect(n.blessed().state == .good)
                #expect(n.markedBad().state == .bad)
                #expect(EntryFileName(n.afterBootAttempt().fileName)?.counter == n.afterBootAttempt().counter)
            } else {
                #expect(!s.lowercased().hasSuffix(".conf") || s.contains("/") || s.contains("\u{0}"), "\(s.debugDescription)")
            }
            _ = BootctlName(s)
        }
        #expect(accepted > 5000)
    }

    @Test("a directory with broken files reports each as an error and still loads the rest")
    func directory() throws {
        let tmp = TempDir("bd-entries-fuzz")
        tmp.mkdir("loader/entries")
        let dir = tmp.sub("loader/entries")
        var g = SeededGenerator(seed: 17)
        var broken = 0, good = 0
        for i in 0..<60 {
            let bytes: [UInt8]
            if g.chance(0.5) {
                bytes = Array("title ok \(i)\nlinux /k\n".utf8)
                good += 1
            } else {
                bytes = Array("title bad\n".utf8) + [0xFF, 0x00] + Self.randomBytes(&g)
                broken += 1
            }
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/e\(i).conf"))
        }
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.conf", withDestinationPath: "e0.conf")
        try FileManager.default.createDirectory(atPath: dir + "/subdir.conf", withIntermediateDirectories: true)
        try Data("ignored".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        try Data("title hidden\n".utf8).write(to: URL(fileURLWithPath: dir + "/.hidden.conf"))

        let r = try EntryDirectory.load(Directory.open(tmp.path), path: "loader/entries")
        #expect(r.entries.count == good)
        #expect(r.errors.count == broken + 1)   // + the symlink
        for e in r.errors {
            #expect(e.description.hasPrefix(e.file + ":\(e.line): "))
            #expect(e.file.hasPrefix(dir + "/"))
            #expect(e.line == 2 || (e.line == 0 && e.file.hasSuffix("link.conf")), "\(e)")
        }
        #expect(r.entries.allSatisfy { $0.entry.title?.hasPrefix("ok") == true })
    }
}
