import Foundation
import Testing
import TestSupport

/// Deployments on real, loop-mounted filesystems inside a private mount namespace.
@Suite("Deployments on real filesystems", .serialized, .enabled(if: TestEnv.isRoot))
struct FilesystemTests {
    /// deploy, deploy, rollback, kargs, cleanup on a boot filesystem of the given type, checking
    /// after each step that bootctl and our status agree.
    func lifecycle(bootFS: String, strategy: String, expectLoaderSymlink: Bool) throws {
        let m = Machine(label: "bdfs")
        m.strategy = strategy
        let ns = try Namespace()
        try ns.mountImage(m.tmp.sub("root.img"), at: m.root, type: "ext4", sizeMiB: 64)
        try ns.mountImage(m.tmp.sub("boot.img"), at: m.boot, type: bootFS, sizeMiB: bootFS == "xfs" ? 300 : 64)
        let n = NSMachine(m, ns)
        try n.ok("init", ["--stateroot", "os"])
        // Without --karg root=, the root's filesystem UUID comes from libblkid.
        let a = try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a", kernel: "k1")])
        let uuid = try ns.must("blkid -s UUID -o value \(m.tmp.sub("root.img"))").trimmingCharacters(in: .whitespacesAndNewlines)
        let entry = try ns.must("cat \(m.boot)/loader/entries/*.conf")
        #expect(entry.contains("options root=UUID=\(uuid) rw bootdeploy=\(a)"), "\(entry)")
        let b = try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg", "quiet"])
        try checkAgreement(n, expected: [b, a])
        try n.ok("rollback")
        try checkAgreement(n, expected: [a, b])
        try n.ok("kargs", ["--append", "console=ttyS0"])
        try checkAgreement(n, expected: [a, b])
        try n.ok("undeploy", [b])
        try n.ok("cleanup")
        try checkAgreement(n, expected: [a])
        let isLink = try ns.sh("test -L \(m.boot)/loader").ok
        #expect(isLink == expectLoaderSymlink)
        try n.ok("validate")
    }

    func checkAgreement(_ n: NSMachine, expected: [String]) throws {
        let s = try JSONSerialization.jsonObject(with: Data(n.ok("status", ["--json"]).utf8)) as! [String: Any]
        let ours = (s["deployments"] as! [[String: Any]]).filter { $0["index"] != nil }.map { "\($0["stateroot"]!)/\($0["id"]!)" }
        #expect(ours == expected)
        let r = try n.ns.run("/bin/sh", ["-c", "SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 bootctl --esp-path=\(n.m.boot) --boot-path=\(n.m.boot) --no-variables --no-pager list --json=short"])
        #expect(r.ok, "bootctl: \(r.stderr)")
        let list = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(list.compactMap(bootParameter) == expected, "bootctl order")
    }

    @Test("ext4 /boot: loader.N generations swapped by one symlink rename; bootctl agrees at every step")
    func ext4() throws { try lifecycle(bootFS: "ext4", strategy: "auto", expectLoaderSymlink: true) }

    @Test("xfs /boot: the same, on xfs")
    func xfs() throws { try lifecycle(bootFS: "xfs", strategy: "auto", expectLoaderSymlink: true) }

    @Test("forced vfat strategy (entries.staged + RENAME_EXCHANGE) on ext4")
    func exchange() throws { try lifecycle(bootFS: "ext4", strategy: "exchange", expectLoaderSymlink: false) }

    @Test("forced per-file strategy on ext4")
    func perFile() throws { try lifecycle(bootFS: "ext4", strategy: "per-file", expectLoaderSymlink: false) }

    @Test("a full /boot (ENOSPC) fails clearly and leaves /boot byte-identical")
    func enospc() throws {
        let m = Machine(label: "bdnospc")
        let ns = try Namespace()
        try ns.mountImage(m.tmp.sub("boot.img"), at: m.boot, type: "ext4", sizeMiB: 4)
        let n = NSMachine(m, ns)
        try n.ok("init", ["--stateroot", "os"])
        try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a"), "--karg", "root=x"])
        // A kernel bigger than what is left.
        let big = m.tree("big")
        try sh("head -c 6000000 /dev/urandom > \(big)/usr/lib/modules/6.1.0-test/vmlinuz")
        let before = try ns.must("cd \(m.boot) && find . -printf '%p %y %m %l\\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum")
        let r = try n.bd("deploy", ["--stateroot", "os", "--tree", big, "--karg", "root=x"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("No space left on device"), "\(r.stderr)")
        let after = try ns.must("cd \(m.boot) && find . -printf '%p %y %m %l\\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum")
        #expect(before == after)
        // The failed deployment left nothing in the sysroot either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: m.root + "/bootdeploy/os/deploy").count == 2)
    }

    @Test("a read-only /boot fails clearly and leaves it byte-identical")
    func readOnly() throws {
        let m = Machine(label: "bdro")
        let ns = try Namespace()
        try ns.mountImage(m.tmp.sub("boot.img"), at: m.boot, type: "ext4", sizeMiB: 16)
        let n = NSMachine(m, ns)
        try n.ok("init", ["--stateroot", "os"])
        try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a"), "--karg", "root=x"])
        try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a2", kernel: "k3"), "--karg", "root=x"])
        try ns.must("mount -o remount,ro \(m.boot)")
        let before = try ns.must("cd \(m.boot) && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; find . | LC_ALL=C sort")
        let r = try n.bd("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg", "root=x"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Read-only file system"), "\(r.stderr)")
        let r2 = try n.bd("rollback")
        #expect(r2.status == 1)
        #expect(r2.stderr.contains("Read-only file system"), "\(r2.stderr)")
        #expect(try ns.must("cd \(m.boot) && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; find . | LC_ALL=C sort") == before)
    }
}
