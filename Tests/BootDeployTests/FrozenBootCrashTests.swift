import Foundation
import Testing
import TestSupport

/// The crash sweep on a real, loop-mounted ext4 and xfs /boot with freezing on (the sweep in
/// CrashTests.swift runs on plain directories, where nothing is frozen): every writer — deploy,
/// rollback, kargs, undeploy, cleanup, finalize, boot-health's bless and mark-bad — is killed at
/// every mutating call, the FIFREEZE/FITHAW ioctls (xfs) and ext4's journal checkpoint included,
/// and after each kill /boot accepts writes again within seconds and still boots (bootctl agrees).
/// At the ioctls it is also stopped by an injected error.
@Suite("Crash sweep on ext4 and xfs /boot with freezing on", .serialized, .enabled(if: TestEnv.isRoot && Bootctl.available))
struct FrozenBootCrashTests {
    /// One machine whose /boot is a mounted filesystem in a private namespace, and a snapshot of
    /// it (and of the sysroot and run dir) to go back to before every stop.
    final class Rig: @unchecked Sendable {
        let m = Machine(label: "bdfc")
        let ns: Namespace
        var snap: String { m.tmp.sub("snap") }

        init(fs: String) throws {
            ns = try Namespace()
            try ns.mountImage(m.tmp.sub("boot.img"), at: m.boot, type: fs, sizeMiB: fs == "xfs" ? 300 : 64)
        }

        func bd(_ args: [String], env: [String: String] = [:]) throws -> RunResult {
            try ns.run("/usr/bin/timeout", ["120", TestEnv.tool("boot-deploy"), args[0]] + m.globalArgs + args.dropFirst(), env: env)
        }

        var healthArgs: [String] {
            ["--sysroot", m.root, "--boot", m.boot, "--run-dir", m.run, "--cmdline-file", m.tmp.sub("cmdline"),
             "--config", m.tmp.sub("hc"), "--vendor-config", m.tmp.sub("hv"), "--efivars", m.tmp.sub("efivars"),
             "--greenboot-dir", m.tmp.sub("gb"), "--no-kmsg"]
        }

        func health(_ args: [String], env: [String: String] = [:]) throws -> RunResult {
            try ns.run("/usr/bin/timeout", ["120", TestEnv.tool("boot-health"), args[0]] + healthArgs + args.dropFirst(), env: env)
        }

