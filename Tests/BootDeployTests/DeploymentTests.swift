@testable import BootDeploy
import Foundation
import Testing
import TestSupport

@Suite("Deployments on plain directories", .serialized)
struct DeploymentTests {
    @Test("deploy makes the new deployment the default and lays out its sysroot")
    func deployTwice() throws {
        let m = Machine()
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1", version: "1"))
        let b = try m.deploy(m.tree("b", kernel: "k2", version: "2"))
        #expect(try m.order() == [b, a])
        let ds = try m.deployments()
        #expect(ds[0]["default"] as? Bool == true)
        #expect(ds[0]["version"] as? String == "2")
        #expect(ds[0]["state"] as? String == "indeterminate")
        #expect(ds[0]["triesLeft"] as? Int == 3)
        #expect(ds[1]["rollbackTarget"] as? Bool == true)
        let idB = String(b.split(separator: "/")[1])
        let dep = m.root + "/bootdeploy/os/deploy/" + idB
        for d in ["sysroot", "var", "usr/etc", "usr/bin"] {
            var isDir: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: dep + "/" + d, isDirectory: &isDir) && isDir.boolValue, "\(d) in the deployment")
        }
        let layout = ds[0]["layout"] as! [String: Any]
        let mounts = layout["mounts"] as! [[String: Any]]
        #expect(mounts.map { $0["target"] as! String } == ["/sysroot", "/var", "/usr"])
        #expect(mounts.first { ($0["target"] as! String) == "/usr" }?["readOnly"] as? Bool == true)
        #expect(m.entryFiles() == ["bd-os-001+3-0.conf", "bd-os-002+3-0.conf"])
    }

    @Test("/etc of a deployment is a copy, other files are hard links to the tree")
    func hardLinks() throws {
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        let q = try m.deploy(t)
        let dep = m.root + "/bootdeploy/os/deploy/" + q.split(separator: "/")[1]
        let src = try FileManager.default.attributesOfItem(atPath: t + "/usr/bin/hello")[.systemFileNumber] as! UInt64
        let dst = try FileManager.default.attributesOfItem(atPath: dep + "/usr/bin/hello")[.systemFileNumber] as! UInt64
        #expect(src == dst)
        let e1 = try FileManager.default.attributesOfItem(atPath: t + "/etc/hostname")[.systemFileNumber] as! UInt64
        let e2 = try FileManager.default.attributesOfItem(atPath: dep + "/etc/hostname")[.systemFileNumber] as! UInt64
        #expect(e1 != e2)
    }

    @Test("a second deployment with the same kernel writes no new kernel bytes")
    func kernelDedup() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a", kernel: "same", initrd: "same-i"))
        let before = try treeDigest(m.boot + "/bootdeploy")
        try m.deploy(m.tree("b", kernel: "same", initrd: "same-i", version: "2"))
        #expect(try treeDigest(m.boot + "/bootdeploy") == before)
        let dirs = try FileManager.default.contentsOfDirectory(atPath: m.boot + "/bootdeploy/os")
        #expect(dirs.count == 1)
    }

    @Test("rollback, set-default, pin, undeploy and cleanup keep the invariants")
    func lifecycle() throws {
        let m = Machine()
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let b = try m.deploy(m.tree("b", kernel: "k2"))
        let c = try m.deploy(m.tree("c", kernel: "k3"))
        #expect(try m.order() == [c, b, a])
        try m.ok("rollback")
        #expect(try m.order() == [b, c, a])
        try m.ok("set-default", [a])
        #expect(try m.order() == [a, b, c])
        try m.ok("pin", [c])
        #expect(try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == c }?["pinned"] as? Bool == true)
        let r = try m.bd("undeploy", [c])
        #expect(!r.ok && r.stderr.contains("pinned"))
        try m.ok("unpin", [c])
        try m.ok("undeploy", [c])
        #expect(try m.order() == [a, b])
        #expect(!FileManager.default.fileExists(atPath: m.root + "/bootdeploy/os/deploy/" + c.split(separator: "/")[1]))
        // The kernel of c is gone with it; those of a and b stay.
        #expect(try FileManager.default.contentsOfDirectory(atPath: m.boot + "/bootdeploy/os").count == 2)
        // Booted deployment is never removed.
        let idB = String(b.split(separator: "/")[1])
        try #"{"schema":1,"stateroot":"os","id":"\#(idB)"}"#.write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
        let u = try m.bd("undeploy", [b])
        #expect(!u.ok && u.stderr.contains("booted"))
        try m.ok("undeploy", [a])
        let last = try m.bd("undeploy", [b])
        #expect(!last.ok)
        #expect(try m.order() == [b])
        try m.ok("validate")
    }

    @Test("cleanup removes unreferenced deployments and kernels but keeps pinned and booted ones")
    func cleanup() throws {
        let m = Machine()
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let b = try m.deploy(m.tree("b", kernel: "k2"))
        // Drop a's entry behind boot-deploy's back: it becomes garbage.
        let aEntry = try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == a }!["entry"] as! String
        try FileManager.default.removeItem(atPath: m.entriesDir + "/" + aEntry)
        // And a leftover of an interrupted deploy.
        try FileManager.default.createDirectory(atPath: m.root + "/bootdeploy/os/deploy/.dead.0.tmp", withIntermediateDirectories: true)
        let out = try m.ok("cleanup")
        #expect(out.contains("removed deployment \(a)"))
        #expect(out.contains("removed kernel"))
        #expect(out.contains(".dead.0.tmp"))
        #expect(try m.order() == [b])
        try m.ok("validate")
    }

    @Test("kargs appends, replaces and deletes on the default deployment, quoting as the kernel does")
    func kargs() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"), ["--karg", "quiet", "--karg", "console=ttyS0"])
        let out = try m.ok("kargs", ["--append", "opt=a b", "--replace", "console=tty0", "--delete", "quiet"])
        #expect(out == "root=LABEL=testroot console=tty0 opt=\"a b\"")
        let entry = try String(contentsOfFile: m.entriesDir + "/" + m.entryFiles()[0], encoding: .utf8)
        #expect(entry.contains("options root=LABEL=testroot console=tty0 opt=\"a b\" bootdeploy=os/"))
        let bad = try m.bd("kargs", ["--delete", "nosuch"])
        #expect(!bad.ok && bad.stderr.contains("nosuch"))
    }

    @Test("foreign entries are never modified or removed")
    func foreign() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"))
        let foreign = "title Other OS\nlinux /other/vmlinuz\noptions root=/dev/sdb1\n"
        try foreign.write(toFile: m.entriesDir + "/other.conf", atomically: true, encoding: .utf8)
        try "not an entry\u{0}\u{1}".write(toFile: m.entriesDir + "/broken.conf", atomically: true, encoding: .utf8)
        try m.deploy(m.tree("b", kernel: "k2"))
        try m.ok("rollback")
        try m.ok("cleanup")
        #expect(try String(contentsOfFile: m.entriesDir + "/other.conf", encoding: .utf8) == foreign)
        #expect(FileManager.default.fileExists(atPath: m.entriesDir + "/broken.conf"))
        let s = try m.status()
        #expect((s["foreignEntries"] as! [[String: Any]]).contains { $0["file"] as? String == "other.conf" })
        #expect(try m.order().count == 2)
    }

    @Test("bad input gets a clear error and leaves /boot byte-identical")
    func badInput() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"))
        let before = try treeDigest(m.boot)
        let noKernel = m.tmp.sub("trees/empty")
        m.tmp.mkdir("trees/empty/usr/lib")
        let cases: [([String], String)] = [
            (["deploy", "--stateroot", "os", "--tree", noKernel, "--karg", "root=x"], "no kernel"),
            (["deploy", "--stateroot", "../x", "--tree", noKernel], "contains '/'"),
            (["deploy", "--stateroot", "a\u{1}b", "--tree", noKernel], "control character"),
            (["deploy", "--stateroot", "nosuch", "--tree", m.tree("z"), "--karg", "root=x"], "no stateroot"),
            (["deploy", "--stateroot", "os", "--tree", m.tree("y"), "--karg", "bootdeploy=evil"], "bootdeploy="),
            (["deploy", "--stateroot", "os", "--tree", m.tree("w"), "--karg", "root=x", "--tries", "12"], "--tries"),
            (["set-default", "nosuch"], "no deployment"),
            (["undeploy", "../../etc"], "invalid stateroot"),
            (["kargs", "--deployment", "nosuch", "--append", "x"], "no deployment"),
        ]
        for (args, message) in cases {
            let r = try TestSupport.run(TestEnv.tool("boot-deploy"), [args[0]] + m.globalArgs + Array(args.dropFirst()))
            #expect(r.status == 1, "\(args) must fail")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("boot-deploy: "), "one clear line: \(r.stderr)")
        }
        #expect(try treeDigest(m.boot) == before)
    }

    @Test("a malformed entry of ours in /boot stops every change and names its file and line")
    func malformedOurs() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"))
        try "title x\nsort-key\u{0}bad\n".write(toFile: m.entriesDir + "/bd-os-099.conf", atomically: true, encoding: .utf8)
        let before = try treeDigest(m.boot)
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k9"), "--karg", "root=x"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bd-os-099.conf"), "\(r.stderr)")
        #expect(try treeDigest(m.boot) == before)
        // status still works, and reports it.
        let s = try m.status()
        #expect((s["problems"] as! [String]).contains { $0.contains("bd-os-099.conf") })
        let v = try m.bd("validate")
        #expect(v.status == 1)
    }

    @Test("two concurrent deploys both land in turn, never a mixed /boot")
    func concurrent() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"))
        let t1 = m.tree("b", kernel: "kb"), t2 = m.tree("c", kernel: "kc")
        let script = """
        \(TestEnv.tool("boot-deploy")) deploy \(m.globalArgs.joined(separator: " ")) --stateroot os --tree \(t1) --karg root=x & p1=$!
        \(TestEnv.tool("boot-deploy")) deploy \(m.globalArgs.joined(separator: " ")) --stateroot os --tree \(t2) --karg root=x & p2=$!
        wait $p1 || exit 1; wait $p2 || exit 2
        """
        let r = try sh(script)
        #expect(r.ok, "\(r.stderr)")
        #expect(try m.order().count == 3)
        try m.ok("validate")
        // With --no-wait a held lock fails at once with a clear message.
        let lockHolder = Process()
        lockHolder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        lockHolder.arguments = [m.root + "/bootdeploy/.lock", "sleep", "3"]
        try lockHolder.run()
        usleep(300_000)
        let busy = try m.bd("rollback", ["--no-wait"])
        lockHolder.waitUntilExit()
        #expect(busy.status == 1 && busy.stderr.contains("held by another"), "\(busy.stderr)")
    }

    @Test("bootctl reads our /boot and shows the default first", .enabled(if: Bootctl.available))
    func bootctlAgrees() throws {
        let m = Machine()
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let b = try m.deploy(m.tree("b", kernel: "k2"))
        let c = try m.deploy(m.tree("c", kernel: "k3"))
        try m.ok("rollback")
        let list = try m.bootctl()
        #expect(list.compactMap(bootParameter) == (try m.order()))
        #expect(try m.order() == [b, c, a])
        #expect((list.first?["isDefault"] as? Bool) ?? true)
    }
}

