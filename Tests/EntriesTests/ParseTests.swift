import Testing
@testable import BootDeploy

@Suite("Entry parsing and rendering")
struct ParseTests {
    @Test("every key of the specification is read into its field")
    func allKeys() throws {
        let text = """
            title Demo OS 1.0
            version 1.0
            machine-id 0123456789abcdef0123456789abcdef
            sort-key demo
            linux /bootdeploy/os/k/vmlinuz
            efi /EFI/x.efi
            initrd /bootdeploy/os/k/ucode.img
            initrd /bootdeploy/os/k/initramfs.img
            options root=UUID=1 rw
            options quiet bootdeploy=os/1
            devicetree /dtb
            devicetree-overlay /o1 /o2
            devicetree-overlay /o3
            architecture x64

            """
        let e = try BootEntry.parse(text, file: "t.conf")
        #expect(e.title == "Demo OS 1.0")
        #expect(e.version == "1.0")
        #expect(e.machineID == "0123456789abcdef0123456789abcdef")
        #expect(e.sortKey == "demo")
        #expect(e.linux == "/bootdeploy/os/k/vmlinuz")
        #expect(e.efi == "/EFI/x.efi")
        #expect(e.initrd == ["/bootdeploy/os/k/ucode.img", "/bootdeploy/os/k/initramfs.img"])
        #expect(e.options == ["root=UUID=1 rw", "quiet bootdeploy=os/1"])
        #expect(e.commandLine == "root=UUID=1 rw quiet bootdeploy=os/1")
        #expect(e.devicetree == "/dtb")
        #expect(e.devicetreeOverlay == ["/o1", "/o2", "/o3"])
        #expect(e.architecture == "x64")
        #expect(e.unknown.isEmpty)
    }

    @Test("blanks, tabs, comments, empty lines and CR line ends are handled like the boot loaders")
    func whitespace() throws {
        let text = "  # a comment\r\n\r\n\ttitle\t  Spaced   Title \t\r\nversion 2\rsort-key  k\n  options  a  b  \n#options no\n"
        let e = try BootEntry.parse(text, file: "w.conf")
        #expect(e.title == "Spaced   Title")
        #expect(e.version == "2")
        #expect(e.sortKey == "k")
        #expect(e.options == ["a  b"])
    }

    @Test("a repeated single-valued key: the last one wins")
    func lastWins() throws {
        let e = try BootEntry.parse("title A\nlinux /a\ntitle B\nlinux /b\n", file: "d.conf")
        #expect(e.title == "B")
        #expect(e.linux == "/b")
    }

    @Test("a known key without value is ignored; an unknown one is kept bare")
    func noValue() throws {
        let e = try BootEntry.parse("title T\nversion\nversion   \noptions\nfoo\n", file: "n.conf")
        #expect(e.version == nil)
        #expect(e.options.isEmpty)
        #expect(e.unknown.count == 1 && e.unknown[0].key == "foo" && e.unknown[0].value == "")
        #expect(e.render() == "title T\nfoo\n")
    }

    @Test("keys are case-sensitive and values keep their quotes; systemd-boot's view drops one pair")
    func quotesAndCase() throws {
        let e = try BootEntry.parse("Title x\ntitle \"Quoted\"\n", file: "q.conf")
        #expect(e.title == "\"Quoted\"")
        #expect(BootEntry.systemdBootValue(e.title!) == "Quoted")
        #expect(BootEntry.systemdBootValue("\"") == "")
        #expect(BootEntry.systemdBootValue("\"a") == "\"a")
        #expect(e.unknown.map(\.key) == ["Title"])
    }

    @Test("unknown keys survive parse and render verbatim, in order")
    func unknownRoundTrip() throws {
        let text = "x-vendor  some  value\ntitle T\ngrub_users $grub_users\ngrub_class kernel\nx-vendor second\n"
        let e = try BootEntry.parse(text, file: "u.conf")
        #expect(e.unknown.map(\.key) == ["x-vendor", "grub_users", "grub_class", "x-vendor"])
        #expect(e.unknown[0].value == "some  value")
        let rendered = e.render()
        #expect(rendered == "title T\nx-vendor some  value\ngrub_users $grub_users\ngrub_class kernel\nx-vendor second\n")
        #expect(try BootEntry.parse(rendered, file: "u.conf") == e)
    }

