import Foundation
import TestSupport

/// A throwaway machine for deployment tests: a physical root, a boot partition and a run dir,
/// driven through the real `boot-deploy` executable.
final class Machine: @unchecked Sendable {
    let tmp: TempDir
    let root: String
    let boot: String
    let run: String
    var strategy: String = "auto"
    var env: [String: String] = [:]

    init(root: String? = nil, boot: String? = nil, label: String = "bdm") {
        tmp = TempDir(label)
        self.root = root ?? tmp.sub("root")
        self.boot = boot ?? tmp.sub("boot")
        self.run = tmp.sub("run")
        for d in [self.root, self.boot, self.run] { try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
    }

    var globalArgs: [String] { ["--sysroot", root, "--boot", boot, "--run-dir", run, "--boot-strategy", strategy] }

    @discardableResult
    func bd(_ command: String, _ args: [String] = [], env extra: [String: String] = [:]) throws -> RunResult {
        var e = env
        for (k, v) in extra { e[k] = v }
        return try TestSupport.run(TestEnv.tool("boot-deploy"), [command] + globalArgs + args, env: e)
    }

    /// Like `bd`, but the command must succeed.
    @discardableResult
    func ok(_ command: String, _ args: [String] = []) throws -> String {
        let r = try bd(command, args)
        guard r.ok else { throw Failure("boot-deploy \(command) \(args) failed (\(r.status)): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A small OS tree with a kernel whose content is `kernel`.
    func tree(_ name: String, kernel: String = "kernel-1", initrd: String = "initrd-1", version: String = "1", kver: String = "6.1.0-test") -> String {
        let t = tmp.sub("trees/\(name)")
        tmp.write("trees/\(name)/usr/lib/modules/\(kver)/vmlinuz", kernel)
        tmp.write("trees/\(name)/usr/lib/modules/\(kver)/initramfs.img", initrd)
        tmp.write("trees/\(name)/usr/lib/os-release", "PRETTY_NAME=\"Test OS \(version)\"\nVERSION_ID=\(version)\n")
        tmp.write("trees/\(name)/etc/hostname", "test\n")
        tmp.write("trees/\(name)/usr/bin/hello", "#!/bin/sh\necho hello\n", mode: 0o755)
        tmp.mkdir("trees/\(name)/var/lib")
        return t
    }

    func initOS(_ stateroot: String = "os") throws { try ok("init", ["--stateroot", stateroot]) }

    @discardableResult
    func deploy(_ tree: String, _ extra: [String] = []) throws -> String {
        try ok("deploy", ["--stateroot", "os", "--tree", tree, "--karg", "root=LABEL=testroot"] + extra)
    }

    func status() throws -> [String: Any] {
        let out = try ok("status", ["--json"])
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
    }

    func deployments() throws -> [[String: Any]] { try status()["deployments"] as! [[String: Any]] }

    /// Qualified ids of our deployments in boot order (those with an entry).
    func order() throws -> [String] {
        try deployments().filter { $0["index"] != nil }.map { "\($0["stateroot"]!)/\($0["id"]!)" }
    }

    /// The live entries directory.
    var entriesDir: String {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: boot + "/loader") {
            return boot + "/" + target + "/entries"
        }
        return boot + "/loader/entries"
    }

    func entryFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: entriesDir)) ?? []).sorted()
    }

    /// bootctl's view of the boot partition (the real client), one object per entry, in its order.
    func bootctl() throws -> [[String: Any]] {
        try Bootctl.list(boot)
    }
}

enum Bootctl {
    static var available: Bool { TestEnv.have("bootctl") }