@Suite("Counters and boot partition discovery", .serialized)
struct CounterTests {
    @Test("counters the boot loader changed are carried over when entries are rewritten")
    func countersCarried() throws {
        let m = Machine()
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        // systemd-boot tried a once: +3-0 -> +2-1, in place.
        let old = m.entryFiles()[0]
        #expect(old.hasSuffix("+3-0.conf"))
        try FileManager.default.moveItem(atPath: m.entriesDir + "/" + old, toPath: m.entriesDir + "/" + old.replacingOccurrences(of: "+3-0", with: "+2-1"))
        let b = try m.deploy(m.tree("b", kernel: "k2"))
        let ds = try m.deployments()
        let da = ds.first { "\($0["stateroot"]!)/\($0["id"]!)" == a }!
        #expect(da["triesLeft"] as? Int == 2 && da["triesDone"] as? Int == 1)
        #expect((da["entry"] as? String)?.hasSuffix("+2-1.conf") == true)
        #expect(try m.order() == [b, a])
        // A blessed entry stays blessed through a rollback.
        let bEntry = ds.first { "\($0["stateroot"]!)/\($0["id"]!)" == b }!["entry"] as! String
        try FileManager.default.moveItem(atPath: m.entriesDir + "/" + bEntry, toPath: m.entriesDir + "/" + bEntry.replacingOccurrences(of: "+3-0", with: ""))
        try m.ok("rollback")
        let after = try m.deployments()
        #expect(after.first { "\($0["stateroot"]!)/\($0["id"]!)" == b }?["state"] as? String == "good")
        #expect(after.first { "\($0["stateroot"]!)/\($0["id"]!)" == a }?["triesLeft"] as? Int == 2)
    }

