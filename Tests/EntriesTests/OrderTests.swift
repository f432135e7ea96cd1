import Testing
@testable import BootDeploy

@Suite("Boot order of systemd-boot 252")
struct OrderTests {
    private func entry(_ file: String, _ keys: [String: String] = [:], linux: Bool = true) -> LoadedEntry {
        var e = BootEntry()
        e.title = keys["title"]
        e.version = keys["version"]
        e.sortKey = keys["sort-key"]
        e.machineID = keys["machine-id"]
        e.architecture = keys["architecture"]
        if linux { e.linux = "/vmlinuz" }
        return LoadedEntry(name: EntryFileName(file)!, entry: e)
    }

    private func order(_ es: [LoadedEntry]) -> [String] { BootOrder.systemdBoot(es).map(\.name.fileName) }

    @Test("entries with no tries left go last, whatever their sort-key or version")
    func exhaustedLast() {
        let es = [entry("z+0-3.conf", ["sort-key": "a", "version": "99"]), entry("a.conf"), entry("b+1-2.conf")]
        #expect(order(es) == ["b+1-2.conf", "a.conf", "z+0-3.conf"])
    }

    @Test("entries with sort-key come before those without")
    func sortKeyFirst() {
        let es = [entry("zzz.conf"), entry("aaa.conf", ["sort-key": "x"])]
        #expect(order(es) == ["aaa.conf", "zzz.conf"])
    }

    @Test("sort-key ascending, then machine-id ascending (missing first), then version newest first")
    func newStyle() {
        let es = [
            entry("1.conf", ["sort-key": "b", "version": "9"]),
            entry("2.conf", ["sort-key": "a", "machine-id": "m2", "version": "1"]),
            entry("3.conf", ["sort-key": "a", "machine-id": "m1", "version": "1"]),
            entry("4.conf", ["sort-key": "a", "machine-id": "m1", "version": "2"]),
            entry("5.conf", ["sort-key": "a", "version": "0"]),
        ]
        #expect(order(es) == ["5.conf", "4.conf", "3.conf", "2.conf", "1.conf"])
    }

    @Test("without sort-keys the id decides, newest first in version order")
    func byID() {
        let es = [entry("os-6.1.0-9.conf"), entry("os-6.1.0-13.conf"), entry("os-6.1.0~rc1.conf"), entry("os-6.1.0.conf")]
        // In version order "-" makes a string older than "." does: 6.1.0.conf is newer than 6.1.0-13.conf.
        #expect(order(es) == ["os-6.1.0.conf", "os-6.1.0-13.conf", "os-6.1.0-9.conf", "os-6.1.0~rc1.conf"])
    }

    @Test("systemd-boot compares ids in lower case (bootctl does not)")
    func lowerCase() {
        let es = [entry("a.conf"), entry("B.conf")]
        #expect(order(es) == ["B.conf", "a.conf"])
        #expect(BootOrder.bootctl(es).map(\.name.fileName) == ["a.conf", "B.conf"])
    }

    @Test("with sort-key, version ties fall back to the id")
    func versionTie() {
        let es = [entry("a.conf", ["sort-key": "s", "version": "1"]), entry("b.conf", ["sort-key": "s", "version": "1"])]
        #expect(order(es) == ["b.conf", "a.conf"])
    }

    @Test("the id includes the counter, so x+3 sorts before x+2-1; equal ids prefer more tries left")
    func counterInID() {
        let es = [entry("x+2-1.conf"), entry("x+3.conf")]
        #expect(order(es) == ["x+3.conf", "x+2-1.conf"])
        // Ids equal in version order (leading zeros, ignored characters) keep the input order.
        let ties = [entry("a_+01-2.conf"), entry("a+1-2.conf")]
        #expect(order(ties) == ["a_+01-2.conf", "a+1-2.conf"])
        #expect(order(ties.reversed()) == ["a+1-2.conf", "a_+01-2.conf"])
    }

    @Test("quotes around a value do not count for systemd-boot")
    func quoted() {
        let es = [entry("a.conf", ["sort-key": "\"b\""]), entry("b.conf", ["sort-key": "a"])]
        #expect(order(es) == ["b.conf", "a.conf"])
        #expect(BootOrder.bootctl(es).map(\.name.fileName) == ["a.conf", "b.conf"])
    }

    @Test("systemd-boot does not show auto-*, kernel-less or foreign-architecture entries")
    func hidden() {
        let es = [entry("auto-x.conf"), entry("nokernel.conf", linux: false), entry("arm.conf", ["architecture": "aa64"]),
                  entry("mine.conf", ["architecture": "x64"]), entry("plain.conf")]
        #expect(order(es) == ["plain.conf", "mine.conf"] || BootOrder.firmwareArchitecture != "x64")
        #expect(BootOrder.systemdBoot(es, architecture: "aa64").map(\.name.fileName) == ["plain.conf", "arm.conf"])
        #expect(BootOrder.bootctl(es).count == 5)
    }

    @Test("BootDeploy's own naming scheme gives one order in systemd-boot and bootctl")
    func ourScheme() {
        // Ranks as in docs/ON-DISK.md: sort-key bootdeploy, version = rank, the default has the highest.
        var g = SeededGenerator(seed: 3)
        for _ in 0..<200 {
            var es: [LoadedEntry] = []
            for rank in Set((0..<g.int(1...6)).map { _ in g.int(1...999) }) {
                let r = String(rank).leftPad(3)
                let name: EntryFileName = g.chance(0.5)
                    ? EntryFileName(id: "bd-os-\(r)", counter: nil)
                    : EntryFileName(id: "bd-os-\(r)", counter: BootCounter(left: g.int(0...3), done: g.int(0...3)))
                var e = BootEntry()
                e.sortKey = "bootdeploy"
                e.version = r
                e.linux = "/k"
                es.append(LoadedEntry(name: name, entry: e))
            }
            es.shuffle(using: &g)
            #expect(BootOrder.systemdBoot(es).map(\.name) == BootOrder.bootctl(es).map(\.name))
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
