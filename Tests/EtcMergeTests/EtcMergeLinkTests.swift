import BootDeploy
import Foundation
import Glibc
import TestSupport
import Testing

// Symlinks and type changes between the old vendor defaults, the live /etc and the new defaults.

@Suite("etc merge: symlinks and type changes")
struct EtcMergeLinkTests {
    @Test("a symlink whose target the administrator changed keeps the local target")
    func symlinkChangedKept() throws {
        let f = try EtcFixture(vendor: "ln -s ../usr/share/zoneinfo/UTC $OV/localtime",
                               local: "ln -sfn ../usr/share/zoneinfo/Europe/Berlin $OL/localtime",
                               update: "ln -sfn ../usr/share/zoneinfo/Etc/UTC $NV/localtime")
        let r = try f.merge()
        #expect(f.link("localtime") == "../usr/share/zoneinfo/Europe/Berlin")
        #expect(r.localChanges == ["localtime"])
    }

    @Test("an untouched symlink follows the new vendor target")
    func symlinkUnchangedTakesVendor() throws {
        let f = try EtcFixture(vendor: "ln -s a $OV/l", update: "ln -sfn b $NV/l")
        _ = try f.merge()
        #expect(f.link("l") == "b")
    }

    @Test("a symlink the administrator added is kept; one they removed stays removed")
    func symlinkAddedAndRemoved() throws {
        let f = try EtcFixture(vendor: "ln -s x $OV/gone",
                               local: "rm $OL/gone; ln -s /srv/site $OL/site",
                               update: "ln -sfn y $NV/gone")
        _ = try f.merge()
        #expect(f.link("site") == "/srv/site")
        #expect(!f.exists("gone"))
    }

    @Test("a dangling symlink is kept as a symlink, not followed, not dropped")
    func danglingSymlinkKept() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f", local: "ln -s /nonexistent/target $OL/dangling")
        _ = try f.merge()
        #expect(f.type("dangling") == "symlink")
        #expect(f.link("dangling") == "/nonexistent/target")
    }

    @Test("a symlink to a directory outside is copied as a link; the walk never descends through it")
    func symlinkToDirectoryNotFollowed() throws {
        let f = try EtcFixture(vendor: "mkdir -p outside; echo secret > outside/s; ln -s ../../outside $OV/ext",
                               local: "ln -s ../outside $OL/ext2")
        _ = try f.merge()
        #expect(f.type("ext") == "symlink")
        #expect(f.type("ext2") == "symlink")
        #expect(try f.listing() == ["l ext", "l ext2"])
    }

    @Test("a vendor directory the administrator replaced by a file stays a file")
    func localDirToFileKept() throws {
        let f = try EtcFixture(vendor: "mkdir $OV/x.d; echo v > $OV/x.d/a",
                               local: "rm -r $OL/x.d; echo file > $OL/x.d",
                               update: "echo v2 > $NV/x.d/b")
        _ = try f.merge()
        #expect(f.type("x.d") == "file")
        #expect(f.read("x.d") == "file\n")
    }

    @Test("a vendor file the administrator replaced by a directory stays the local directory")
    func localFileToDirKept() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/conf",
                               local: "rm $OL/conf; mkdir $OL/conf; echo part > $OL/conf/10-local",
                               update: "echo v2 > $NV/conf")
        let r = try f.merge()
        #expect(try f.listing() == ["d conf", "f conf/10-local"])
        #expect(r.localChanges == ["conf", "conf/10-local"])
        #expect(r.warnings.contains { $0.contains("/etc/conf") })
    }

    @Test("a file replaced by a symlink and a symlink replaced by a file are both local changes")
    func fileSymlinkSwapsKept() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/a; ln -s target $OV/b",
                               local: "rm $OL/a $OL/b; ln -s elsewhere $OL/a; echo real > $OL/b",
                               update: "echo v2 > $NV/a; ln -sfn target2 $NV/b")
        _ = try f.merge()
        #expect(f.link("a") == "elsewhere")
        #expect(f.type("b") == "file")
        #expect(f.read("b") == "real\n")
    }

    @Test("vendor type changes apply where the administrator changed nothing: dir to file and file to dir")
    func vendorTypeChangesApply() throws {
        let f = try EtcFixture(vendor: "mkdir $OV/was.d; echo v > $OV/was.d/a; echo v > $OV/was.file",
                               update: "rm -r $NV/was.d $NV/was.file; echo now-file > $NV/was.d; mkdir $NV/was.file; echo in > $NV/was.file/x")
        _ = try f.merge()
        #expect(f.type("was.d") == "file")
        #expect(f.read("was.d") == "now-file\n")
        #expect(f.type("was.file") == "directory")
        #expect(f.read("was.file/x") == "in\n")
    }

    @Test("a directory the vendor turns into a file stays a directory when it holds local changes")
    func vendorDirToFileLosesToLocalContent() throws {
        let f = try EtcFixture(vendor: "mkdir $OV/d; echo v > $OV/d/a",
                               local: "echo mine > $OL/d/a",
                               update: "rm -r $NV/d; echo file > $NV/d")
        let r = try f.merge()
        #expect(f.type("d") == "directory")
        #expect(f.read("d/a") == "mine\n")
        #expect(r.warnings.contains { $0.contains("/etc/d/") && $0.contains("non-directory") })
    }

    @Test("a type change and back again (dir to file to dir) lands on what the administrator has now")
    func typeChangeAndBack() throws {
        // The administrator turned the directory into a file and then into a directory again,
        // with different content: what counts is the difference of the end state to the vendor's.
        let f = try EtcFixture(vendor: "mkdir $OV/d; echo v > $OV/d/a; echo v > $OV/d/b",
                               local: "rm -r $OL/d; echo tmp > $OL/d; rm $OL/d; mkdir $OL/d; echo v > $OL/d/a; echo mine > $OL/d/c",
                               update: "echo v2 > $NV/d/a; echo v2 > $NV/d/b")
        let r = try f.merge()
        #expect(try f.listing() == ["d d", "f d/a", "f d/c"])
        #expect(f.read("d/a") == "v2\n")
        #expect(r.localChanges == ["d/b", "d/c"])
    }
}