    @Test("without --boot, XBOOTLDR wins over the ESP, which wins over a plain /boot; the last mount on a path counts")
    func locateBoot() throws {
        func entry(_ src: String, _ target: String) -> MountEntry {
            MountEntry(source: src, target: target, fstype: "vfat", options: "rw", readOnly: false, root: "/", id: 1, parentID: 0, propagation: .private)
        }
        let types = ["/dev/vda1": PartitionType.esp, "/dev/vda2": PartitionType.xbootldr, "/dev/vda3": "0fc63daf-8483-4772-8e79-3d69d8477de4"]
        func choose(_ mounts: [MountEntry], dirs: Set<String> = []) -> BootLocator.Found? {
            BootLocator.choose(mounts: mounts, prefix: "", partitionType: { types[$0] }, directoryExists: { dirs.contains($0) })
        }
        #expect(choose([entry("/dev/vda1", "/boot/efi"), entry("/dev/vda2", "/boot")]) == .init(path: "/boot", kind: .xbootldr))
        #expect(choose([entry("/dev/vda1", "/efi"), entry("/dev/vda2", "/boot")]) == .init(path: "/boot", kind: .xbootldr))
        #expect(choose([entry("/dev/vda1", "/efi"), entry("/dev/vda3", "/boot")], dirs: ["/boot"]) == .init(path: "/efi", kind: .esp))
        #expect(choose([entry("/dev/vda3", "/boot")], dirs: ["/boot"]) == .init(path: "/boot", kind: .directory))
        #expect(choose([entry("/dev/vda2", "/boot"), entry("/dev/vda3", "/boot")], dirs: ["/boot"]) == .init(path: "/boot", kind: .directory))
        #expect(choose([entry("tmpfs", "/efi")]) == nil)
    }

