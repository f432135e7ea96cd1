import CSystemdShim
import Glibc

/// Monotonic time in microseconds: deadlines must not move when the wall clock is set at boot.
func monotonicMicroseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
}

/// Wall-clock seconds since the epoch, for records a person reads.
func wallClockSeconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec)
}

/// One program to run with a hard deadline.
struct ProcessJob: Sendable {
    /// Walked and judged (`CheckFile`) right before it starts; what runs is the file judged.
    var path: String
    var arguments: [String] = []
    /// Microseconds from its start after which its process group is killed.
    var timeout: UInt64
}

/// How a `ProcessJob` ended.
struct ProcessOutcome: Sendable {
    var exitStatus: Int32?
    var signal: Int32?
    var timedOut = false
    var durationMicroseconds: UInt64 = 0
    /// The last bytes the process wrote to stdout and stderr (merged), escaped (SafeText).
    var tail: String = ""
    var spawnError: String?
    /// Not started: unsafe owner or mode (`CheckFile.refused`).
    var refusal: String?
    /// Not started: it became /dev/null, empty or non-executable since it was found.
    var masked: String?
    /// Not started: the overall deadline passed before its turn came.
    var notStarted = false
    /// Not started: no descriptor or process could be had even with nothing else running.
    var exhausted = false
    var succeeded: Bool { exitStatus == 0 && !timedOut && spawnError == nil && refusal == nil && masked == nil && !notStarted }
}

/// Runs programs side by side, at most `parallel` at a time, each in its own process group with
/// its output captured, and kills each group at its deadline.
///
/// Everything is waited for with one `poll` over the output pipes and pidfds, so a hung check costs
/// no wake-ups and is killed on the microsecond its deadline passes; nothing here sleeps in a loop.
/// When a check exits, the rest of its process group is killed too: a check must not leave
/// background processes behind (and a leftover holding the pipe would otherwise keep us reading).
/// A start that fails for want of descriptors or processes waits for a running check to end; with
/// none running it is an outcome of its own (`exhausted`), never a silent failure.
enum ProcessRunner {
    static let tailLimit = 4096

    private final class Running {
        var index: Int
        var pid: pid_t
        var outFD: Int32
        var pidFD: Int32
        var start: UInt64
        var deadline: UInt64
        var outcome = ProcessOutcome()
        var tail: [UInt8] = []
        var done = false
        init(index: Int, pid: pid_t, outFD: Int32, pidFD: Int32, start: UInt64, deadline: UInt64) {
            self.index = index; self.pid = pid; self.outFD = outFD; self.pidFD = pidFD; self.start = start; self.deadline = deadline
        }
    }

    static func run(_ jobs: [ProcessJob], parallel: Int = 1, notAfter: UInt64 = UInt64.max) -> [ProcessOutcome] {
        var results = [ProcessOutcome](repeating: ProcessOutcome(), count: jobs.count)
        var running: [Running] = []
        var next = 0
        var limit = max(1, parallel)
        while true {
            // Start what the limit allows.
            while next < jobs.count && running.count < limit {
                let now = monotonicMicroseconds()
                if now >= notAfter {
                    for i in next..<jobs.count { results[i].notStarted = true }
                    next = jobs.count
                    break
                }
                let (sum, overflow) = now.addingReportingOverflow(jobs[next].timeout)
                switch start(jobs[next], index: next, deadline: min(overflow ? UInt64.max : sum, notAfter)) {
                case .started(let r):
                    running.append(r)
                    next += 1
                case .finished(let o):
                    results[next] = o
                    next += 1
                case .exhausted(let why):
                    if running.isEmpty {
                        results[next].exhausted = true
                        results[next].spawnError = why
                        results[next].tail = SafeText.escape(why)
                        next += 1
                    } else {
                        // Wait for a slot: fewer at a time from now on.
                        limit = running.count
                    }
                }
            }
            if running.isEmpty {
                if next >= jobs.count { break }
                continue
            }
            let now = monotonicMicroseconds()
            // Deadlines first: a hung check must never hold the decision past its timeout.
            for r in running where now >= r.deadline {
                kill(-r.pid, SIGKILL)
                var st: Int32 = 0
                _ = waitpid(r.pid, &st, 0)
                r.outcome.timedOut = true
                r.outcome.signal = SIGKILL
                finish(r, at: monotonicMicroseconds())
            }
            for r in running where r.done { results[r.index] = r.outcome }
            running.removeAll { $0.done }
            if running.isEmpty { continue }
            var fds: [pollfd] = []
            for r in running {
                if r.outFD >= 0 { fds.append(pollfd(fd: r.outFD, events: Int16(POLLIN), revents: 0)) }
                if r.pidFD >= 0 { fds.append(pollfd(fd: r.pidFD, events: Int16(POLLIN), revents: 0)) }
            }
            let nearest = running.map(\.deadline).min()!
            var waitMs = Int32(min(UInt64(Int32.max), (nearest > now ? nearest - now : 0) / 1000 + 1))
            // Without a pidfd (old kernel, or none to be had) an exit is noticed within 50 ms.
            if running.contains(where: { $0.pidFD < 0 }) { waitMs = min(waitMs, 50) }
            _ = poll(&fds, nfds_t(fds.count), waitMs)
            for r in running {
                if r.outFD >= 0 { drain(r) }
                // Kill what is left of the group while the check is an unreaped zombie: once
                // reaped, its pid (the group's id) may already belong to someone else.
                guard bd_child_exited(r.pid) != 0 else { continue }
                kill(-r.pid, SIGKILL)
                var st: Int32 = 0
                _ = waitpid(r.pid, &st, 0)
                if st & 0x7f == 0 { r.outcome.exitStatus = (st >> 8) & 0xff } else { r.outcome.signal = st & 0x7f }
                if r.outFD >= 0 { drain(r) }
                finish(r, at: monotonicMicroseconds())
            }
            for r in running where r.done { results[r.index] = r.outcome }
            running.removeAll { $0.done }
            // Slots freed after a shortage: try the configured limit again.
            limit = max(1, parallel)
        }
        return results
    }

