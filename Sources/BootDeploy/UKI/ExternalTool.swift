import Glibc

/// Runs a helper program (objcopy, sbsign, sbverify) to completion and reports its failure with
/// its own words: the tool's name, its exit status and the tail of what it wrote.
enum ExternalTool {
    /// Runs `program` (looked up in PATH) with `arguments`; stdout and stderr are captured together.
    /// Returns the output; throws when it cannot start or does not exit 0.
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws(BootDeployError) -> String {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .refused("\(program): pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, program, &actions, nil, argv, environ)
        close(fds[1])
        defer { close(fds[0]) }
        guard rc == 0 else { throw .refused("cannot run \(program): \(String(cString: strerror(rc))) (is it installed? scripts/install-deps.sh)") }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n > 0 { output += buffer[0..<n]; if output.count > 65536 { output.removeFirst(output.count - 65536) }; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let how = exited ? "exit status \(code)" : "signal \(status & 0x7f)"
            let tail = text.split(separator: "\n").suffix(5).joined(separator: "; ")
            throw .refused("\(program) \(arguments.first ?? "") failed (\(how)): \(tail)")
        }
        return text
    }
}