    @Test("render writes the keys in a stable order")
    func renderOrder() {
        var e = BootEntry()
        e.architecture = "x64"
        e.options = ["b", "a"]
        e.linux = "/k"
        e.title = "T"
        e.sortKey = "s"
        e.version = "3"
        e.initrd = ["/i1", "/i2"]
        e.machineID = "m"
        e.unknown = [(key: "z", value: "1")]
        #expect(e.render() == """
            title T
            version 3
            machine-id m
            sort-key s
            linux /k
            initrd /i1
            initrd /i2
            options b
            options a
            architecture x64
            z 1

            """)
    }

    @Test("render cannot be tricked into writing extra lines by a value")
    func renderInjection() throws {
        var e = BootEntry()
        e.title = "evil\nlinux /other"
        e.options = ["a\r\nb"]
        e.unknown = [(key: "bad key", value: "x"), (key: "#c", value: "y"), (key: "ok", value: "v\nw")]
        let back = try BootEntry.parse(e.render(), file: "r.conf")
        #expect(back.linux == nil)
        #expect(back.title == "evil linux /other")
        #expect(back.options == ["a  b"])
        #expect(back.unknown.count == 1 && back.unknown[0].key == "ok" && back.unknown[0].value == "v w")
    }

    @Test("broken files are refused with file and line", arguments: [
        ([UInt8]("title a\nversion 1\ntitle \u{0}x\n".utf8), 3, "NUL"),
        ([UInt8]("title a\n".utf8) + [0x74, 0x69, 0x74, 0x6C, 0x65, 0x20, 0xFF, 0xFE, 0x0A], 2, "UTF-8"),
        ([UInt8]("a\r\nb\rc\n".utf8) + [0xC3], 4, "UTF-8"),
        ([0xED, 0xA0, 0x80], 1, "UTF-8"),   // an encoded surrogate
        ([0xF4, 0x90, 0x80, 0x80], 1, "UTF-8"),   // above U+10FFFF
        ([0xC0, 0xAF], 1, "UTF-8"),   // overlong
    ] as [([UInt8], Int, String)])
    func refused(_ bytes: [UInt8], _ line: Int, _ what: String) {
        do {
            _ = try BootEntry.parse(bytes: bytes, file: "bad.conf")
            Issue.record("parsed")
        } catch {
            #expect(error.file == "bad.conf")
            #expect(error.line == line)
            #expect(error.message.contains(what), "\(error)")
            #expect(error.description.hasPrefix("bad.conf:\(line): "))
        }
    }

    @Test("a line over 1 MiB is refused, one of exactly 1 MiB is read")
    func longLine() throws {
        let ok = "title " + String(repeating: "x", count: BootEntry.maximumLineLength - 6)
        #expect(try BootEntry.parse(ok, file: "l.conf").title?.utf8.count == BootEntry.maximumLineLength - 6)
        #expect(throws: EntryParseError.self) { try BootEntry.parse(ok + "y", file: "l.conf") }
    }

    @Test("valid multi-byte UTF-8 is accepted")
    func unicode() throws {
        let e = try BootEntry.parse("title Débian ✓ 𝔘\n", file: "u.conf")
        #expect(e.title == "Débian ✓ 𝔘")
    }

    @Test("parse then render then parse is the identity on random entries")
    func roundTrip() throws {
        var g = SeededGenerator(seed: 11)
        let words = ["a", "b=1", "quiet", "\"q\"", "Demo OS", "x\ty", "é", "root=UUID=1", "--", "#not-comment"]
        for seed in 0..<1000 {
            var text = ""
            for _ in 0..<g.int(0...12) {
                let key = g.pick(Array(BootEntry.knownKeys) + ["x-unknown", "grub_class", "Title"])
                let value = (0..<g.int(0...3)).map { _ in g.pick(words) }.joined(separator: g.pick([" ", "  ", "\t"]))
                text += g.pick(["", " ", "\t"]) + key + g.pick([" ", "\t", "   "]) + value + g.pick(["\n", "\r\n", " \n"])
                if g.chance(0.1) { text += "# comment\n\n" }
            }
            let e = try BootEntry.parse(text, file: "rt.conf")
            let again = try BootEntry.parse(e.render(), file: "rt.conf")
            #expect(again == e, "seed \(seed): \(text.debugDescription)")
            #expect(again.render() == e.render())
        }
    }

    @Test("bootctl's path reading: absolute, simplified, '..' and trailing '/' refused")
    func bootctlPaths() {
        #expect(BootEntry.bootctlPath("vmlinuz") == "/vmlinuz")
        #expect(BootEntry.bootctlPath("a/./b") == "/a/b")
        #expect(BootEntry.bootctlPath("//a//b") == "/a/b")
        #expect(BootEntry.bootctlPath("/x/.") == "/x")
        #expect(BootEntry.bootctlPath("/x/../y") == nil)
        #expect(BootEntry.bootctlPath("/dir/") == nil)
    }
}
