import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// boot-health on a sysroot and /boot made by the project's own `boot-deploy`, with the real
/// deployment layer behind `DeploymentOrdering` (`ManagerOrdering` over `DeploymentManager`).
@Suite("With real deployments from boot-deploy", .serialized, .timeLimit(.minutes(2)))
struct IntegrationTests {
    final class Machine: @unchecked Sendable {
        let f = HealthFixture()
        var global: [String] { ["--sysroot", f.sysroot, "--boot", f.boot, "--run-dir", f.tmp.sub("run")] }

        func bd(_ args: [String]) throws -> RunResult {
            try run(TestEnv.tool("boot-deploy"), [args[0]] + global + Array(args.dropFirst()))
        }

        func tree(_ name: String) -> String {
            f.tmp.write("trees/\(name)/usr/lib/modules/6.1.0-test/vmlinuz", "kernel-\(name)")
            f.tmp.write("trees/\(name)/usr/lib/modules/6.1.0-test/initramfs.img", "initrd-\(name)")
            f.tmp.write("trees/\(name)/usr/lib/os-release", "PRETTY_NAME=\"Test \(name)\"\nVERSION_ID=\(name)\n")
            return f.tmp.sub("trees/\(name)")
        }

        func deploy(_ name: String) throws -> String {
            let r = try bd(["deploy", "--stateroot", "os", "--tree", tree(name), "--karg", "root=UUID=1234"])
            guard r.ok, let last = r.stdout.split(separator: "\n").last else { throw SystemdMock.MockError("deploy: \(r.stderr)") }
            return String(last)
        }

        /// What systemd-boot does when it boots an entry: one try used, renamed before the kernel starts.
        func bootAttempt(_ entry: String) throws -> String {
            let name = entry.replacingOccurrences(of: "+3-0", with: "+2-1")
            try FileManager.default.moveItem(atPath: f.entriesDir(real: true) + "/" + entry, toPath: f.entriesDir(real: true) + "/" + name)
            return name
        }

        func entryOf(_ qualified: String) throws -> String {
            let dir = f.entriesDir(real: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
                if let t = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8), t.contains("bootdeploy=\(qualified)") { return name }
            }
            throw SystemdMock.MockError("no entry for \(qualified)")
        }
    }

    @Test("a failed check demotes the booted deployment in /boot and reboots into the previous one")
    func rollbackDemotes() throws {
        guard let bus = try SystemdMock.start("rollbackDemotes") else { return }
        let m = Machine()
        guard try m.bd(["init", "--stateroot", "os"]).ok else { Issue.record("boot-deploy init failed"); return }
        let old = try m.deploy("a")
        let new = try m.deploy("b")
        // The old one was blessed on an earlier boot; this boot is the new one's first try.
        let oldEntry = try m.entryOf(old)
        try FileManager.default.moveItem(atPath: m.f.entriesDir(real: true) + "/" + oldEntry,
                                         toPath: m.f.entriesDir(real: true) + "/" + oldEntry.replacingOccurrences(of: "+3-0", with: ""))
        let booted = try m.bootAttempt(try m.entryOf(new))
        m.f.tmp.write("cmdline", "root=UUID=1234 bootdeploy=\(new)\n")
        m.f.loaderBootCountPath(booted)
        m.f.check("required", "10-bad", "echo broken >&2; exit 1")

        let before = try m.bd(["status", "--json"])
        #expect(position(new, in: before.stdout) < position(old, in: before.stdout), "the new one starts as default")

        let r = try m.f.cli(["run"], env: bus.env)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(bus.rebootRequests == 1)
        let status = try m.f.cli(["status", "--json"], env: bus.env)
        let o = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let deps = o?["deployments"] as? [[String: Any]] ?? []
        #expect(deps.first.map { "\($0["stateroot"]!)/\($0["id"]!)" } == old, "the previous good one is default now: \(deps)")
        let newState = deps.first { "\($0["stateroot"]!)/\($0["id"]!)" == new }?["state"] as? String
        #expect(newState == "bad")
        #expect(try m.entryOf(new).contains("+0-1"), "the bad counter is carried over by the demoting transaction")
        // boot-deploy agrees.
        let after = try m.bd(["status", "--json"])
        #expect(position(old, in: after.stdout) < position(new, in: after.stdout), "\(after.stdout)")
    }
}

/// Where a deployment's id first appears in a JSON text (ids are unique; slashes may be escaped).
private func position(_ qualified: String, in text: String) -> Int {
    let id = String(qualified.split(separator: "/").last!)
    guard let r = text.range(of: id) else { return Int.max }
    return text.distance(from: text.startIndex, to: r.lowerBound)
}

extension HealthFixture {
    /// The live entries directory, through the `loader` symlink wherever boot-deploy pointed it.
    func entriesDir(real: Bool) -> String {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: boot + "/loader")) ?? "loader"
        return boot + "/" + link + "/entries"
    }
}