    private static func finish(_ r: Running, at now: UInt64) {
        r.done = true
        r.outcome.durationMicroseconds = now - r.start
        r.outcome.tail = SafeText.escape(bytes: r.tail, .multiLine)
        if r.outFD >= 0 { close(r.outFD); r.outFD = -1 }
        if r.pidFD >= 0 { close(r.pidFD); r.pidFD = -1 }
    }

    /// Reads what is available without blocking, keeping only the last `tailLimit` bytes.
    private static func drain(_ r: Running) {
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buf.withUnsafeMutableBytes { read(r.outFD, $0.baseAddress, $0.count) }
            if n > 0 {
                r.tail.append(contentsOf: buf[0..<n])
                if r.tail.count > tailLimit { r.tail.removeFirst(r.tail.count - tailLimit) }
                continue
            }
            if n == 0 { close(r.outFD); r.outFD = -1 }
            return
        }
    }

    private enum StartResult { case started(Running), finished(ProcessOutcome), exhausted(String) }

    static func isShortage(_ e: Int32) -> Bool { e == EMFILE || e == ENFILE || e == EAGAIN || e == ENOMEM }

    private static func start(_ job: ProcessJob, index: Int, deadline: UInt64) -> StartResult {
        var o = ProcessOutcome()
        let fd: Int32
        switch CheckFile.open(job.path) {
        case .runnable(let f): fd = f
        case .masked(let why): o.masked = why; o.tail = SafeText.escape("not run: " + why); return .finished(o)
        case .ignored: o.masked = "a directory"; o.tail = "not run: \(SafeText.escape(job.path)) is a directory"; return .finished(o)
        case .refused(let why): o.refusal = SafeText.escape(why); o.tail = "not run: refused: " + o.refusal!; return .finished(o)
        case .broken(let why): o.spawnError = SafeText.escape(why); o.tail = "not run: " + o.spawnError!; return .finished(o)
        case .exhausted(let why): return .exhausted("cannot start \(job.path): \(why)")
        }
        defer { close(fd) }
        var fds: [Int32] = [-1, -1]
        guard bd_pipe_cloexec_nonblock(&fds) == 0 else {
            let e = errno
            if isShortage(e) { return .exhausted("cannot start \(job.path): pipe2: \(String(cString: strerror(e)))") }
            o.spawnError = "pipe2: \(String(cString: strerror(e)))"; o.tail = o.spawnError!; return .finished(o)
        }
        // The child's end must block: a check writing a lot should wait for us, not fail with EAGAIN.
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags & ~O_NONBLOCK)
        let argv = [job.path] + job.arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let begin = monotonicMicroseconds()
        var pid = bd_spawn_checked(fd, &cArgs, environ, fds[1])
        // ETXTBSY: someone (an installer, another thread's fork) still holds the file open for
        // writing for a moment; it is not the check's fault, so try again briefly.
        var tries = 0
        while pid == -ETXTBSY && tries < 50 {
            usleep(20_000)
            tries += 1
            pid = bd_spawn_checked(fd, &cArgs, environ, fds[1])
        }
        close(fds[1])
        if pid < 0 {
            close(fds[0])
            let message = "starting \(job.path): \(String(cString: strerror(-pid)))"
            if isShortage(-pid) { return .exhausted("cannot start \(job.path): \(message)") }
            o.spawnError = SafeText.escape(message)
            o.tail = o.spawnError!
            return .finished(o)
        }
        let pidFD = bd_pidfd_open(pid)
        return .started(Running(index: index, pid: pid, outFD: fds[0], pidFD: pidFD, start: begin, deadline: deadline))
    }
}
