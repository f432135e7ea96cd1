import BootDeployEarlyBoot
import BootDeploy
import BootDeployHealth
import Foundation
import TestSupport

/// A throw-away machine for boot-health: a physical root, a /boot whose `loader` is a symlink to
/// `loader.1/` (as the deployment layer lays it out on ext4), config and greenboot dirs, a fake
/// efivarfs and a kernel command line naming the booted deployment.
final class HealthFixture: @unchecked Sendable {
    let tmp = TempDir("bh")
    var sysroot: String { tmp.sub("sysroot") }
    var boot: String { tmp.sub("boot") }
    var config: String { tmp.sub("etc-boot-health") }
    var vendor: String { tmp.sub("usr-boot-health") }
    var greenboot: String { tmp.sub("greenboot") }
    var efivars: String { tmp.sub("efivars") }
    var cmdline: String { tmp.sub("cmdline") }
    var entriesDir: String { tmp.sub("boot/loader.1/entries") }

    init(booted: String = "os/new.1") {
        for d in ["sysroot/bootdeploy/os/deploy", "boot/loader.1/entries", "etc-boot-health", "usr-boot-health", "greenboot", "efivars"] {
            tmp.mkdir(d)
        }
        symlink("loader.1", tmp.sub("boot/loader"))
        tmp.write("cmdline", "BOOT_IMAGE=/vmlinuz root=UUID=1234 rw quiet bootdeploy=\(booted)\n")
    }

    /// Writes one of our entries with the entries layer's renderer.
    func entry(_ fileName: String, deployment: String, rank: String) {
        var e = BootEntry()
        e.title = "Demo OS \(deployment)"
        e.version = rank
        e.sortKey = "bootdeploy"
        e.linux = "/bootdeploy/os/0123/vmlinuz"
        e.initrd = ["/bootdeploy/os/0123/initramfs.img"]
        e.options = ["root=UUID=1234", "rw", "bootdeploy=\(deployment)"]
        tmp.write("boot/loader.1/entries/\(fileName)", e.render())
    }

    func check(_ kind: String, _ name: String, _ script: String, greenboot: Bool = false) {
        let base = greenboot ? "greenboot" : "etc-boot-health"
        tmp.write("\(base)/check/\(kind).d/\(name)", "#!/bin/sh\n" + script + "\n", mode: 0o755)
    }

    func hook(_ which: String, _ name: String, _ script: String) {
        tmp.write("etc-boot-health/\(which).d/\(name)", "#!/bin/sh\n" + script + "\n", mode: 0o755)
    }

    func conf(_ text: String, dropIn: String? = nil, vendor: Bool = false) {
        let base = vendor ? "usr-boot-health" : "etc-boot-health"
        if let dropIn { tmp.write("\(base)/boot-health.conf.d/\(dropIn)", text) } else { tmp.write("\(base)/boot-health.conf", text) }
    }

    /// LoaderBootCountPath as efivarfs shows it: 4 bytes of attributes, then UTF-16LE with a NUL.
    func loaderBootCountPath(_ entry: String) {
        var bytes: [UInt8] = [0x06, 0, 0, 0]
        for u in "\\loader\\entries\\\(entry)".utf16 + [0] { bytes += [UInt8(u & 0xff), UInt8(u >> 8)] }
        _ = FileManager.default.createFile(atPath: efivars + "/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", contents: Data(bytes))
    }

    func entries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: entriesDir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    var roots: HealthRoots {
        var r = HealthRoots()
        r.sysroot = sysroot
        r.boot = boot
        r.cmdlineFile = cmdline
        r.runDir = tmp.sub("run")
        r.configDirs = [config, vendor]
        r.efivars = efivars
        r.greenbootDirs = [greenboot]
        return r
    }

    var cliArgs: [String] {
        ["--sysroot", sysroot, "--boot", boot, "--cmdline-file", cmdline, "--run-dir", tmp.sub("run"), "--config", config,
         "--vendor-config", vendor, "--efivars", efivars, "--greenboot-dir", greenboot, "--no-kmsg"]
    }

    /// The persistent status record as JSON.
    func statusRecord() -> [String: Any] {
        guard let d = FileManager.default.contents(atPath: sysroot + "/bootdeploy/health/status.json"),
              let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return [:] }
        return o
    }

    func history() -> [[String: Any]] { statusRecord()["history"] as? [[String: Any]] ?? [] }

    func service(_ ordering: any DeploymentOrdering) throws -> HealthService {
        try HealthService(roots: roots, ordering: ordering, log: HealthLog(useKmsg: false, quiet: true))
    }

    func cli(_ args: [String], env: [String: String] = [:]) throws -> RunResult {
        let tool = TestEnv.tool("boot-health")
        return try run(tool, [args[0]] + cliArgs + Array(args.dropFirst()), env: env)
    }
}

/// A boot order kept in memory: what the deployment layer would report, and the demotions asked of it.
final class RecordingOrdering: DeploymentOrdering, @unchecked Sendable {
    private let lock = NSLock()
    private var order: [OrderedDeployment]
    private(set) var demoted: [String] = []

    init(_ order: [OrderedDeployment]) { self.order = order }

    func orderedDeployments() throws -> [OrderedDeployment] { lock.withLock { order } }

    func demote(_ deployment: DeploymentName) throws {
        lock.withLock {
            demoted.append(deployment.description)
            guard let i = order.firstIndex(where: { $0.deployment == deployment }) else { return }
            var d = order.remove(at: i)
            d.state = .bad
            order.append(d)
        }
    }

    var first: String? { lock.withLock { order.first?.deployment.description } }
}

func elapsed(_ body: () throws -> Void) rethrows -> Double {
    let t = Date()
    try body()
    return Date().timeIntervalSince(t)
}
