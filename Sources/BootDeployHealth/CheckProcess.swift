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
    var path: String
    var arguments: [String] = []
    /// CLOCK_MONOTONIC microseconds after which the process group is killed.
    var deadline: UInt64
}

/// How a `ProcessJob` ended.
struct ProcessOutcome: Sendable {
    var exitStatus: Int32?
    var signal: Int32?
    var timedOut = false
    var durationMicroseconds: UInt64 = 0
    /// The last bytes the process wrote to stdout and stderr (merged), for the status record.
    var tail: String = ""
    var spawnError: String?
    var succeeded: Bool { exitStatus == 0 && !timedOut && spawnError == nil }
}

/// Runs programs side by side, each in its own process group with its output captured, and kills
/// each group at its deadline.
///
/// Everything is waited for with one `poll` over the output pipes and pidfds, so a hung check costs
/// no wake-ups and is killed on the microsecond its deadline passes; nothing here sleeps in a loop.
/// When a check exits, the rest of its process group is killed too: a check must not leave
/// background processes behind (and a leftover holding the pipe would otherwise keep us reading).
enum ProcessRunner {
    static let tailLimit = 4096

    private final class Running {
        var pid: pid_t
        var outFD: Int32
        var pidFD: Int32
        var start: UInt64
        var outcome = ProcessOutcome()
        var tail: [UInt8] = []
        var done = false
        init(pid: pid_t, outFD: Int32, pidFD: Int32, start: UInt64) {
            self.pid = pid; self.outFD = outFD; self.pidFD = pidFD; self.start = start
        }
    }

    static func run(_ jobs: [ProcessJob]) -> [ProcessOutcome] {
        var running: [Running?] = []
        var results = [ProcessOutcome](repeating: ProcessOutcome(), count: jobs.count)
        for (i, job) in jobs.enumerated() {
            switch spawn(job) {
            case .success(let r): running.append(r)
            case .failure(let message):
                results[i].spawnError = message
                results[i].tail = message
                running.append(nil)
            }
        }
        while true {
            var active: [(index: Int, r: Running)] = []
            for (i, r) in running.enumerated() { if let r, !r.done { active.append((i, r)) } }
            if active.isEmpty { break }
            let now = monotonicMicroseconds()
            // Deadlines first: a hung check must never hold the decision past its timeout.
            for (i, r) in active where now >= jobs[i].deadline {
                kill(-r.pid, SIGKILL)
                var st: Int32 = 0
                _ = waitpid(r.pid, &st, 0)
                r.outcome.timedOut = true
                r.outcome.signal = SIGKILL
                finish(r, at: monotonicMicroseconds())
            }
            let still = active.filter { !$0.r.done }
            if still.isEmpty { continue }
            var fds: [pollfd] = []
            for (_, r) in still {
                if r.outFD >= 0 { fds.append(pollfd(fd: r.outFD, events: Int16(POLLIN), revents: 0)) }
                if r.pidFD >= 0 { fds.append(pollfd(fd: r.pidFD, events: Int16(POLLIN), revents: 0)) }
            }
            let nearest = still.map { jobs[$0.index].deadline }.min()!
            var waitMs = Int32(min(UInt64(Int32.max), (nearest > now ? nearest - now : 0) / 1000 + 1))
            // Without a pidfd (old kernel) an exit is noticed by checking every 50 ms at most.
            if still.contains(where: { $0.r.pidFD < 0 }) { waitMs = min(waitMs, 50) }
            _ = poll(&fds, nfds_t(fds.count), waitMs)
            for (_, r) in still {
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
        }
        for (i, r) in running.enumerated() { if let r { results[i] = r.outcome } }
        return results
    }

    private static func finish(_ r: Running, at now: UInt64) {
        r.done = true
        r.outcome.durationMicroseconds = now - r.start
        r.outcome.tail = String(decoding: r.tail, as: UTF8.self)
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

    private enum SpawnResult { case success(Running), failure(String) }

    private static func spawn(_ job: ProcessJob) -> SpawnResult {
        var fds: [Int32] = [-1, -1]
        guard bd_pipe_cloexec_nonblock(&fds) == 0 else { return .failure("pipe2: \(String(cString: strerror(errno)))") }
        // The child's end must block: a check writing a lot should wait for us, not fail with EAGAIN.
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags & ~O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = [job.path] + job.arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let start = monotonicMicroseconds()
        var rc = posix_spawn(&pid, job.path, &actions, &attr, &cArgs, environ)
        // ETXTBSY: someone (an installer, another thread's fork) still holds the file open for
        // writing for a moment; it is not the check's fault, so try again briefly.
        var tries = 0
        while rc == ETXTBSY && tries < 50 {
            usleep(20_000)
            tries += 1
            rc = posix_spawn(&pid, job.path, &actions, &attr, &cArgs, environ)
        }
        close(fds[1])
        if rc != 0 {
            close(fds[0])
            return .failure("posix_spawn(\(job.path)): \(String(cString: strerror(rc)))")
        }
        let pidFD = bd_pidfd_open(pid)
        return .success(Running(pid: pid, outFD: fds[0], pidFD: pidFD, start: start))
    }
}
