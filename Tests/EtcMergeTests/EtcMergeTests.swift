import BootDeploy
import Foundation
import Glibc
import TestSupport
import Testing

// Each test builds old vendor defaults, the administrator's live /etc and new vendor defaults
// with shell commands, merges, and looks at the new /etc on disk.

@Suite("etc merge: content")
struct EtcMergeContentTests {
    @Test("a locally changed file keeps the local content, even when the vendor changed it too")
    func contentChangeKept() throws {
        let f = try EtcFixture(vendor: "echo vendor-1 > $OV/hosts; echo x > $OV/other",
                               local: "echo mine > $OL/hosts",
                               update: "echo vendor-2 > $NV/hosts")
        let r = try f.merge()
        #expect(f.read("hosts") == "mine\n")
        #expect(r.localChanges == ["hosts"])
        #expect(r.warnings.contains { $0.contains("/etc/hosts") && $0.contains("also changed") })
    }

    @Test("a locally unchanged file takes the new vendor version")
    func unchangedTakesNewVendor() throws {
        let f = try EtcFixture(vendor: "echo vendor-1 > $OV/hosts",
                               update: "echo vendor-2 > $NV/hosts")
        let r = try f.merge()
        #expect(f.read("hosts") == "vendor-2\n")
        #expect(r.localChanges.isEmpty)
        #expect(r.warnings.isEmpty)
        #expect(r.filesWritten == 1)
        // A copy, never a hard link: editing the new /etc must not change the vendor tree.
        var vendor = stat()
        #expect(lstat(f.newVendor + "/hosts", &vendor) == 0)
        #expect(f.lstatOf("hosts")?.st_ino != vendor.st_ino)
    }

    @Test("a change of the same size is still a change: content is compared, not only sizes")
    func sameSizeChangeDetected() throws {
        let f = try EtcFixture(vendor: "echo aaaa > $OV/f",
                               local: "echo bbbb > $OL/f; touch -r $OV/f $OL/f",
                               update: "echo cccc > $NV/f")
        _ = try f.merge()
        #expect(f.read("f") == "bbbb\n")
    }

    @Test("a large file differing only in its last byte counts as changed")
    func largeFileCompared() throws {
        let f = try EtcFixture(vendor: "head -c 300000 /dev/zero > $OV/big",
                               local: "printf '\\001' | dd of=$OL/big bs=1 seek=299999 conv=notrunc status=none",
                               update: "echo small > $NV/big")
        let r = try f.merge()
        #expect(r.localChanges == ["big"])
        #expect(f.lstatOf("big")?.st_size == 300000)
    }

