import Glibc
import SystemPackage

/// The seam through which every mutating system call passes.
///
/// Crash-consistency tests enumerate the mutating calls of an operation and then stop it at each one,
/// either with an injected error or by killing the process on the spot. Configuration comes from the
/// environment so that the real executables can be driven by tests:
///
/// - `BOOTDEPLOY_FAULT_AT=N` — the N-th mutating call (1-based) does not happen;
/// - `BOOTDEPLOY_FAULT_MODE=error|kill` — it fails with EIO (default) or the process dies by SIGKILL;
/// - `BOOTDEPLOY_FAULT_TRACE=FILE` — every mutating call is appended to FILE, one line each
///   (`N op path`), which is how a test learns how many crash points an operation has.
///
/// The seam exists only in builds with `BOOTDEPLOY_FAULT_INJECTION` defined (Package.swift defines it
/// for debug builds, which the tests run): a release binary — and above all `bd-prepare-root`, which
/// runs as PID 1 — neither reads these variables nor counts its calls.
public enum FaultInjection {
    public enum Mode: Sendable { case error, kill }

    struct State: @unchecked Sendable {
        var counter = 0
        var failAt: Int?
        var mode: Mode = .error
        var traceFD: Int32 = -1
    }

    #if BOOTDEPLOY_FAULT_INJECTION
    nonisolated(unsafe) static var state: State = {
        var s = State()
        if let v = getenv("BOOTDEPLOY_FAULT_AT"), let n = Int(String(cString: v)), n > 0 { s.failAt = n }
        if let v = getenv("BOOTDEPLOY_FAULT_MODE"), String(cString: v) == "kill" { s.mode = .kill }
        if let v = getenv("BOOTDEPLOY_FAULT_TRACE") {
            s.traceFD = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        return s
    }()

    /// Number of mutating calls seen so far in this process.
    public static var count: Int { state.counter }
    #else
    /// Release builds count nothing.
    public static var count: Int { 0 }
    #endif

    /// Called before each mutating syscall. Returns an error when this call is the one to fail.
    @inline(__always)
    static func gate(_ operation: String, _ path: String) -> Errno? {
        #if BOOTDEPLOY_FAULT_INJECTION
        state.counter += 1
        let n = state.counter
        if state.traceFD >= 0 {
            let line = "\(n) \(operation) \(path)\n"
            _ = line.withCString { write(state.traceFD, $0, strlen($0)) }
        }
        guard let at = state.failAt, at == n else { return nil }
        switch state.mode {
        case .error: return .ioError
        case .kill:
            kill(getpid(), SIGKILL)
            return .ioError
        }
        #else
        return nil
        #endif
    }
}
