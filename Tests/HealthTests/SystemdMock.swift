import Foundation
import Glibc
import TestSupport

/// systemd's manager on a private bus: a `dbus-daemon --session` started for the test, and
/// python3-dbusmock's `systemd` template on it, extended with what boot-health asks for
/// (Subscribe, FinishTimestampMonotonic). The mock's call log shows every request, reboots included.
final class SystemdMock: @unchecked Sendable {
    let dir = TempDir("dbus")
    let address: String
    let daemon = Process()
    let mock = Process()

    static let python = "/usr/bin/python3"

    /// Skips the test (cancelled, with a SKIP line) when dbus-daemon, gdbus or dbusmock are missing.
    static func start(_ test: String, startupFinished: Bool = true) throws -> SystemdMock? {
        guard TestEnv.have("dbus-daemon"), TestEnv.have("gdbus") else {
            try TestEnv.skip(test, because: "dbus-daemon or gdbus is not installed")
        }
        guard try run(python, ["-c", "import dbusmock"]).ok else {
            try TestEnv.skip(test, because: "python3-dbusmock is not installed")
        }
        return try SystemdMock(startupFinished: startupFinished)
    }

    /// Both daemons are direct children of the test (no --fork, no shell), so that nothing is left
    /// holding the test's pipes and `deinit` can end exactly what it started.
    private init(startupFinished: Bool) throws {
        let socket = dir.sub("bus")
        address = "unix:path=" + socket
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-daemon")
        daemon.arguments = ["--session", "--nofork", "--nopidfile", "--address=" + address]
        daemon.standardInput = FileHandle.nullDevice
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        var until = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) {
            if Date() > until { throw MockError("dbus-daemon did not create \(socket)") }
            usleep(20_000)
        }
        _ = FileManager.default.createFile(atPath: dir.sub("mock.out"), contents: nil)
        mock.executableURL = URL(fileURLWithPath: Self.python)
        mock.arguments = ["-m", "dbusmock", "-t", "systemd", "-l", dir.sub("calls.log")]
        var env = ProcessInfo.processInfo.environment
        env["DBUS_SYSTEM_BUS_ADDRESS"] = address
        mock.environment = env
        let out = FileHandle(forWritingAtPath: dir.sub("mock.out"))!
        mock.standardInput = FileHandle.nullDevice
        mock.standardOutput = out
        mock.standardError = out
        try mock.run()
        // Wait for the name to be owned: the first mock call that succeeds.
        until = Date().addingTimeInterval(15)
        while try !call("AddMockUnit", ["reboot.target"]).ok {
            if Date() > until || !mock.isRunning {
                throw MockError("dbusmock never appeared on \(address): \(String(describing: try? String(contentsOfFile: dir.sub("mock.out"), encoding: .utf8)))")
            }
            usleep(100_000)
        }
        try check(call("AddMethod", ["org.freedesktop.systemd1.Manager", "Subscribe", "", "", ""]))
        try check(call("AddProperty", ["org.freedesktop.systemd1.Manager", "FinishTimestampMonotonic", startupFinished ? "<uint64 4242>" : "<uint64 0>"]))
    }

    // Children of a test process start with almost every signal blocked (SIGTERM included), so
    // they are ended with SIGKILL, which cannot be blocked.
    deinit {
        for p in [mock, daemon] where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
    }

    struct MockError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    private func check(_ r: RunResult) throws { if !r.ok { throw MockError("gdbus: \(r.stderr)") } }

    func gdbus(_ path: String, _ method: String, _ args: [String]) throws -> RunResult {
        try run("/usr/bin/gdbus", ["call", "--address", address, "--dest", "org.freedesktop.systemd1", "--object-path", path, "--method", method] + args)
    }

    func call(_ method: String, _ args: [String], path: String = "/org/freedesktop/systemd1") throws -> RunResult {
        try gdbus(path, "org.freedesktop.DBus.Mock." + method, args)
    }

    static func unitPath(_ name: String) -> String {
        "/org/freedesktop/systemd1/unit/" + name.replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    func addUnit(_ name: String, state: String) throws {
        try check(call("AddMockUnit", [name]))
        try setState(name, state)
    }

    /// Changes a unit's ActiveState; the mock emits PropertiesChanged as systemd does.
    func setState(_ name: String, _ state: String) throws {
        try check(call("UpdateProperties", ["org.freedesktop.systemd1.Unit", "{'ActiveState': <'\(state)'>}"], path: Self.unitPath(name)))
    }

    func finishStartup() throws {
        try check(call("UpdateProperties", ["org.freedesktop.systemd1.Manager", "{'FinishTimestampMonotonic': <uint64 4242>}"]))
        try check(call("EmitSignal", ["org.freedesktop.systemd1.Manager", "StartupFinished", "tttttt",
                                      "[<uint64 1>, <uint64 2>, <uint64 3>, <uint64 4>, <uint64 5>, <uint64 6>]"]))
    }

    var callLog: String { (try? String(contentsOfFile: dir.sub("calls.log"), encoding: .utf8)) ?? "" }

    /// How many times a reboot was asked for (StartUnit reboot.target, or Manager.Reboot).
    var rebootRequests: Int {
        callLog.split(separator: "\n").filter { $0.contains("StartUnit \"reboot.target\"") || $0.hasSuffix(" Reboot") }.count
    }

    var env: [String: String] { ["DBUS_SYSTEM_BUS_ADDRESS": address] }
}

/// A `boot-health` started in the background, for the service's long-running phases.
final class BackgroundCLI: @unchecked Sendable {
    let process = Process()
    let outPath: String

    init(_ f: HealthFixture, _ args: [String], env: [String: String]) throws {
        outPath = f.tmp.sub("cli-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: TestEnv.tool("boot-health"))
        process.arguments = [args[0]] + f.cliArgs + Array(args.dropFirst())
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        process.environment = e
        let h = FileHandle(forWritingAtPath: outPath)!
        process.standardOutput = h
        process.standardError = h
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    /// Waits at most `seconds` for the process to end; its exit status, or nil if still running.
    func wait(_ seconds: Double) -> Int32? {
        let until = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < until { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Context switches of all its threads so far: each one is a wake-up.
    var contextSwitches: Int {
        var total = 0
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for t in tasks {
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/status", encoding: .utf8) else { continue }
            for line in s.split(separator: "\n") where line.contains("ctxt_switches") {
                total += Int(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return total
    }

    var rssKiB: Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return -1 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? -1
    }
}
