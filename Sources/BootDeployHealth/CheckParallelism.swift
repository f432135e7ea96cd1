import Glibc

/// How many checks may run at once: `Parallelism=`, lowered to what the file descriptor limit
/// affords (docs/HEALTH.md, "Parallelism").
///
/// A running check holds two descriptors (its output pipe and its pidfd); starting one needs a
/// few more for a moment (the path walk, the pipe's other end, the exec error pipe), one start at a
/// time. Under systemd's default `LimitNOFILE=1024` soft limit, 700 checks started at once would run
/// out (EMFILE) and fail for a reason that is not theirs.
enum CheckParallelism {
    static let perCheck = 2
    /// Kept free for starting a check, the journal, the bus, the status file.
    static let reserve = 64

    /// `wanted`, or fewer when the descriptors left (`softLimit - open - reserve`) do not cover it.
    static func affordable(wanted: Int, softLimit: UInt64, open: Int) -> Int {
        let free = Int(min(softLimit, UInt64(Int32.max))) - open - reserve
        return max(1, min(wanted, free / perCheck))
    }

    /// The current soft RLIMIT_NOFILE and how many descriptors are open now.
    static func current() -> (softLimit: UInt64, open: Int)? {
        var lim = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0 else { return nil }
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var n = -1  // the directory's own descriptor
        while let e = readdir(dir) {
            let dot = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 1) { $0.pointee } }
            if dot != 0x2E { n += 1 }
        }
        return (UInt64(lim.rlim_cur), n)
    }

    /// The parallelism to use for `count` checks, and a warning when it had to be lowered.
    static func choose(configured: Int, count: Int) -> (Int, String?) {
        guard let now = current() else { return (configured, nil) }
        let n = affordable(wanted: configured, softLimit: now.softLimit, open: now.open)
        if n < configured && count > n {
            return (n, "Parallelism=\(configured) lowered to \(n): the file descriptor limit is \(now.softLimit) and \(now.open) are open (raise LimitNOFILE= or lower Parallelism=)")
        }
        return (n, nil)
    }
}
