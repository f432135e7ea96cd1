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
