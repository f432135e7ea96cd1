import Testing
@testable import BootDeploy

@Suite("Entry file names and boot counters")
struct GrammarTests {
    private func name(_ s: String) throws -> EntryFileName { try #require(EntryFileName(s)) }

    @Test("a name without counter has the whole stem as id and no counter")
    func plain() throws {
        let n = try name("bd-os-001.conf")
        #expect(n.id == "bd-os-001")
        #expect(n.counter == nil)
        #expect(n.state == .good)
        #expect(n.fileName == "bd-os-001.conf")
    }

    @Test("+LEFT without -DONE means DONE 0, and the name renders back as spelled")
    func leftOnly() throws {
        let n = try name("a+3.conf")
        #expect(n.id == "a")
        #expect(n.counter == BootCounter(left: 3, done: 0))
        #expect(n.fileName == "a+3.conf")
        #expect(n.state == .indeterminate)
    }

    @Test("the last + starts the counter; earlier ones belong to the id")
    func lastPlus() throws {
        let n = try name("x+y+2-1.conf")
        #expect(n.id == "x+y")
        #expect(n.counter == BootCounter(left: 2, done: 1))
        let m = try name("u++1.conf")
        #expect(m.id == "u+")
        #expect(m.counter == BootCounter(left: 1, done: 0))
        let e = try name("+1.conf")
        #expect(e.id == "")
        #expect(e.counter?.left == 1)
    }

    @Test("an invalid counter is part of the id", arguments: [
        "a+x.conf", "a+1-.conf", "a+-1.conf", "a+1 .conf", "a+.conf", "a+1-2-3.conf", "a+1x.conf",
        "a+ 1.conf", "a+2147483648.conf", "a+1-2147483648.conf", "a+99999999999999999999999.conf",
        "a+3.conf.x.conf",
    ])
    func invalidCounter(_ file: String) throws {
        let n = try name(file)
        #expect(n.counter == nil, "\(file)")
        #expect(n.id + ".conf" == file)
        #expect(n.fileName == file)
    }

    @Test("leading zeros are a valid counter and survive rendering until the counter changes")
    func leadingZeros() throws {
        let n = try name("m+01-002.conf")
        #expect(n.counter == BootCounter(left: 1, done: 2))
        #expect(n.fileName == "m+01-002.conf")
        #expect(n.afterBootAttempt().fileName == "m+0-3.conf")
    }

    @Test("the largest counters systemd accepts, 2147483647, parse")
    func limits() throws {
        let n = try name("q+2147483647-2147483647.conf")
        #expect(n.counter == BootCounter(left: BootCounter.maximum, done: BootCounter.maximum))
        // DONE saturates at the limit, like systemd-boot's MIN(done + 1, INT_MAX).
        #expect(n.afterBootAttempt().counter == BootCounter(left: BootCounter.maximum - 1, done: BootCounter.maximum))
    }

    @Test("the .conf suffix is matched in any case, counters included, and kept as spelled")
    func suffixCase() throws {
        let n = try name("b+3.CONF")
        #expect(n.suffix == ".CONF")
        #expect(n.counter == BootCounter(left: 3, done: 0))
        #expect(n.id == "b")
        #expect(n.fileName == "b+3.CONF")
        // systemd-boot writes its new name with ".conf" (seen in the VM oracle).
        #expect(n.afterBootAttempt().fileName == "b+2-1.conf")
        #expect(n.blessed().fileName == "b.CONF")
        let m = try name("Z.Conf")
        #expect(m.id == "Z")
        #expect(m.fileName == "Z.Conf")
    }

    @Test("names that are not *.conf single components are refused", arguments: [
        "", "a.cfg", "conf", ".con", "a.conf.bak", "dir/a.conf", "a.conf/", "a\u{0}.conf", "a+3",
    ])
    func notConf(_ file: String) {
        #expect(EntryFileName(file) == nil, "\(file)")
    }

    @Test("a boot attempt moves one try from left to done, as systemd-boot renames")
    func attempt() throws {
        #expect(try name("a+3.conf").afterBootAttempt().fileName == "a+2-1.conf")
        #expect(try name("a+2-1.conf").afterBootAttempt().fileName == "a+1-2.conf")
        #expect(try name("a+1-2.conf").afterBootAttempt().fileName == "a+0-3.conf")
        #expect(try name("a+0-3.conf").afterBootAttempt().state == .bad)
    }

    @Test("booting an exhausted entry anyway still bumps DONE, like systemd-boot 252 (+0-3 -> +0-4)")
    func attemptExhausted() throws {
        #expect(try name("a+0-3.conf").afterBootAttempt().fileName == "a+0-4.conf")
        #expect(try name("a+0.conf").afterBootAttempt().fileName == "a+0-1.conf")
    }

    @Test("a name without counter is not renamed by a boot attempt")
    func attemptUncounted() throws {
        let n = try name("a.conf")
        #expect(n.afterBootAttempt() == n)
        let odd = try name("b+x.CONF")
        #expect(odd.afterBootAttempt() == odd)
    }

    @Test("blessing drops the counter and keeps id and suffix")
    func bless() throws {
        #expect(try name("bd-os-002+2-1.conf").blessed().fileName == "bd-os-002.conf")
        #expect(try name("a+0-3.conf").blessed().state == .good)
        #expect(try name("a.conf").blessed().fileName == "a.conf")
    }

    @Test("marking bad sets LEFT to 0 and keeps DONE, spelled like systemd-bless-boot")
    func bad() throws {
        #expect(try name("a+2-1.conf").markedBad().fileName == "a+0-1.conf")
        #expect(try name("a+3.conf").markedBad().fileName == "a+0.conf")
        #expect(try name("a+3.conf").markedBad().counter == BootCounter(left: 0, done: 0))
        #expect(try name("a+1-2.conf").markedBad().state == .bad)
        #expect(try name("a.conf").markedBad().fileName == "a+0.conf")
    }

    @Test("a new counter is +N-0 with N clamped to 1...9, and no counter for 0 tries")
    func fresh() {
        #expect(EntryFileName.withNewCounter(id: "bd-os-003", tries: 3).fileName == "bd-os-003+3-0.conf")
        #expect(EntryFileName.withNewCounter(id: "x", tries: 42).fileName == "x+9-0.conf")
        #expect(EntryFileName.withNewCounter(id: "x", tries: 1).fileName == "x+1-0.conf")
        #expect(EntryFileName.withNewCounter(id: "x", tries: 0).fileName == "x.conf")
        #expect(EntryFileName.withNewCounter(id: "x", tries: -5).counter == nil)
    }

    @Test("every rename keeps a fresh counted name's length, so a vfat rename never grows it")
    func fixedWidth() {
        for tries in 1...9 {
            var n = EntryFileName.withNewCounter(id: "bd-os-001", tries: tries)
            let length = n.fileName.utf8.count
            for _ in 0..<tries {
                n = n.afterBootAttempt()
                #expect(n.fileName.utf8.count == length)
                #expect(EntryFileName(n.fileName) == n)
            }
            #expect(n.state == .bad)
            #expect(n.markedBad().fileName.utf8.count == length)
        }
    }

    @Test("parsing what fileName renders gives the same id and counter back")
    func renderParse() {
        var g = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let id = String((0..<g.int(0...6)).map { _ in g.pick(Array("ab+-.1_9Z")) })
            let counter: BootCounter? = g.chance(0.3) ? nil : BootCounter(left: g.int(0...20), done: g.int(0...20))
            let n = EntryFileName(id: id, counter: counter)
            guard let back = EntryFileName(n.fileName) else { Issue.record("\(n.fileName) did not parse"); continue }
            if counter != nil {
                #expect(back.id == id && back.counter == counter, "\(n.fileName)")
            } else {
                // Without a counter, an id that itself ends in a counter is read as one.
                #expect(back.fileName == n.fileName)
            }
        }
    }

    @Test("bootctl's reading: counter before any suffix, overflow and odd characters refuse the entry")
    func bootctlReading() throws {
        let a = try #require(BootctlName("a+2-1.conf"))
        #expect(a.id == "a.conf" && a.triesLeft == 2 && a.triesDone == 1)
        let b = try #require(BootctlName("b+3.CONF"))
        #expect(b.id == "b.CONF" && b.triesLeft == 3 && b.triesDone == nil)
        let j = try #require(BootctlName("j+1-x.conf"))
        #expect(j.id == "j+1-x.conf" && j.triesLeft == nil)
        let y = try #require(BootctlName("y.conf+1.conf"))
        #expect(y.id == "y.conf.conf" && y.triesLeft == 1)
        #expect(BootctlName("c+99999999999.conf") == nil)
        #expect(BootctlName("w+1-2147483648.conf") == nil)
        #expect(BootctlName("ti~lde.conf") == nil)
        #expect(BootctlName("sp ace.conf") == nil)
        #expect(BootctlName("uni-é.conf") == nil)
        #expect(BootctlName("at@x.conf") == nil)
    }
}
