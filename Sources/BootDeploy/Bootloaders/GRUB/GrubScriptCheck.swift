import Glibc

/// Runs the real `grub-script-check` (package grub-common) on a file for `boot-deploy validate`.
enum GrubScriptCheck {
    static let candidates = ["/usr/bin/grub-script-check", "/usr/sbin/grub-script-check", "/usr/bin/grub2-script-check"]

    static var tool: String? { candidates.first { access($0, X_OK) == 0 } }

    /// Problems with `file` (empty when it passes), or a note that the tool is absent.
    static func problems(file: String) -> [String] {
        guard let tool else { return ["\(file): not checked: grub-script-check is not installed (package grub-common)"] }
        let (status, output) = run(tool, [file])
        if status == 0 { return [] }
        let text = output.split(separator: "\n").prefix(5).joined(separator: "; ")
        return ["\(file): grub-script-check failed (status \(status)): \(text)"]
    }

    /// Runs `path args`, stdout and stderr into one pipe; returns the exit status and the output.
    static func run(_ path: String, _ args: [String]) -> (Int32, String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return (-1, "pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            return (-1, "cannot run \(path): \(String(cString: strerror(rc)))")
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n > 0 { if out.count < 65536 { out += buf[0..<n] } ; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: out, as: UTF8.self))
    }
}
