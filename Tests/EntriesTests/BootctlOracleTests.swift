import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// Compares our reading and ordering of entry directories with what the real bootctl 252 prints.
@Suite("bootctl oracle", .serialized)
struct BootctlOracleTests {
    // MARK: Generating entry sets

    static func randomName(_ g: inout SeededGenerator) -> String {
        let bases = ["bd-os-001", "bd-os-002", "bd-os-010", "debian-6.1.0-13", "fedora-6.5.0", "a", "B",
                     "arch", "Zed", "x_y", "v1.2", "os-6.1.0~rc1", "os-6.1.0^1", "auto-thing", "win"]
        var base = g.chance(0.6) ? g.pick(bases)
            : String((0..<g.int(1...8)).map { _ in g.pick(Array("abcXYZ019-_.+")) })
        if g.chance(0.04) { base += g.pick(["~1", "@x", " sp", "é"]) }   // names bootctl refuses
        let counter: String
        switch g.int(0...12) {
        case 0, 1: counter = "+\(g.int(0...5))"
        case 2, 3: counter = "+\(g.int(1...9))-\(g.int(0...9))"
        case 4: counter = "+0-\(g.int(1...9))"
        case 5: counter = "+0\(g.int(0...3))-00\(g.int(0...3))"
        case 6: counter = g.pick(["+x", "+1-", "+-1", "+", "+1-2-3", "+2147483647", "+1-2147483647"])
        case 7: counter = g.pick(["+99999999999", "+2147483648", "+1-2147483648"])  // bootctl refuses
        default: counter = ""
        }
        let suffix = g.chance(0.9) ? ".conf" : g.pick([".CONF", ".Conf", ".conF"])
        return base + counter + suffix
    }

