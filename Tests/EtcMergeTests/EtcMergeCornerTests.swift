import BootDeploy
import Foundation
import Glibc
import TestSupport
import Testing

// Special files, missing or empty trees, unusual names, leftovers and refused inputs.

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
