import BootDeploy
import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// After boot-health blesses (or marks bad) the booted entry, LoaderBootCountPath still holds the name
/// the boot loader gave it at this boot (`bd-os-002+2-1.conf`): that is the same entry, renamed by us,
/// and no reason to warn. A counted name of another deployment's entry still is.
@Suite("LoaderBootCountPath after our own rename")
struct OwnRenameTests {
    static let warning = "LoaderBootCountPath names"

    @Test("a healthy boot whose entry boot-health already blessed logs no LoaderBootCountPath warning")
    func blessedEntryNoWarning() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bd-os-002+2-1.conf")
        for command in [["mark-good"], ["status"]] {
            let r = try f.cli(command)
            #expect(r.ok, "\(command): \(r.stderr)")
            #expect(!r.stderr.contains(Self.warning), "\(command): \(r.stderr)")
        }
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])
    }

    @Test("an entry boot-health marked bad in this boot is still recognised by its counted name")
    func markedBadEntryNoWarning() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+0-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bd-os-002+2-1.conf")
        let r = try f.cli(["status"])
        #expect(r.ok, "\(r.stderr)")
        #expect(!r.stderr.contains(Self.warning), "\(r.stderr)")
    }

    @Test("LoaderBootCountPath naming another deployment's entry still warns")
    func otherEntryStillWarns() throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001+2-1.conf", deployment: "os/old.0", rank: "001")
        f.loaderBootCountPath("bd-os-001+2-1.conf")
        let r = try f.cli(["status"])
        #expect(r.stderr.contains("\(Self.warning) bd-os-001+2-1.conf, which is not an entry of os/new.1"), "\(r.stderr)")
    }
}