    static func randomEntry(_ g: inout SeededGenerator) -> String {
        let versions = ["1", "2", "10", "1.1", "11", "1.1~rc1", "1.1^1", "6.1.0-13-amd64", "6.1.0-9-amd64",
                        "a", "001", "2.0~beta", "2.0^post1", "123.a", "~", "0", "_"]
        let sortKeys = ["bootdeploy", "debian", "fedora", "\"quoted\"", "Debian", "a b"]
        let machineIDs = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "m"]
        let paths = ["/vmlinuz", "vmlinuz-6.1", "/a//b/k", "/boot/./x", "/x/../y", "/dir/", "/bootdeploy/os/ab12/vmlinuz"]
        let words = ["root=UUID=1", "rw", "quiet", "bootdeploy=os/3f2a9c01b7de.0", "console=ttyS0", "a  b", "x=\"y z\""]
        var lines: [String] = []
        if g.chance(0.85) { lines.append("title " + g.pick(["Demo OS 1.0", "Débian ✓", "  spaced  ", "\"q\"", "T"])) }
        if g.chance(0.1) { lines.append("title Second Title") }
        if g.chance(0.75) { lines.append("version " + g.pick(versions)) }
        if g.chance(0.55) { lines.append("sort-key " + g.pick(sortKeys)) }
        if g.chance(0.4) { lines.append("machine-id " + g.pick(machineIDs)) }
        if g.chance(0.8) { lines.append("linux " + g.pick(paths)) }
        if g.chance(0.05) { lines.append("efi /EFI/tool.efi") }
        for _ in 0..<g.int(0...3) { lines.append("initrd " + g.pick(paths)) }
        for _ in 0..<g.int(0...3) { lines.append("options " + (0..<g.int(1...3)).map { _ in g.pick(words) }.joined(separator: " ")) }
        if g.chance(0.1) { lines.append("devicetree " + g.pick(paths)) }
        if g.chance(0.1) { lines.append("devicetree-overlay /o1 o2  /o3") }
        if g.chance(0.1) { lines.append("architecture " + g.pick(["x64", "aa64"])) }
        if g.chance(0.2) { lines.append("x-unknown " + g.pick(words)) }
        if g.chance(0.1) { lines.append(g.pick(["version", "options", "title  ", "sort-key\t"])) }   // no value
        if g.chance(0.2) { lines.append("# " + g.pick(words)) }
        if g.chance(0.2) { lines.append("") }
        lines.shuffle(using: &g)
        let eol = g.chance(0.15) ? "\r\n" : "\n"
        return lines.map { (g.chance(0.15) ? g.pick(["  ", "\t", " \t "]) : "") + $0.replacingOccurrences(of: " ", with: g.chance(0.1) ? "\t" : " ") }
            .joined(separator: eol) + eol
    }

    // MARK: Comparing one set

    struct Tally { var sets = 0, entries = 0, symlinkSets = 0, listed = 0 }

    /// Checks one directory: bootctl's records against our parse of the same files, and bootctl's
    /// order against `BootOrder.bootctl`. Returns how many entries bootctl listed.
    static func check(root: String, records: [[String: Any]], seed: UInt64) throws -> Int {
        let loaded = try EntryDirectory.load(Directory.open(root), path: "loader/entries")
        #expect(loaded.errors.isEmpty, "seed \(seed): \(loaded.errors)")
        let ours = BootOrder.bootctl(loaded.entries)
        let byFile = Dictionary(uniqueKeysWithValues: loaded.entries.map { ($0.name.fileName, $0) })

        let bootctlFiles = records.map { (($0["path"] as? String) ?? "").split(separator: "/").last.map(String.init) ?? "" }
        #expect(bootctlFiles.count == ours.count,
                "seed \(seed): bootctl listed \(bootctlFiles), we expect \(ours.map(\.name.fileName))")
        guard bootctlFiles.count == ours.count else { return records.count }

        // The order, up to runs of entries that compare equal (bootctl leaves those in directory order).
        var i = 0
        let keys = ours.compactMap(BootOrder.BootctlKey.init)
        while i < ours.count {
            var j = i + 1
            while j < ours.count && BootOrder.BootctlKey.compare(keys[i], keys[j]) == 0 { j += 1 }
            let want = Set(ours[i..<j].map(\.name.fileName)), got = Set(bootctlFiles[i..<j])
            #expect(want == got, "seed \(seed): positions \(i)..<\(j): bootctl \(bootctlFiles), ours \(ours.map(\.name.fileName))")
            i = j
        }

        for (file, rec) in zip(bootctlFiles, records) {
            guard let le = byFile[file] else { Issue.record("seed \(seed): bootctl listed \(file), we did not"); continue }
            let e = le.entry
            let name = try #require(BootctlName(file))
            let ctx = "seed \(seed) \(file)"
            #expect(rec["id"] as? String == name.id, "\(ctx)")
            // For every entry bootctl lists, systemd-boot's reading of the name (EntryFileName)
            // finds the same counter, and bootctl's id is EntryFileName's id plus the suffix.
            #expect(rec["id"] as? String == le.name.id + le.name.suffix, "\(ctx)")
            #expect(le.name.counter?.left == name.triesLeft, "\(ctx)")
            #expect(le.name.counter.map(\.done) == name.triesLeft.map { _ in name.triesDone ?? 0 }, "\(ctx)")
            #expect(rec["title"] as? String == e.title, "\(ctx)")
            #expect(rec["version"] as? String == e.version, "\(ctx)")
            #expect(rec["sortKey"] as? String == e.sortKey, "\(ctx)")
            #expect(rec["machineId"] as? String == e.machineID, "\(ctx)")
            #expect(rec["architecture"] as? String == e.architecture, "\(ctx)")
            #expect(rec["options"] as? String == (e.options.isEmpty ? nil : e.commandLine), "\(ctx)")
            #expect(rec["linux"] as? String == e.linux.flatMap(BootEntry.bootctlPath), "\(ctx)")
            #expect(rec["efi"] as? String == e.efi.flatMap(BootEntry.bootctlPath), "\(ctx)")
            #expect(rec["devicetree"] as? String == e.devicetree.flatMap(BootEntry.bootctlPath), "\(ctx)")
            let initrd = e.initrd.compactMap(BootEntry.bootctlPath)
            #expect((rec["initrd"] as? [String]) ?? [] == initrd, "\(ctx)")
            let overlays = e.devicetreeOverlay.compactMap(BootEntry.bootctlPath)
            #expect((rec["devicetreeOverlay"] as? [String]) ?? [] == overlays, "\(ctx)")
            #expect(rec["triesLeft"] as? Int == name.triesLeft, "\(ctx)")
            #expect(rec["triesDone"] as? Int == name.triesDone, "\(ctx)")
        }
        return records.count
    }

    @Test("our parse and bootctl order agree with bootctl 252 on random entry sets, plain and loader -> loader.1")
    func randomSets() throws {
        guard try bootctlAvailable("bootctl oracle") else { return }
        let tmp = TempDir("bd-oracle")
        let setCount = 240
        var dirs: [String] = []
        var symlinked = 0
        var generated = 0
        for s in 0..<setCount {
            var g = SeededGenerator(seed: UInt64(s))
            let root = tmp.sub("set-\(s)")
            // Every fourth set uses the ext4 layout BootDeploy writes: loader -> loader.1.
            let entriesDir: String
            if s % 4 == 3 {
                entriesDir = root + "/loader.1/entries"
                try FileManager.default.createDirectory(atPath: entriesDir, withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(atPath: root + "/loader", withDestinationPath: "loader.1")
                symlinked += 1
            } else {
                entriesDir = root + "/loader/entries"
                try FileManager.default.createDirectory(atPath: entriesDir, withIntermediateDirectories: true)
            }
            var names = Set<String>()
            for _ in 0..<g.int(1...10) { names.insert(Self.randomName(&g)) }
            if g.chance(0.1) { names.insert(".hidden.conf") }
            for n in names.sorted() {
                try Data(Self.randomEntry(&g).utf8).write(to: URL(fileURLWithPath: entriesDir + "/" + n))
            }
            if g.chance(0.1) { try Data("not an entry".utf8).write(to: URL(fileURLWithPath: entriesDir + "/README")) }
            generated += names.count
            dirs.append(root)
        }

        let started = Date()
        let results = try bootctlList(dirs)
        let bootctlSeconds = Date().timeIntervalSince(started)
        var listed = 0
        for (s, root) in dirs.enumerated() {
            guard let records = results[root] else {
                let err = (try? String(contentsOfFile: root + ".stderr", encoding: .utf8)) ?? ""
                Issue.record("seed \(s): bootctl failed: \(err)")
                continue
            }
            listed += try Self.check(root: root, records: records, seed: UInt64(s))
        }
        print("bootctl oracle: \(setCount) sets (\(symlinked) with loader -> loader.1), \(generated) entry files, "
              + "\(listed) entries listed by bootctl compared field by field and in order; bootctl took "
              + String(format: "%.1f s", bootctlSeconds))
        #expect(listed > setCount * 2)
    }

    @Test("bootctl refuses exactly the names BootctlName refuses, and lists the rest")
    func oddNames() throws {
        guard try bootctlAvailable("bootctl odd names") else { return }
        let tmp = TempDir("bd-oracle-names")
        let dir = tmp.sub("esp")
        try FileManager.default.createDirectory(atPath: dir + "/loader/entries", withIntermediateDirectories: true)
        let names = ["a+3.conf", "b+3.CONF", "c+99999999999.conf", "d+2147483648.conf", "e+0-3.conf", "j+1-x.conf",
                     "k+-1.conf", "l+1-.conf", "m+01-002.conf", "auto-n.conf", "ti~lde.conf", "ca^ret.conf", "at@x.conf",
                     "sp ace.conf", "uni-é.conf", "col:on.conf", "x+1.conf.conf", "y.conf+1.conf", "q+2147483647.conf",
                     "w+1-2147483647.conf", "w2+1-2147483648.conf", "u++1.conf", "+1.conf", "a-b.conf", "Z.Conf"]
        for n in names { try Data("title \(n)\nlinux /k\n".utf8).write(to: URL(fileURLWithPath: dir + "/loader/entries/" + n)) }
        let records = try #require(try bootctlList([dir])[dir])
        let listed = Set(records.compactMap { ($0["path"] as? String)?.split(separator: "/").last.map(String.init) })
        #expect(listed == Set(names.filter { BootctlName($0) != nil }))
        _ = try Self.check(root: dir, records: records, seed: 0)
    }
}
