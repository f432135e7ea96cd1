import Foundation
import Testing
import TestSupport

/// Issue 18: a plain `deploy` of an update carries the machine's kernel arguments and /etc
/// changes over from the merge deployment (the booted one of the stateroot, else its default).
@Suite("Updates keep the machine's configuration", .serialized)
struct UpdateInheritanceTests {
    /// The issue's machine: made with root= and a serial console, `kargs --append nomodeset`,
    /// an edited /etc/hostname and a new /etc/admin.conf in the running deployment.
    func configuredMachine() throws -> (Machine, String) {
        let m = Machine(label: "bdinherit")
        try m.initOS()
        let a = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a", kernel: "k1"),
                                    "--karg", "root=LABEL=r", "--karg", "console=ttyS0,115200"])
        try m.ok("kargs", ["--append", "nomodeset"])
        let etc = etcOf(m, a)
        try "admin-host\n".write(toFile: etc + "/hostname", atomically: true, encoding: .utf8)
        try "added by admin\n".write(toFile: etc + "/admin.conf", atomically: true, encoding: .utf8)
        return (m, a)
    }

    func etcOf(_ m: Machine, _ q: String) -> String { m.root + "/bootdeploy/os/deploy/\(q.split(separator: "/")[1])/etc" }

    func row(_ m: Machine, _ q: String) throws -> [String: Any] {
        try #require(try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == q })
    }

    func kargs(_ m: Machine, _ q: String) throws -> [String] { try row(m, q)["kargs"] as! [String] }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    func setBooted(_ m: Machine, _ q: String) throws {
        let p = q.split(separator: "/")
        try #"{"schema":1,"stateroot":"\#(p[0])","id":"\#(p[1])"}"#.write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
    }

    /// An update's tree: a new vendor default for an untouched file, and for the edited one.
    func update(_ m: Machine, _ name: String, kernel: String) -> String {
        let t = m.tree(name, kernel: kernel, version: "2")
        m.tmp.write("trees/\(name)/etc/hostname", "vendor-2\n")
        m.tmp.write("trees/\(name)/etc/vendor.conf", "vendor 2\n")
        m.tmp.write("trees/\(name)/usr/etc/hostname", "vendor-2\n")
        m.tmp.write("trees/\(name)/usr/etc/vendor.conf", "vendor 2\n")
        return t
    }

    @Test("a plain deploy keeps the kernel arguments and /etc changes, and status names the merge deployment")
    func plainDeployInherits() throws {
        let (m, a) = try configuredMachine()
        m.tmp.write("trees/a-vendor-check", "")
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", update(m, "b", kernel: "k2")])
        #expect(r.ok, "\(r.stderr)")
        let b = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try kargs(m, b) == ["root=LABEL=r", "console=ttyS0,115200", "nomodeset"])
        #expect(try row(m, b)["mergedFrom"] as? String == a)
        #expect(try row(m, a)["mergedFrom"] == nil, "the first deployment had nothing to merge from")
        let entry = try String(contentsOfFile: m.entriesDir + "/" + m.entryFiles().last!, encoding: .utf8)
        #expect(entry.contains("options root=LABEL=r console=ttyS0,115200 nomodeset bootdeploy=\(b)"), "\(entry)")
        let etc = etcOf(m, b)
        #expect(read(etc + "/hostname") == "admin-host\n", "the administrator's edit wins")
        #expect(read(etc + "/admin.conf") == "added by admin\n", "the administrator's new file is carried")
        #expect(read(etc + "/vendor.conf") == "vendor 2\n", "an untouched vendor file has the update's version")
        #expect(read(etc + "/../usr/etc/hostname") == "vendor-2\n", "the vendor defaults stay pristine")
        #expect(r.stderr.contains("local /etc changes carried over from \(a)"), "\(r.stderr)")
        try m.ok("validate")
    }

    @Test("the booted deployment is the merge deployment, even when it is not the default")
    func bootedWins() throws {
        let (m, a) = try configuredMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg-append", "only-b"])
        try setBooted(m, a)
        let c = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("c", kernel: "k3")])
        #expect(try kargs(m, c) == ["root=LABEL=r", "console=ttyS0,115200", "nomodeset"], "from the booted a, not the default b")
        #expect(try row(m, c)["mergedFrom"] as? String == a)
        _ = b
    }

    @Test("a booted deployment of another stateroot is not merged from: the stateroot's default is")
    func otherStaterootBooted() throws {
        let (m, a) = try configuredMachine()
        try m.initOS("other")
        let o = try m.ok("deploy", ["--stateroot", "other", "--tree", m.tree("o", kernel: "k9"), "--karg", "root=LABEL=other"])
        try setBooted(m, o)
        #expect(try row(m, o)["mergedFrom"] == nil, "the first deployment of 'other' has no merge deployment")
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2")])
        #expect(try row(m, b)["mergedFrom"] as? String == a)
        #expect(try kargs(m, b).first == "root=LABEL=r")
    }

    @Test("--karg KEY=VALUE replaces every inherited argument of KEY in place; several of one KEY are all kept")
    func kargReplaces() throws {
        let (m, _) = try configuredMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"),
                                    "--karg", "console=tty0", "--karg", "console=ttyS1,9600", "--karg", "quiet"])
        #expect(try kargs(m, b) == ["root=LABEL=r", "console=tty0", "console=ttyS1,9600", "nomodeset", "quiet"])
    }

    @Test("--karg-append appends even when the key exists; values with spaces are quoted")
    func kargAppend() throws {
        let (m, _) = try configuredMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"),
                                    "--karg-append", "console=tty0", "--karg-append", "opt=a b"])
        #expect(try kargs(m, b) == ["root=LABEL=r", "console=ttyS0,115200", "nomodeset", "console=tty0", "opt=\"a b\""])
    }

    @Test("--karg-delete removes a key or one exact KEY=VALUE; deleting what is not there changes nothing")
    func kargDelete() throws {
        let (m, _) = try configuredMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"),
                                    "--karg-delete", "nomodeset", "--karg-delete", "console=ttyS0,115200"])
        #expect(try kargs(m, b) == ["root=LABEL=r"])
        let before = try treeDigest(m.root) + treeDigest(m.boot)
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("c", kernel: "k3"), "--karg-delete", "console=tty9"])
        #expect(r.status == 1 && r.stderr.contains("--karg-delete \"console=tty9\""), "\(r.stderr)")
        #expect(try treeDigest(m.root) + treeDigest(m.boot) == before)
    }

    @Test("--karg-none starts empty and derives no root= when there is a merge deployment")
    func kargNone() throws {
        let (m, _) = try configuredMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg-none", "--karg", "quiet"])
        #expect(try kargs(m, b) == ["quiet"])
    }

    @Test("--karg-proc-cmdline starts from the running command line without bootdeploy=, BOOT_IMAGE= and initrd=")
    func kargProcCmdline() throws {
        let (m, a) = try configuredMachine()
        let file = m.tmp.sub("cmdline")
        try "BOOT_IMAGE=/vmlinuz initrd=\\bootdeploy\\os\\x\\initramfs.img root=UUID=1234 rw opt=\"a b\"  bootdeploy=\(a) quiet\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"),
                                    "--karg-proc-cmdline", "--cmdline-file", file, "--karg-delete", "quiet"])
        #expect(try kargs(m, b) == ["root=UUID=1234", "rw", "opt=\"a b\""])
        // What the running command line holds is checked like any argument, naming where it came from.
        try "root=x a=\"b quiet\n".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("d", kernel: "k4"), "--karg-proc-cmdline", "--cmdline-file", file])
        #expect(bad.status == 1 && bad.stderr.contains("a=\\\"b") && bad.stderr.contains("start from \(file)"), "\(bad.stderr)")
        let both = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("c", kernel: "k3"), "--karg-proc-cmdline", "--karg-none"])
        #expect(both.status != 0 && both.stderr.contains("exclude each other"), "\(both.stderr)")
    }

    @Test("without root= an update takes it from the merge deployment; a first deploy that cannot derive it says to pass --karg root=")
    func rootDerivation() throws {
        let m = Machine(label: "bdroot")
        try m.initOS()
        // The test's sysroot is a directory on an overlay or tmpfs: there is no block device to probe.
        let first = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("a", kernel: "k1"), "--karg", "quiet"])
        if first.ok {
            try TestEnv.skip("rootDerivation", because: "the sysroot \(m.root) is on a probeable block device; root= was derived")
        }
        #expect(first.stderr.contains("pass --karg root="), "\(first.stderr)")
        let a = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a", kernel: "k1"), "--karg", "root=LABEL=r"])
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2")])
        #expect(try kargs(m, b) == ["root=LABEL=r"])
        _ = a
    }

    @Test("--no-etc-merge keeps the tree's own /etc (image builds); kernel arguments are still inherited")
    func noEtcMerge() throws {
        let (m, a) = try configuredMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", update(m, "b", kernel: "k2"), "--no-etc-merge"])
        let etc = etcOf(m, b)
        #expect(read(etc + "/hostname") == "vendor-2\n")
        #expect(read(etc + "/admin.conf") == nil)
        #expect(try kargs(m, b) == ["root=LABEL=r", "console=ttyS0,115200", "nomodeset"])
        #expect(try row(m, b)["mergedFrom"] as? String == a)
    }

    @Test("a failed /etc merge fails the deploy naming the path, before /boot is touched, and leaves nothing behind")
    func mergeFailureLeavesNothing() throws {
        let (m, a) = try configuredMachine()
        // The merge deployment's /etc replaced by a symlink: the merge refuses to follow it.
        let etc = etcOf(m, a)
        try FileManager.default.moveItem(atPath: etc, toPath: etc + ".real")
        try FileManager.default.createSymbolicLink(atPath: etc, withDestinationPath: "etc.real")
        let before = try treeDigest(m.root + "/bootdeploy") + treeDigest(m.boot)
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", update(m, "b", kernel: "k2")])
        #expect(r.status == 1)
        #expect(r.stderr.contains(etc) && r.stderr.contains("merging /etc from \(a)"), "\(r.stderr)")
        #expect(try treeDigest(m.root + "/bootdeploy") + treeDigest(m.boot) == before, "nothing written, nothing left")
        // A tree moved into place comes back with its own /etc.
        let t = update(m, "moved", kernel: "k3")
        let r2 = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--move"])
        #expect(r2.status == 1)
        #expect(read(t + "/etc/hostname") == "vendor-2\n", "the moved tree is back with its /etc")
        #expect(!FileManager.default.fileExists(atPath: t + "/.bootdeploy-placed-etc"))
        #expect(try treeDigest(m.root + "/bootdeploy") + treeDigest(m.boot) == before)
    }

    @Test("a staged deploy inherits kernel arguments at stage time, keeps later kargs edits and merges /etc at finalize")
    func stagedInherits() throws {
        let (m, a) = try configuredMachine()
        try setBooted(m, a)
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", update(m, "b", kernel: "k2"), "--stage", "--no-start-unit"])
        #expect(try kargs(m, b) == ["root=LABEL=r", "console=ttyS0,115200", "nomodeset"])
        #expect(read(etcOf(m, b) + "/admin.conf") == nil, "/etc is merged at finalize, from the state at shutdown")
        try m.ok("kargs", ["--deployment", b, "--append", "staged-edit"])
        try "late edit\n".write(toFile: etcOf(m, a) + "/late.conf", atomically: true, encoding: .utf8)
        try m.ok("finalize")
        #expect(try m.order().first == b)
        #expect(try kargs(m, b) == ["root=LABEL=r", "console=ttyS0,115200", "nomodeset", "staged-edit"])
        let entry = try String(contentsOfFile: m.entriesDir + "/" + m.entryFiles().last!, encoding: .utf8)
        #expect(entry.contains("nomodeset staged-edit bootdeploy=\(b)"), "\(entry)")
        #expect(read(etcOf(m, b) + "/late.conf") == "late edit\n")
        #expect(read(etcOf(m, b) + "/hostname") == "admin-host\n")
        #expect(try row(m, b)["mergedFrom"] as? String == a)
    }

    @Test("a deployment staged with --no-etc-merge keeps its own /etc at finalize")
    func stagedNoEtcMerge() throws {
        let (m, a) = try configuredMachine()
        try setBooted(m, a)
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", update(m, "b", kernel: "k2"), "--stage", "--no-start-unit", "--no-etc-merge"])
        try m.ok("finalize")
        #expect(try m.order().first == b)
        #expect(read(etcOf(m, b) + "/hostname") == "vendor-2\n")
        #expect(read(etcOf(m, b) + "/admin.conf") == nil)
    }

    @Test("a name in /etc that is not UTF-8 is carried byte for byte by deploy, and cleanup and undeploy remove such trees")
    func nonUTF8Names() throws {
        let (m, a) = try configuredMachine()
        let t = update(m, "b", kernel: "k2")
        try sh("""
            printf admin > "\(etcOf(m, a))/$(printf 'adm\\377in')"
            printf vendor > "\(t)/etc/$(printf 'ven\\376dor')"; printf vendor > "\(t)/usr/etc/$(printf 'ven\\376dor')"
            printf bin > "\(t)/usr/bin/$(printf 'tool\\375')"
            """)
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", t])
        let dep = m.root + "/bootdeploy/os/deploy/\(b.split(separator: "/")[1])"
        let r = try sh("""
            cat "\(dep)/etc/$(printf 'adm\\377in')"; echo
            cat "\(dep)/etc/$(printf 'ven\\376dor')"; echo
            cat "\(dep)/usr/bin/$(printf 'tool\\375')"; echo
            """)
        #expect(r.stdout == "admin\nvendor\nbin\n", "\(r.stdout) \(r.stderr)")
        try m.ok("undeploy", [a])
        #expect(!FileManager.default.fileExists(atPath: etcOf(m, a)), "undeploy removed the tree with the odd name")
        try m.ok("validate")
    }
}