    @Test("a file added by the administrator is kept")
    func localAdditionKept() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/hosts",
                               local: "mkdir -p $OL/my.d; echo local > $OL/my.d/site.conf; echo added > $OL/added")
        let r = try f.merge()
        #expect(f.read("added") == "added\n")
        #expect(f.read("my.d/site.conf") == "local\n")
        #expect(r.localChanges == ["added", "my.d", "my.d/site.conf"])
    }

    @Test("a file the administrator removed stays removed although the new vendor still ships and changed it")
    func localRemovalStaysRemoved() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/motd; echo v > $OV/issue",
                               local: "rm $OL/motd $OL/issue",
                               update: "echo v2 > $NV/motd")
        let r = try f.merge()
        #expect(!f.exists("motd"))
        #expect(!f.exists("issue"))
        #expect(r.localChanges == ["issue", "motd"])
        #expect(r.warnings.contains { $0.contains("/etc/motd") && $0.contains("stays removed") })
        #expect(!r.warnings.contains { $0.contains("/etc/issue") })
    }

    @Test("a directory the administrator removed stays removed, with everything below it")
    func localDirectoryRemovalStaysRemoved() throws {
        let f = try EtcFixture(vendor: "mkdir -p $OV/cron.d; echo job > $OV/cron.d/a",
                               local: "rm -r $OL/cron.d",
                               update: "echo job2 > $NV/cron.d/b")
        _ = try f.merge()
        #expect(!f.exists("cron.d"))
    }

    @Test("a file the new vendor adds appears, also inside a directory the administrator created")
    func vendorAdditionAppears() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/hosts",
                               local: "mkdir $OL/foo.d; echo mine > $OL/foo.d/local.conf",
                               update: "echo new > $NV/newfile; mkdir $NV/foo.d; echo vendor > $NV/foo.d/00-default.conf")
        _ = try f.merge()
        #expect(f.read("newfile") == "new\n")
        #expect(f.read("foo.d/local.conf") == "mine\n")
        #expect(f.read("foo.d/00-default.conf") == "vendor\n")
    }

    @Test("a file the new vendor removes disappears when the administrator left it alone")
    func vendorRemovalDisappears() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/old.conf; mkdir -p $OV/old.d/sub; echo v > $OV/old.d/sub/x",
                               update: "rm -r $NV/old.conf $NV/old.d")
        let r = try f.merge()
        #expect(!f.exists("old.conf"))
        #expect(!f.exists("old.d"))
        #expect(r.warnings.isEmpty)
        #expect(r.filesWritten == 0)
    }

    @Test("a locally modified file the new vendor removes is kept, with a warning")
    func vendorRemovalOfModifiedFileKept() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/legacy.conf",
                               local: "echo tuned > $OL/legacy.conf",
                               update: "rm $NV/legacy.conf")
        let r = try f.merge()
        #expect(f.read("legacy.conf") == "tuned\n")
        #expect(r.warnings.contains { $0.contains("/etc/legacy.conf") && $0.contains("no longer ship") })
    }

    @Test("a directory the vendor removes stays only for the local changes inside it")
    func vendorDirectoryRemovalKeepsLocalContent() throws {
        let f = try EtcFixture(vendor: "mkdir -p $OV/app/conf.d; echo a > $OV/app/a; echo b > $OV/app/conf.d/b",
                               local: "echo mine > $OL/app/conf.d/b; echo new > $OL/app/mine",
                               update: "rm -r $NV/app")
        let r = try f.merge()
        #expect(try f.listing() == ["d app", "d app/conf.d", "f app/conf.d/b", "f app/mine"])
        #expect(f.read("app/conf.d/b") == "mine\n")
        #expect(r.warnings.contains { $0.contains("/etc/app/") && $0.contains("holds local changes") })
    }

    @Test("a hard link in the vendor tree becomes separate files with the same content")
    func hardLinksCopiedSeparately() throws {
        let f = try EtcFixture(vendor: "echo same > $OV/a; ln $OV/a $OV/b")
        _ = try f.merge()
        let a = try #require(f.lstatOf("a")), b = try #require(f.lstatOf("b"))
        #expect(a.st_ino != b.st_ino)
        #expect(f.read("a") == "same\n" && f.read("b") == "same\n")
    }
}

@Suite("etc merge: attributes")
struct EtcMergeAttributeTests {
    @Test("a local mode change is kept; a vendor mode change of an untouched file applies")
    func modeChangeKept() throws {
        let f = try EtcFixture(vendor: "echo s > $OV/secret; echo p > $OV/public; mkdir $OV/d; chmod 644 $OV/secret $OV/public",
                               local: "chmod 600 $OL/secret; chmod 700 $OL/d",
                               update: "chmod 640 $NV/public; echo s2 > $NV/secret")
        let r = try f.merge()
        #expect(f.mode("secret") == 0o600)
        #expect(f.read("secret") == "s\n")
        #expect(f.mode("public") == 0o640)
        #expect(f.mode("d") == 0o700)
        #expect(r.localChanges == ["d", "secret"])
    }

    @Test("setuid, setgid and sticky bits survive, also on a read-only directory that has children")
    func specialModeBits() throws {
        let f = try EtcFixture(vendor: "echo x > $OV/tool; chmod 4755 $OV/tool; mkdir $OV/shared; chmod 3775 $OV/shared; mkdir $OV/ro; echo y > $OV/ro/f; chmod 555 $OV/ro")
        _ = try f.merge()
        #expect(f.mode("tool") == 0o4755)
        #expect(f.mode("shared") == 0o3775)
        #expect(f.mode("ro") == 0o555)
        #expect(f.read("ro/f") == "y\n")
    }