        func must(_ args: [String]) throws -> String {
            let r = try bd(args)
            guard r.ok else { throw Failure("boot-deploy \(args): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func snapshot() throws {
            try ns.must("rm -rf '\(snap)' && mkdir -p '\(snap)/boot' && cp -a '\(m.boot)/.' '\(snap)/boot/' && cp -a '\(m.root)' '\(snap)/root' && cp -a '\(m.run)' '\(snap)/run'")
        }

        func reset() throws {
            try ns.must("""
                fsfreeze -u '\(m.boot)' 2>/dev/null; find '\(m.boot)' -mindepth 1 -delete && cp -a '\(snap)/boot/.' '\(m.boot)/' && \
                rm -rf '\(m.root)' '\(m.run)' && cp -a '\(snap)/root' '\(m.root)' && cp -a '\(snap)/run' '\(m.run)'
                """)
        }

        /// Our deployments in bootctl's order (the real reader's view of /boot), after checking
        /// that at least one entry is complete and every entry of ours names existing files.
        func bootctlOrder(_ what: String) throws -> [String?] {
            let r = try ns.run("/bin/sh", ["-c", "SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 bootctl --esp-path='\(m.boot)' --boot-path='\(m.boot)' --no-variables --no-pager list --json=short"])
            let list = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(!list.isEmpty, "\(what): bootctl sees no entry: \(r.stderr)")
            // One shell for every entry's files: "OK <path>" or "BAD <path>" per entry.
            var script = ""
            for e in list {
                guard let qid = bootParameter(e), let linux = e["linux"] as? String else { continue }
                let files = [linux] + ((e["initrd"] as? [String]) ?? [])
                let parts = qid.split(separator: "/").map(String.init)
                let dep = "\(m.root)/bootdeploy/\(parts[0])/deploy/\(parts[1])"
                let test = files.map { "test -s '\(m.boot)\($0)'" }.joined(separator: " && ") + " && test -f '\(dep)/usr/bin/hello' && test -f '\(dep).json'"
                script += "if \(test); then echo OK; else echo 'BAD \(e["path"] ?? "?")'; fi\n"
            }
            let checked = try ns.sh(script.isEmpty ? "true" : script).stdout
            for line in checked.split(separator: "\n") where line.hasPrefix("BAD") { Issue.record("\(what): entry \(line.dropFirst(4)) is incomplete") }
            #expect(checked.contains("OK"), "\(what): no complete entry")
            return list.map(bootParameter)
        }

        /// After a stop: /boot takes a write within 10 s (it is not frozen), and the next
        /// commands recover: status reads it, cleanup removes leftovers, validate is clean.
        func recovers(_ what: String) throws {
            let tool = TestEnv.tool("boot-deploy")
            let args = m.globalArgs.map { "'\($0)'" }.joined(separator: " ")
            let r = try ns.sh("""
                timeout 10 sh -c 'echo x > \(m.boot)/.probe && sync -f \(m.boot)/.probe && rm \(m.boot)/.probe' || { echo FROZEN; exit 1; }
                for c in 'status --json' cleanup validate; do
                  out=$(timeout 60 '\(tool)' $c \(args) 2>&1) || { echo "FAILED $c: $out"; exit 1; }
                done
                """)
            #expect(!r.stdout.contains("FROZEN"), "\(what): /boot is left frozen")
            #expect(r.ok, "\(what): \(r.stdout.suffix(400))")
        }
    }

    /// An operation under test: how to build its starting state, and the command.
    struct Operation {
        var label: String
        var prepare: (Rig) throws -> Void
        var health = false
        var command: (Rig) -> [String]
    }

    static func twoDeployments(_ r: Rig) throws {
        _ = try r.must(["init", "--stateroot", "os"])
        _ = try r.must(["deploy", "--stateroot", "os", "--tree", r.m.tree("a", kernel: "k1"), "--karg", "root=x"])
        _ = try r.must(["deploy", "--stateroot", "os", "--tree", r.m.tree("b", kernel: "k2"), "--karg", "root=x"])
    }

    /// The default deployment is booted on its first try (as systemd-boot renames it).
    static func bootedOnFirstTry(_ r: Rig) throws {
        try twoDeployments(r)
        let s = try JSONSerialization.jsonObject(with: Data(r.must(["status", "--json"]).utf8)) as! [String: Any]
        let first = (s["deployments"] as! [[String: Any]]).first!
        let entry = first["entry"] as! String
        let qid = "\(first["stateroot"]!)/\(first["id"]!)"
        try r.ns.must("cd '\(r.m.boot)'/loader/entries && mv '\(entry)' '\(entry.replacingOccurrences(of: "+3-0", with: "+2-1"))'")
        r.m.tmp.write("cmdline", "root=x rw bootdeploy=\(qid)\n")
        for d in ["hc", "hv", "efivars", "gb"] { r.m.tmp.mkdir(d) }
        try #"{"schema":1,"stateroot":"os","id":"\#(qid.split(separator: "/")[1])"}"#.write(toFile: r.m.run + "/booted.json", atomically: true, encoding: .utf8)
    }

    static var operations: [Operation] { [
        Operation(label: "deploy", prepare: twoDeployments) { r in ["deploy", "--stateroot", "os", "--tree", r.m.tree("new", kernel: "k3"), "--karg", "root=x"] },
        Operation(label: "rollback", prepare: twoDeployments) { _ in ["rollback"] },
        Operation(label: "kargs", prepare: twoDeployments) { _ in ["kargs", "--append", "console=ttyS0"] },
        Operation(label: "undeploy", prepare: { r in
            try twoDeployments(r)
            _ = try r.must(["deploy", "--stateroot", "os", "--tree", r.m.tree("c", kernel: "k3"), "--karg", "root=x"])
        }) { r in
            let s = (try? JSONSerialization.jsonObject(with: Data(r.must(["status", "--json"]).utf8)) as? [String: Any]) ?? [:]
            let last = ((s["deployments"] as? [[String: Any]]) ?? []).last ?? [:]
            return ["undeploy", "\(last["stateroot"] ?? "os")/\(last["id"] ?? "?")"]
        },
        Operation(label: "cleanup", prepare: { r in
            try twoDeployments(r)
            _ = try r.must(["deploy", "--stateroot", "os", "--tree", r.m.tree("c", kernel: "k3"), "--karg", "root=x"])
            try r.ns.must("cd '\(r.m.boot)'/loader/entries && rm \"$(ls | sort | tail -1)\"")
        }) { _ in ["cleanup"] },
        Operation(label: "finalize", prepare: { r in
            try bootedOnFirstTry(r)
            _ = try r.must(["deploy", "--stateroot", "os", "--tree", r.m.tree("s", kernel: "k4"), "--karg", "root=x", "--stage", "--no-start-unit"])
        }) { _ in ["finalize"] },
        Operation(label: "boot-health bless", prepare: bootedOnFirstTry, health: true) { _ in ["mark-good"] },
        Operation(label: "boot-health mark-bad", prepare: bootedOnFirstTry, health: true) { _ in ["mark-bad", "--reason", "sweep"] },
    ] }

    func sweep(_ op: Operation, fs: String) throws -> (points: Int, stops: Int) {
        let r = try Rig(fs: fs)
        defer { _ = try? r.ns.sh("fsfreeze -u '\(r.m.boot)'") }
        try op.prepare(r)
        try r.snapshot()
        let oldFirst = try r.bootctlOrder("\(op.label): before").first ?? nil
        let args = op.command(r)
        let run = { (env: [String: String]) throws -> RunResult in op.health ? try r.health(args, env: env) : try r.bd(args, env: env) }
        let trace = r.m.tmp.sub("trace")
        let ok = try run(["BOOTDEPLOY_FAULT_TRACE": trace])
        #expect(ok.ok, "\(op.label) on \(fs): the untraced operation must succeed: \(ok.stderr)")
        let newFirst = try r.bootctlOrder("\(op.label): after").first ?? nil
        let calls = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        let froze = calls.contains { $0.count > 1 && $0[1] == "fifreeze" } && calls.contains { $0.count > 1 && $0[1] == "fithaw" }
        if fs == "xfs" {
            #expect(froze, "\(op.label) on \(fs): no freeze among the mutating calls")
        } else {
            // A journalled ext4 tells from its superblock that it is not frozen, and its journal
            // is written back by a checkpoint: nothing freezes it.
            #expect(!calls.contains { $0.count > 1 && $0[1] == "fifreeze" }, "\(op.label) on \(fs): froze an unfrozen ext4 /boot")
        }
        var stops = 0
        for (i, call) in calls.enumerated() {
            let n = i + 1
            let modes = call.count > 1 && ["fifreeze", "fithaw", "checkpoint"].contains(call[1]) ? ["kill", "error"] : ["kill"]
            for mode in modes {
                try r.reset()
                let res = try run(["BOOTDEPLOY_FAULT_AT": String(n), "BOOTDEPLOY_FAULT_MODE": mode])
                stops += 1
                let what = "\(op.label) on \(fs), stopped at call \(n)/\(calls.count) \(call.dropFirst().first ?? "") (\(mode))"
                if mode == "kill" {
                    #expect(res.status == 137, "\(what): must die by SIGKILL, got \(res.status) \(res.stderr)")
                } else {
                    // boot-health's mark-bad goes on when the demoting transaction fails (the
                    // counter rename already marked the entry bad); boot-deploy fails.
                    #expect(res.status != 124 && (op.health || res.status != 0), "\(what): must fail without hanging, got \(res.status)")
                }
                // bootctl first, on the state the kill left (reads do not block on a frozen /boot).
                let first = try r.bootctlOrder(what).first ?? nil
                #expect(first == oldFirst || first == newFirst, "\(what): default \(first ?? "none") is neither the old nor the new one")
                try r.recovers(what)
            }
        }
        return (calls.count, stops)
    }

    @Test("every writer killed at every mutating call leaves /boot thawed and bootable", arguments: ["ext4", "xfs"])
    func sweepAll(fs: String) throws {
        for op in Self.operations {
            let start = Date()
            let o = try sweep(op, fs: fs)
            print("frozen-boot sweep: \(op.label) on \(fs): \(o.points) calls, \(o.stops) stops, \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
    }
}
