import BootDeploy
import BootDeployHealth
import BootDeploySystem
import Foundation
import Testing
import TestSupport

/// boot-health on a U-Boot machine: the BootDeploy boot script's counter (bdcount.a/.b) is the one
/// that counts; blessing clears its trial, marking bad leaves the trial no tries, and the entry's
/// name follows so that the next plan agrees.
@Suite("Boot counting through U-Boot's bdcount")
struct UBootCountingTests {
    func read(_ f: HealthFixture) throws -> UBootCounter? { UBootCounter.read(try Directory.open(f.boot)).current }

    @Test("bless: trial cleared in the newer copy, entry blessed; mark bad: no tries left, entry +0")
    func blessAndMarkBad() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+3.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        // U-Boot counted one try down (copy b, sequence 1); copy a is the older one.
        f.tmp.write("boot/bdcount.a", UBootCounter(trial: "os/new.1", left: 3, sequence: 0).render())
        f.tmp.write("boot/bdcount.b", UBootCounter(trial: "os/new.1", left: 2, sequence: 1).render())
        let s = try f.service(RecordingOrdering([OrderedDeployment(stateroot: "os", id: "new.1", entryFileName: nil, state: .indeterminate),
                                                 OrderedDeployment(stateroot: "os", id: "old.0", entryFileName: nil, state: .good)]))
        _ = try s.markGood()
        var c = try read(f)
        #expect(c?.trial == nil && c?.sequence == 2)
        #expect(try String(contentsOfFile: f.boot + "/bdcount.a", encoding: .utf8).contains("bdc_seq=2"), "the older copy was overwritten")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
        _ = try s.markBad(reason: "by test", reboot: false)
        c = try read(f)
        #expect(c?.trial == "os/new.1" && c?.left == 0)
        #expect(f.entries().contains { $0.hasPrefix("bd-os-002+0") }, "\(f.entries())")
    }

    @Test("a counter that already says so is not written again (a blessed machine writes nothing per boot)")
    func noRewrite() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.tmp.write("boot/bdcount.b", UBootCounter(trial: nil, left: 0, sequence: 1).render())
        let s = try f.service(RecordingOrdering([OrderedDeployment(stateroot: "os", id: "new.1", entryFileName: nil, state: .good)]))
        _ = try s.markGood()
        #expect(!FileManager.default.fileExists(atPath: f.boot + "/bdcount.a"), "no new copy written")
        #expect(try read(f) == UBootCounter(trial: nil, left: 0, sequence: 1))
        #expect(f.entries() == ["bd-os-002.conf"])
    }

    @Test("a counter whose trial is another deployment is not this boot's: the BLS entry decides")
    func otherTrial() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.tmp.write("boot/bdcount.a", UBootCounter(trial: "os/other.9", left: 1, sequence: 0).render())
        let s = try f.service(RecordingOrdering([OrderedDeployment(stateroot: "os", id: "new.1", entryFileName: nil, state: .indeterminate)]))
        _ = try s.markGood()
        #expect(f.entries() == ["bd-os-002.conf"])
        #expect(try read(f)?.trial == "os/other.9", "untouched")
    }
}