    @Test("a local owner change is kept, a vendor owner change applies, and chown does not clear setgid")
    func ownerChangeKept() throws {
        guard TestEnv.isRoot else { try TestEnv.skip("ownerChangeKept", because: "chown needs root") }
        let f = try EtcFixture(vendor: "echo x > $OV/owned; echo y > $OV/vend; echo z > $OV/sg; chmod 2755 $OV/sg; ln -s owned $OV/lnk",
                               local: "chown 1234:5678 $OL/owned; chown -h 42:43 $OL/lnk",
                               update: "chown 77:88 $NV/vend $NV/sg; chmod 2755 $NV/sg")
        let r = try f.merge()
        let owned = try #require(f.lstatOf("owned"))
        #expect(owned.st_uid == 1234 && owned.st_gid == 5678)
        let vend = try #require(f.lstatOf("vend"))
        #expect(vend.st_uid == 77 && vend.st_gid == 88)
        let lnk = try #require(f.lstatOf("lnk"))
        #expect(lnk.st_uid == 42 && lnk.st_gid == 43)
        #expect(f.mode("sg") == 0o2755)
        #expect(r.localChanges == ["lnk", "owned"])
    }

    @Test("modification times are kept from the side that was taken")
    func mtimeKept() throws {
        let f = try EtcFixture(vendor: "echo x > $OV/a; echo y > $OV/b; mkdir $OV/d; echo z > $OV/d/f",
                               local: "echo mine > $OL/a; touch -d '2001-02-03 04:05:06 UTC' $OL/a",
                               update: "touch -d '2011-02-03 04:05:06 UTC' $NV/b $NV/d/f; touch -d '2012-01-01 00:00:00 UTC' $NV/d")
        _ = try f.merge()
        #expect(f.lstatOf("a")?.st_mtim.tv_sec == 981173106)
        #expect(f.lstatOf("b")?.st_mtim.tv_sec == 1296705906)
        #expect(f.lstatOf("d/f")?.st_mtim.tv_sec == 1296705906)
        // The directory's time is set after its children were written, so it survives them.
        #expect(f.lstatOf("d")?.st_mtim.tv_sec == 1325376000)
    }

    @Test("a touch alone is not a local change")
    func touchIsNotAChange() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f", local: "touch -d '2001-01-01' $OL/f", update: "echo v2 > $NV/f")
        let r = try f.merge()
        #expect(r.localChanges.isEmpty)
        #expect(f.read("f") == "v2\n")
    }

    @Test("a local change to /etc's own mode is kept")
    func rootModeChangeKept() throws {
        let f = try EtcFixture(vendor: "chmod 755 $OV; echo x > $OV/f", local: "chmod 750 $OL", update: "chmod 755 $NV")
        let r = try f.merge()
        var st = stat()
        #expect(lstat(f.target, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o750)
        #expect(r.localChanges == ["."])
    }
}

@Suite("etc merge: extended attributes")
struct EtcMergeXattrTests {
    // A POSIX access ACL as the kernel stores it: version 2, then (tag, perm, id) entries sorted by
    // tag: user::rw-, user:1234:r--, group::r--, mask::r--, other::r--.
    static let acl = "0x02000000" + ["01000600ffffffff", "02000400d2040000", "04000400ffffffff", "10000400ffffffff", "20000400ffffffff"].joined()