    @Test("libblkid reads the partition type GUID and filesystem UUID of a real GPT partition", .enabled(if: TestEnv.isRoot))
    func probeRealPartition() throws {
        let t = TempDir("bdprobe")
        let img = t.sub("disk.img")
        try sh("truncate -s 40M \(img) && printf 'label: gpt\\nsize=30M, type=BC13C2FF-59E6-4262-A352-B275FD6F7172\\n' | sfdisk -q \(img)")
        let dev = try sh("losetup -f --show -P \(img)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? sh("losetup -d \(dev)") }
        let part = dev + "p1"
        guard FileManager.default.fileExists(atPath: part) else {
            // Containers without partition scanning on loop devices: say so, do not pass silently.
            try TestEnv.skip("probeRealPartition", because: "the kernel made no \(part) for losetup -P (no loop partition scanning here); the VM suite covers real partitions")
        }
        try sh("mkfs.ext4 -q -F \(part)")
        let info = try BlockDevices.probe(part)
        #expect(info.partitionType == PartitionType.xbootldr)
        #expect(info.uuid != nil)
    }
}

@Suite("deploy --move")
struct MoveTests {
    @Test("--move renames the tree into place, and a failed deploy gives it back where it was")
    func moveAndGiveBack() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a", kernel: "k1"))
        // The tree must be on the sysroot's filesystem: both are under the same TempDir.
        let t = m.tree("moved", kernel: "k2")
        let trace = m.tmp.sub("trace")
        let probe = m.tree("probe", kernel: "k3")
        _ = try m.bd("deploy", ["--stateroot", "os", "--tree", probe, "--karg", "root=x", "--move"], env: ["BOOTDEPLOY_FAULT_TRACE": trace])
        // Fail at the record write of the next deploy: after the tree was moved in.
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let recordWrite = lines.firstIndex { $0.contains(" create ") && $0.contains(".json.tmp") }!
        let failed = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x", "--move"],
                              env: ["BOOTDEPLOY_FAULT_AT": String(recordWrite + 1)])
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(FileManager.default.fileExists(atPath: t + "/usr/bin/hello"), "the moved tree is back")
        #expect(try m.order().count == 2)
        // And a successful --move consumes it.
        let q = try m.ok("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x", "--move"])
        #expect(!FileManager.default.fileExists(atPath: t))
        #expect(FileManager.default.fileExists(atPath: m.root + "/bootdeploy/os/deploy/\(q.split(separator: "/")[1])/usr/bin/hello"))
    }
}
