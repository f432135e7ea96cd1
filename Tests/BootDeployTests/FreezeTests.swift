import Foundation
import Testing
import TestSupport

/// A frozen /boot blocks every write to it in uninterruptible sleep. These tests freeze a real,
/// loop-mounted ext4 /boot and check that no writer leaves it frozen and no writer hangs on it.
@Suite("A frozen /boot is never left behind and never hangs a writer", .serialized, .enabled(if: TestEnv.isRoot))
struct FreezeTests {
    /// A machine whose /boot is a freshly mounted ext4 filesystem holding one deployment.
    func frozenBootMachine(_ fs: String = "ext4") throws -> (NSMachine, Namespace) {
        let m = Machine(label: "bdfz")
        let ns = try Namespace()
        try ns.mountImage(m.tmp.sub("boot.img"), at: m.boot, type: fs, sizeMiB: fs == "xfs" ? 300 : 64)
        let n = NSMachine(m, ns)
        try n.ok("init", ["--stateroot", "os"])
        try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("a", kernel: "k1"), "--karg", "root=LABEL=x"])
        try n.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg", "root=LABEL=x"])
        return (n, ns)
    }

    /// Whether a write to /boot completes within `seconds` (a frozen filesystem makes it hang).
    static func bootAcceptsWrites(_ n: NSMachine, seconds: Int = 10) throws -> Bool {
        try n.ns.sh("timeout \(seconds) sh -c 'echo x > \(n.m.boot)/.probe && sync -f \(n.m.boot)/.probe && rm \(n.m.boot)/.probe'").ok
    }

    static func boot(_ n: NSMachine, _ args: [String], env: [String: String] = [:], timeout: Int = 60) throws -> RunResult {
        try n.ns.run("/usr/bin/timeout", [String(timeout), TestEnv.tool("boot-deploy")] + [args[0]] + n.m.globalArgs + args.dropFirst(), env: env)
    }

    /// The mutating calls of one traced boot-deploy run, as (number, operation) pairs.
    static func traced(_ n: NSMachine, _ args: [String]) throws -> [(at: String, op: String, path: String)] {
        let trace = n.m.tmp.sub("trace")
        try? FileManager.default.removeItem(atPath: trace)
        let ok = try Self.boot(n, args, env: ["BOOTDEPLOY_FAULT_TRACE": trace])
        #expect(ok.ok, "\(args[0]): \(ok.stderr)")
        return try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map {
            let f = $0.split(separator: " ")
            return (String(f[0]), f.count > 1 ? String(f[1]) : "", f.dropFirst(2).joined(separator: " "))
        }
    }

    // On ext4 nothing freezes an unfrozen /boot any more (next test); xfs still freezes/thaws.
    @Test("boot-deploy killed between FIFREEZE and FITHAW: its watchdog thaws /boot")
    func killedBetweenFreezeAndThaw() throws {
        let (n, ns) = try frozenBootMachine("xfs")
        defer { _ = try? ns.sh("fsfreeze -u \(n.m.boot)") }
        let calls = try Self.traced(n, ["rollback"])
        let thaws = calls.filter { $0.op == "fithaw" }
        #expect(!thaws.isEmpty, "no FITHAW among the mutating calls of a rollback on xfs: \(calls.map(\.op))")
        for t in thaws {
            let at = t.at
            let r = try Self.boot(n, ["rollback"], env: ["BOOTDEPLOY_FAULT_AT": at, "BOOTDEPLOY_FAULT_MODE": "kill"])
            #expect(r.status == 137, "must die by SIGKILL at call \(at): \(r.status) \(r.stderr)")
            #expect(try Self.bootAcceptsWrites(n), "/boot is still frozen after a kill at call \(at) (FITHAW)")
            _ = try ns.sh("fsfreeze -u \(n.m.boot)")
        }
    }

    @Test("on an unfrozen ext4 /boot a deploy never freezes: it writes the journal back with one checkpoint, and a reader that ignores the journal sees the new entry")
    func ext4DeployDoesNotFreeze() throws {
        let (n, ns) = try frozenBootMachine()
        defer { _ = try? ns.sh("fsfreeze -u \(n.m.boot)") }
        let calls = try Self.traced(n, ["deploy", "--stateroot", "os", "--tree", n.m.tree("c", kernel: "k3"), "--karg", "root=LABEL=x"])
        let ops = calls.map(\.op)
        #expect(!ops.contains("fifreeze") && !ops.contains("fithaw"), "a deploy froze an unfrozen ext4 /boot: \(ops)")
        #expect(ops.filter { $0 == "checkpoint" }.count == 1, "one journal checkpoint expected: \(ops)")
        // The checkpoint comes after the commit point, the last write of the new entry set.
        if let c = ops.lastIndex(of: "checkpoint"), let swap = calls.lastIndex(where: { $0.op.hasPrefix("rename") && $0.path.contains(n.m.boot + "/loader") }) {
            #expect(c > swap, "the checkpoint precedes the swap: \(ops)")
        }
        // What GRUB sees: the device read with direct I/O (debugfs -D, which replays no journal).
        let newest = try ns.must("ls \(n.m.boot)/loader/entries | sort | tail -1").trimmingCharacters(in: .whitespacesAndNewlines)
        let want = try ns.must("cat \(n.m.boot)/loader/entries/\(newest)")
        let dev = try ns.must("findmnt -no SOURCE \(n.m.boot)").trimmingCharacters(in: .whitespacesAndNewlines)
        let gen = try ns.must("readlink \(n.m.boot)/loader").trimmingCharacters(in: .whitespacesAndNewlines)
        let seen = try ns.sh("debugfs -D -R 'cat /\(gen)/entries/\(newest)' \(dev) 2>/dev/null")
        #expect(seen.ok && seen.stdout == want, "the device's own blocks do not hold \(gen)/entries/\(newest): \(seen.stdout) \(seen.stderr)")
        // And GRUB's own ext2 driver (grub-fstest) reading the image file behind the loop device.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/grub-fstest") {
            let grub = try ns.sh("grub-fstest '\(n.m.tmp.sub("boot.img"))' cat '/\(gen)/entries/\(newest)'")
            #expect(grub.ok && grub.stdout == want, "GRUB does not read \(gen)/entries/\(newest) from the image: \(grub.stdout) \(grub.stderr)")
        } else {
            print("SKIP: grub-fstest not installed (grub-common, scripts/install-deps.sh check): GRUB's own reading of the image not checked")
        }
        // A foreign freeze is still found without a freeze of ours: refused, nothing written.
        try ns.must("fsfreeze -f \(n.m.boot)")
        let r = try Self.boot(n, ["rollback"], timeout: 30)
        #expect(r.status == 1 && r.stderr.contains("frozen"), "rollback on a frozen ext4 /boot: \(r.status) (124 = hung) \(r.stderr)")
        try ns.must("fsfreeze -u \(n.m.boot)")
    }

    @Test("a freeze left by a writer killed together with its watchdog is thawed by the next writer")
    func leftoverFreezeIsRecovered() throws {
        let (n, ns) = try frozenBootMachine("xfs")
        defer { _ = try? ns.sh("fsfreeze -u \(n.m.boot)") }
        // What a SIGKILL of the whole service leaves: the marker and a frozen /boot.
        try ns.must("""
            printf '%s 0 1 %s\\n' "$(cat /proc/sys/kernel/random/boot_id)" '\(n.m.boot)' > '\(n.m.root)/bootdeploy/.boot-frozen' && fsfreeze -f '\(n.m.boot)'
            """)
        // Even with --no-freeze, which only turns off freezing, not the recovery.
        let r = try Self.boot(n, ["rollback", "--no-freeze"], timeout: 30)
        #expect(r.status != 124, "rollback hung on the frozen /boot")
        #expect(r.ok, "rollback after a leftover freeze: \(r.status) \(r.stderr)")
        #expect(r.stderr.contains("left frozen"), "the recovery is not said: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: n.m.root + "/bootdeploy/.boot-frozen"))
        #expect(try Self.bootAcceptsWrites(n))
    }

    @Test("a /boot frozen by another program is refused with a message naming it, without hanging")
    func foreignFreezeIsRefused() throws {
        let (n, ns) = try frozenBootMachine()
        defer { _ = try? ns.sh("fsfreeze -u \(n.m.boot)") }
        let before = try ns.must("cd \(n.m.boot) && find . | sort && cat loader/entries/*.conf")
        try ns.must("fsfreeze -f \(n.m.boot)")
        for args in [["rollback"], ["kargs", "--append", "quiet"]] {
            let r = try Self.boot(n, args, timeout: 30)
            #expect(r.status == 1, "\(args[0]) on a frozen /boot: status \(r.status) (124 = hung) \(r.stderr)")
            #expect(r.stderr.contains("frozen") && r.stderr.contains(n.m.boot), "\(args[0]): \(r.stderr)")
        }
        // A cleanup with nothing to remove from /boot writes nothing there: it neither probes (no
        // flush) nor hangs.
        let idle = try Self.boot(n, ["cleanup"], timeout: 30)
        #expect(idle.ok, "cleanup with nothing to do on a frozen /boot: \(idle.status) (124 = hung) \(idle.stderr)")
        try ns.must("fsfreeze -u \(n.m.boot)")
        #expect(try ns.must("cd \(n.m.boot) && find . | sort && cat loader/entries/*.conf") == before, "/boot changed")
        // With a leftover to remove, cleanup probes first and refuses, naming /boot.
        try ns.must("mkdir \(n.m.boot)/loader.tmp-left")
        let withLeftover = try ns.must("cd \(n.m.boot) && find . | sort && cat loader/entries/*.conf")
        try ns.must("fsfreeze -f \(n.m.boot)")
        let r = try Self.boot(n, ["cleanup"], timeout: 30)
        #expect(r.status == 1, "cleanup with a leftover on a frozen /boot: status \(r.status) (124 = hung) \(r.stderr)")
        #expect(r.stderr.contains("frozen") && r.stderr.contains(n.m.boot), "cleanup: \(r.stderr)")
        try ns.must("fsfreeze -u \(n.m.boot)")
        #expect(try ns.must("cd \(n.m.boot) && find . | sort && cat loader/entries/*.conf") == withLeftover, "/boot changed while frozen")
        #expect(try Self.boot(n, ["cleanup"]).ok)
        #expect(!FileManager.default.fileExists(atPath: n.m.boot + "/loader.tmp-left"), "the leftover stayed")
        #expect(try Self.boot(n, ["rollback"]).ok)
    }

    @Test("boot-health's bless and mark-bad on a /boot frozen by another program fail with a message instead of hanging")
    func healthRefusesForeignFreeze() throws {
        let r = try FrozenBootCrashTests.Rig(fs: "ext4")
        defer { _ = try? r.ns.sh("fsfreeze -u '\(r.m.boot)'") }
        try FrozenBootCrashTests.bootedOnFirstTry(r)
        try r.ns.must("fsfreeze -f '\(r.m.boot)'")
        for args in [["mark-good"], ["mark-bad", "--reason", "test"]] {
            let h = try r.health(args)
            #expect(h.status != 0 && h.status != 124, "\(args[0]) on a frozen /boot: \(h.status) (124 = hung)")
            #expect(h.stderr.contains("frozen"), "\(args[0]): \(h.stderr)")
        }
        try r.ns.must("fsfreeze -u '\(r.m.boot)'")
        let ok = try r.health(["mark-good"])
        #expect(ok.ok, "\(ok.stderr)")
    }
}