    @Test("an extended attribute the administrator added is a local change and is kept; a vendor one applies")
    func userXattrKept() throws {
        guard TestEnv.have("python3") else { try TestEnv.skip("userXattrKept", because: "no python3 to set xattrs") }
        let f = try EtcFixture(vendor: "echo v > $OV/tagged; echo v > $OV/plain; mkdir $OV/d",
                               local: "setx $OL/tagged user.note mine; setx $OL/d user.dir yes",
                               update: "echo v2 > $NV/tagged; echo v2 > $NV/plain; setx $NV/plain user.vendor 1")
        let r = try f.merge()
        #expect(r.localChanges == ["d", "tagged"])
        #expect(f.read("tagged") == "v\n")
        #expect(try f.xattr("tagged", "user.note") == Data("mine".utf8).map { String(format: "%02x", $0) }.joined())
        #expect(try f.xattr("d", "user.dir") == "796573")
        #expect(try f.xattr("plain", "user.vendor") == "31")
        #expect(f.read("plain") == "v2\n")
    }

    @Test("a POSIX ACL the administrator set is kept byte for byte, with the matching mode")
    func aclKept() throws {
        guard TestEnv.isRoot, TestEnv.have("python3") else { try TestEnv.skip("aclKept", because: "needs root and python3") }
        let f = try EtcFixture(vendor: "echo v > $OV/secret; chmod 644 $OV/secret; mkdir $OV/d",
                               local: "setx $OL/secret system.posix_acl_access \(Self.acl); setx $OL/d system.posix_acl_default \(Self.acl)",
                               update: "echo v2 > $NV/secret")
        let r = try f.merge()
        #expect(r.localChanges == ["d", "secret"])
        #expect(try f.xattr("secret", "system.posix_acl_access") == String(Self.acl.dropFirst(2)))
        #expect(try f.xattr("d", "system.posix_acl_default") == String(Self.acl.dropFirst(2)))
        #expect(f.mode("secret") == 0o644)
        #expect(f.read("secret") == "v\n")
    }

    @Test("security.* attributes (labels, capabilities) are neither compared nor copied")
    func securityXattrsIgnored() throws {
        guard TestEnv.isRoot, TestEnv.have("python3") else { try TestEnv.skip("securityXattrsIgnored", because: "needs root and python3") }
        // A version-2 file capability: CAP_NET_BIND_SERVICE permitted and effective.
        let f = try EtcFixture(vendor: "echo v > $OV/tool",
                               local: "setx $OL/tool security.capability 0x0100000200040000000000000000000000000000",
                               update: "echo v2 > $NV/tool; setx $NV/tool security.capability 0x0100000200040000000000000000000000000000")
        let r = try f.merge()
        #expect(r.localChanges.isEmpty)
        #expect(f.read("tool") == "v2\n")
        #expect(try f.xattr("tool", "security.capability") == nil)
    }
}

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