    static func list(_ dir: String) throws -> [[String: Any]] {
        let script = """
        mount --bind "$0" "$0" && SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 \
        bootctl --esp-path="$0" --boot-path="$0" --no-variables --no-pager list --json=short
        """
        let r = try TestSupport.run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", script, dir])
        guard r.ok || r.stdout.contains("{") else {
            if r.stderr.contains("No boot loader entries") || r.stdout.isEmpty && r.stderr.contains("entries") { return [] }
            throw Failure("bootctl list failed (\(r.status)): \(r.stderr)")
        }
        var out: [[String: Any]] = []
        for line in r.stdout.split(separator: "\n") where line.hasPrefix("{") || line.hasPrefix("[") {
            let v = try JSONSerialization.jsonObject(with: Data(line.utf8))
            if let o = v as? [String: Any] { out.append(o) } else if let a = v as? [[String: Any]] { out += a }
        }
        return out
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A digest of a whole directory tree: names, types, modes, link targets and content.
func treeDigest(_ path: String) throws -> String {
    let r = try sh("cd '\(path)' && find . -printf '%p %y %m %l\\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum")
    return r.stdout
}

/// Options of an entry as bootctl reports them (a string in 252).
func bootParameter(_ e: [String: Any]) -> String? {
    let opts = (e["options"] as? String) ?? ((e["options"] as? [String])?.joined(separator: " ") ?? "")
    for p in opts.split(separator: " ") where p.hasPrefix("bootdeploy=") { return String(p.dropFirst("bootdeploy=".count)) }
    return nil
}

/// A private mount namespace kept alive by a sleeping process; commands enter it with nsenter,
/// so a test can mount loop filesystems and drive the tools step by step. Everything mounted in
/// it goes away when the value is released.
final class Namespace: @unchecked Sendable {
    let process: Process

    init() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "--propagation", "private", "/bin/sleep", "900"]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Wait until the child is in its own namespace.
        let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        for _ in 0..<200 {
            if let ns = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/ns/mnt"), ns != me { return }
            usleep(10_000)
        }
        throw Failure("unshare did not enter a new mount namespace")
    }

    @discardableResult
    func sh(_ script: String) throws -> RunResult {
        try TestSupport.run("/usr/bin/nsenter", ["-t", String(process.processIdentifier), "-m", "/bin/bash", "-c", script])
    }

    @discardableResult
    func must(_ script: String) throws -> String {
        let r = try sh(script)
        guard r.ok else { throw Failure("in namespace: \(script)\n\(r.stderr)") }
        return r.stdout
    }

    /// Runs an executable inside the namespace.
    @discardableResult
    func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> RunResult {
        try TestSupport.run("/usr/bin/nsenter", ["-t", String(process.processIdentifier), "-m", exe] + args, env: env)
    }

    /// Makes a filesystem image and mounts it at `at`.
    func mountImage(_ image: String, at: String, type: String, sizeMiB: Int, options: String = "") throws {
        let mkfs: String
        switch type {
        case "xfs": mkfs = "mkfs.xfs -q -f '\(image)'"
        default: mkfs = "mkfs.ext4 -q -F '\(image)'"
        }
        try must("truncate -s \(sizeMiB)M '\(image)' && \(mkfs) && mkdir -p '\(at)' && mount -o loop\(options.isEmpty ? "" : "," + options) '\(image)' '\(at)'")
    }

    deinit {
        // SIGKILL: the test runner's blocked signals are inherited, so SIGTERM may not arrive.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A machine whose boot-deploy calls run inside a namespace (for mounted filesystems).
final class NSMachine: @unchecked Sendable {
    let m: Machine
    let ns: Namespace
    init(_ m: Machine, _ ns: Namespace) { self.m = m; self.ns = ns }

    @discardableResult
    func bd(_ command: String, _ args: [String] = []) throws -> RunResult {
        try ns.run(TestEnv.tool("boot-deploy"), [command] + m.globalArgs + args, env: m.env)
    }

    @discardableResult
    func ok(_ command: String, _ args: [String] = []) throws -> String {
        let r = try bd(command, args)
        guard r.ok else { throw Failure("boot-deploy \(command) failed (\(r.status)): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
