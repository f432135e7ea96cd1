import Foundation
import Glibc
#if canImport(Testing)
import Testing
#endif

/// Fixtures shared by the test targets: temporary roots and the project's own built tools.
public enum TestEnv {
    /// The directory holding the built executables (the one the tests were built into).
    public static var binDir: String {
        if let d = ProcessInfo.processInfo.environment["BOOTDEPLOY_BIN_DIR"] { return d }
        // .build/<triple>/debug/BootDeployPackageTests.xctest/... -> .build/<triple>/debug
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("boot-deploy").path) {
                return url.path
            }
        }
        // Fall back to the package's default build folder.
        let pkg = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return pkg.appendingPathComponent(".build/debug").path
    }

    /// Absolute path of one of the project's executables.
    public static func tool(_ name: String) -> String { binDir + "/" + name }

    public static var isRoot: Bool { getuid() == 0 }

    /// Whether an executable is on PATH.
    public static func have(_ command: String) -> Bool {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/\(command)") { return true }
        }
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(command)") {
            return true
        }
        return false
    }

    /// Prints a loud SKIP line and ends the test as skipped (cancelled), so that Swift Testing
    /// never counts it as passed.
    public static func skip(_ test: String, because reason: String) throws -> Never {
        FileHandle.standardError.write(Data("SKIP: \(test): \(reason)\n".utf8))
        #if canImport(Testing)
        try Test.cancel("SKIP: \(test): \(reason)")
        #else
        // A plain (release) build of the package compiles this target without Swift Testing;
        // nothing runs tests there.
        fatalError("SKIP: \(test): \(reason)")
        #endif
    }
}

/// A temporary directory removed when the value goes away.
public final class TempDir: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "bd") {
        var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(cString: p!)
    }

    public func sub(_ name: String) -> String { path + "/" + name }

    /// Writes a file below the directory, creating parents.
    public func write(_ name: String, _ text: String, mode: Int = 0o644) {
        let full = sub(name)
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
    }

    public func mkdir(_ name: String) {
        try! FileManager.default.createDirectory(atPath: sub(name), withIntermediateDirectories: true)
    }

    public func read(_ name: String) -> String? {
        FileManager.default.contents(atPath: sub(name)).map { String(decoding: $0, as: UTF8.self) }
    }

    deinit {
        // Unmount anything a test left (it runs in a namespace normally), then remove.
        _ = try? run("/bin/rm", ["-rf", path])
    }
}

/// The result of a child process.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var ok: Bool { status == 0 }
}

/// Runs a program to completion, capturing its output. `stdin` is /dev/null unless given.
@discardableResult
public func run(_ executable: String, _ args: [String], env: [String: String] = [:], input: String? = nil,
                cwd: String? = nil) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    p.arguments = executable.hasPrefix("/") ? args : [executable] + args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    if let input {
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    } else {
        p.standardInput = FileHandle.nullDevice
        try p.run()
    }
    // Read both pipes concurrently so that neither fills up.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    return RunResult(status: status, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a shell script with bash -c; handy for namespace setups.
@discardableResult
public func sh(_ script: String, env: [String: String] = [:]) throws -> RunResult {
    try run("/bin/bash", ["-c", script], env: env)
}

/// Runs a shell script in a private mount namespace (as root), so mounts vanish with it.
@discardableResult
public func inMountNamespace(_ script: String, env: [String: String] = [:]) throws -> RunResult {
    try run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/bash", "-c", script], env: env)
}