@Suite("etc merge: corner cases")
struct EtcMergeCornerTests {
    @Test("special files are skipped with a warning that names them")
    func specialFilesSkipped() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f; mkfifo $OV/vendor.fifo",
                               local: "mkfifo $OL/initctl",
                               update: "mkfifo $NV/new.fifo")
        let r = try f.merge()
        #expect(!f.exists("initctl"))
        #expect(!f.exists("vendor.fifo"))
        #expect(!f.exists("new.fifo"))
        #expect(f.read("f") == "v\n")
        for name in ["initctl", "vendor.fifo", "new.fifo"] {
            #expect(r.warnings.contains { $0.contains("/etc/\(name) is skipped: it is a fifo") })
        }
    }

    @Test("a socket and a device node are skipped as well")
    func socketAndDeviceSkipped() throws {
        guard TestEnv.isRoot else { try TestEnv.skip("socketAndDeviceSkipped", because: "mknod needs root") }
        guard TestEnv.have("python3") else { try TestEnv.skip("socketAndDeviceSkipped", because: "no python3 to bind a socket") }
        let f = try EtcFixture(vendor: "echo v > $OV/f",
                               local: "mknod $OL/null c 1 3; python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' $OL/sock")
        let r = try f.merge()
        #expect(try f.listing() == ["f f"])
        #expect(r.warnings.contains { $0.contains("/etc/null is skipped: it is a character device") })
        #expect(r.warnings.contains { $0.contains("/etc/sock is skipped: it is a socket") })
    }

    @Test("an empty old /etc means every old vendor default was removed; new vendor files still appear")
    func emptyOldEtc() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/hosts; mkdir $OV/d",
                               local: "rm -r $OL/hosts $OL/d",
                               update: "echo v2 > $NV/hosts; echo n > $NV/brand-new")
        let r = try f.merge()
        #expect(try f.listing() == ["f brand-new"])
        #expect(r.warnings.contains { $0.contains("is empty") })
    }

    @Test("a missing old /etc means no local changes: the result is the new vendor defaults")
    func missingOldEtc() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/hosts; mkdir $OV/d; echo x > $OV/d/x",
                               update: "echo v2 > $NV/hosts", install: false)
        let r = try f.merge()
        #expect(try f.listing() == ["d d", "f d/x", "f hosts"])
        #expect(f.read("hosts") == "v2\n")
        #expect(r.localChanges.isEmpty)
        #expect(r.warnings.contains { $0.contains("does not exist: no local changes") })
    }

    @Test("a missing usr/etc in the current deployment makes all of its /etc local")
    func missingOldVendor() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/hosts; echo v > $OV/shared",
                               update: "echo v2 > $NV/hosts; echo n > $NV/new; rm -r $OV")
        let r = try f.merge()
        #expect(f.read("hosts") == "v\n")
        #expect(f.read("shared") == "v\n")
        #expect(f.read("new") == "n\n")
        #expect(r.localChanges == ["hosts", "shared"])
        #expect(r.warnings.contains { $0.contains("cur/usr/etc does not exist") })
    }

    @Test("a missing usr/etc in the new deployment leaves only the local changes")
    func missingNewVendor() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/hosts; echo v > $OV/plain",
                               local: "echo mine > $OL/hosts",
                               update: "rm -r $NV")
        let r = try f.merge()
        #expect(try f.listing() == ["f hosts"])
        #expect(r.warnings.contains { $0.contains("new/usr/etc does not exist") })
    }

    @Test("no tree at all still gives an empty /etc")
    func nothingAtAll() throws {
        let f = try EtcFixture(vendor: "", update: "rm -r $NV", install: false)
        try f.shell("rm -r $OV")
        let r = try f.merge()
        #expect(f.type("") == "directory")
        #expect(try f.listing().isEmpty)
        #expect(r.filesWritten == 0)
    }

    @Test("names with spaces, newlines, backslashes, leading dashes and non-ASCII UTF-8 are merged exactly")
    func oddNames() throws {
        let names = ["with space", "new\nline", "back\\slash", "-dash", "ünïcødé", "tab\there", ".hidden"]
        let script = names.map { "printf 'v' > \"$OV/\($0)\"" }.joined(separator: "; ")
        let f = try EtcFixture(vendor: script,
                               local: "printf 'mine' > \"$OL/new\nline\"",
                               update: "printf 'v2' > \"$NV/with space\"")
        let r = try f.merge()
        #expect(f.read("new\nline") == "mine")
        #expect(f.read("with space") == "v2")
        for name in names { #expect(f.exists(name), "\(name)") }
        #expect(r.localChanges == ["new\nline"])
        #expect(r.filesWritten == names.count)
    }

    @Test("a warning escapes a newline in a name so that it stays one line")
    func warningEscapesNewline() throws {
        let f = try EtcFixture(vendor: "", local: "mkfifo \"$OL/evil\nSKIP: forged\"")
        let r = try f.merge()
        #expect(r.warnings.contains { $0.contains("/etc/evil\\x0aSKIP: forged is skipped") })
        #expect(!r.warnings.contains { $0.contains("\n") })
    }

    @Test("an existing empty target is replaced; a non-empty one is refused and left alone")
    func targetMustBeEmpty() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f")
        try f.shell("mkdir $T")
        _ = try f.merge()
        #expect(f.read("f") == "v\n")

        let g = try EtcFixture(vendor: "echo v > $OV/f")
        try g.shell("mkdir $T; echo keep > $T/precious")
        #expect(throws: EtcMergeError.targetExists(g.target)) { try g.merge() }
        #expect(try g.listing() == ["f precious"])
        #expect(!FileManager.default.fileExists(atPath: g.target + ".merging"))
    }

    @Test("a leftover staging directory from a crashed merge is cleared first")
    func leftoverStagingCleared() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f")
        try f.shell("mkdir -p $T.merging/half; echo junk > $T.merging/half/x")
        _ = try f.merge()
        #expect(try f.listing() == ["f f"])
        #expect(!FileManager.default.fileExists(atPath: f.target + ".merging"))
    }

    @Test("names, symlink targets and attribute names that are not UTF-8 are carried byte for byte")
    func nonUTF8NamesCarried() throws {
        let f = try EtcFixture(vendor: "mkdir $OV/zz; printf v1 > \"$OV/zz/$(printf 'bad\\377name')\"; printf v > $OV/plain",
                               local: "printf mine > \"$OL/$(printf 'loc\\376al')\"; ln -s \"$(printf 'tgt\\375')\" $OL/link; "
                                   + "setx $OL/plain \"$(printf 'user.k\\373')\" val",
                               update: "printf v2 > \"$NV/zz/$(printf 'bad\\377name')\"; printf n > \"$NV/$(printf 'new\\374')\"")
        let r = try f.merge()
        let check = try sh("""
            cd '\(f.target)'
            cat "zz/$(printf 'bad\\377name')"; echo
            cat "$(printf 'loc\\376al')"; echo
            cat "$(printf 'new\\374')"; echo
            [ "$(readlink link)" = "$(printf 'tgt\\375')" ] && echo link-ok
            python3 -c 'import os; print(os.getxattr("plain", b"user.k\\xfb").decode())'
            """)
        #expect(check.stdout == "v2\nmine\nn\nlink-ok\nval\n", "\(check.stdout) \(check.stderr)")
        #expect(r.localChanges.contains("loc\\xFEal"), "a name that is not UTF-8 is reported with \\xNN escapes: \(r.localChanges)")
        #expect(r.localChanges.contains("plain") && r.localChanges.contains("link"))
    }

    @Test("an input tree that is a symlink is refused with an error naming it, and nothing is written")
    func symlinkedTreeRefused() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f", update: "mv $OL cur/etc.real; ln -s etc.real $OL")
        do {
            _ = try f.merge()
            Issue.record("a symlinked old /etc must be refused")
        } catch let e as SystemError {
            #expect(e.path == f.oldLive)
            #expect(e.errno.rawValue == ELOOP || e.errno.rawValue == ENOTDIR)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.tmp.sub("new")) == ["usr"])
    }

    @Test("a missing new deployment directory fails with an error naming it")
    func missingTargetParent() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f")
        #expect(throws: SystemError.self) {
            try EtcMerge.merge(oldVendor: f.oldVendor, oldLive: f.oldLive, newVendor: f.newVendor, into: f.tmp.sub("nowhere/etc"))
        }
        do {
            _ = try EtcMerge.merge(oldVendor: f.oldVendor, oldLive: f.oldLive, newVendor: f.newVendor, into: f.tmp.sub("nowhere/etc"))
        } catch let e as SystemError {
            #expect(e.path == f.tmp.sub("nowhere"))
        }
    }

    @Test("the deployment-root form merges by the usr/etc and etc convention")
    func deploymentRootForm() throws {
        let f = try EtcFixture(vendor: "echo v > $OV/f; echo v > $OV/g", local: "echo mine > $OL/f", update: "echo v2 > $NV/f; echo v2 > $NV/g")
        let r = try EtcMerge.merge(currentDeployment: f.tmp.sub("cur"), newDeployment: f.tmp.sub("new") + "/")
        #expect(r.localChanges == ["f"])
        #expect(f.read("f") == "mine\n")
        #expect(f.read("g") == "v2\n")
    }

    @Test("relative paths are refused")
    func relativePathsRefused() throws {
        #expect(throws: EtcMergeError.badPath("etc")) {
            try EtcMerge.merge(oldVendor: "/a", oldLive: "/b", newVendor: "/c", into: "etc")
        }
    }
}
