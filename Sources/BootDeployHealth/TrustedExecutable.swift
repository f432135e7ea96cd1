import CSystemdShim
import Glibc
import SystemPackage

/// What a name in a check directory turned out to be, judged on descriptors opened one path
/// component at a time (docs/HEALTH.md, "Who may own a check").
///
/// boot-health runs checks as root. A check that someone other than root could change, or that is
/// reached through a directory someone else could change, would run that someone's code as root,
/// so it is refused. The walk opens every component with `bd_o_path() | O_NOFOLLOW` relative to the
/// directory before it, `fstat`s the descriptor, and follows symlinks itself (at most 40): what is
/// judged is exactly what `execveat` later starts, with no window to swap anything in between.
enum CheckFile {
    /// Runnable: the descriptor (bd_o_path(), close-on-exec) of a checked executable. The caller closes it.
    case runnable(fd: Int32)
    /// Not to run: `/dev/null`, an empty file, or a file without an execute bit.
    case masked(String)
    /// Not a check at all (a directory): ignored.
    case ignored
    /// Unsafe: would run code someone other than root could change.
    case refused(String)
    /// Cannot be judged: a dangling link, a loop, an unreadable directory, a FIFO...
    case broken(String)
    /// We ran out of descriptors or memory while looking: nothing is known about the file.
    case exhausted(String)

    /// The uids a check, its directories and its links may belong to: root and whoever runs us.
    static var trustedOwners: Set<uid_t> { [0, geteuid()] }

    static func open(_ path: String) -> CheckFile {
        var absolute = path
        if !path.hasPrefix("/") {
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buf, buf.count) != nil else { return .broken("getcwd: \(Errno(rawValue: errno))") }
            absolute = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
        }
        var walk = Walk()
        defer { walk.closeAll() }
        return walk.resolve(absolute)
    }

    private struct Walk {
        /// The directories from / down to where we are; each already judged safe.
        var stack: [Int32] = []
        var links = 0

        mutating func closeAll() {
            for fd in stack { close(fd) }
            stack = []
        }

        mutating func startAtRoot() -> CheckFile? {
            closeAll()
            let fd = Glibc.open("/", bd_o_path() | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return .exhausted("open(/): \(Errno(rawValue: errno))") }
            stack = [fd]
            return directoryProblem(fd, "/")
        }

        mutating func resolve(_ path: String) -> CheckFile {
            if let p = startAtRoot() { return p }
            var pending = components(path)
            var shown = ""
            while !pending.isEmpty {
                let name = pending.removeFirst()
                if name == "." { continue }
                if name == ".." {
                    if stack.count > 1 { close(stack.removeLast()) }
                    shown = String(shown[..<(shown.lastIndex(of: "/") ?? shown.startIndex)])
                    continue
                }
                shown += "/" + name
                let fd = openat(stack.last!, name, bd_o_path() | O_NOFOLLOW | O_CLOEXEC)
                if fd < 0 {
                    let e = Errno(rawValue: errno)
                    if e == .noSuchFileOrDirectory { return .broken("\(shown) does not exist") }
                    if [.tooManyOpenFiles, .tooManyOpenFilesInSystem, .noMemory].contains(e) { return .exhausted("open(\(shown)): \(e)") }
                    return .broken("open(\(shown)): \(e)")
                }
                var st = stat()
                guard fstat(fd, &st) == 0 else { let e = Errno(rawValue: errno); close(fd); return .broken("fstat(\(shown)): \(e)") }
                switch st.st_mode & S_IFMT {
                case S_IFLNK:
                    defer { close(fd) }
                    if !CheckFile.trustedOwners.contains(st.st_uid) {
                        return .refused("the symbolic link \(shown) belongs to uid \(st.st_uid), not root")
                    }
                    links += 1
                    if links > 40 { return .broken("\(path): too many levels of symbolic links") }
                    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let n = readlinkat(fd, "", &buf, Int(PATH_MAX))
                    guard n > 0 else { return .broken("readlink(\(shown)): \(Errno(rawValue: errno))") }
                    let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if target.hasPrefix("/") {
                        if let p = startAtRoot() { return p }
                        shown = ""
                    } else {
                        shown = String(shown[..<(shown.lastIndex(of: "/") ?? shown.startIndex)])
                    }
                    pending = components(target) + pending
                case S_IFDIR:
                    stack.append(fd)
                    if let p = directoryProblem(fd, shown) { return p }
                default:
                    if !pending.isEmpty {
                        close(fd)
                        return .broken("\(shown) is not a directory")
                    }
                    return judgeFile(fd, st, shown)
                }
            }
            // The path ended on a directory.
            return .ignored
        }

        func components(_ path: String) -> [String] {
            path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        }

        /// Only root (or we) may own a directory on the way, and no one else may write to it,
        /// unless it is sticky (like /tmp: then others cannot replace what is not theirs).
        func directoryProblem(_ fd: Int32, _ shown: String) -> CheckFile? {
            var st = stat()
            guard fstat(fd, &st) == 0 else { return .broken("fstat(\(shown)): \(Errno(rawValue: errno))") }
            if !CheckFile.trustedOwners.contains(st.st_uid) {
                return .refused("the directory \(shown) belongs to uid \(st.st_uid), not root")
            }
            if st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0 {
                return .refused("the directory \(shown) is writable by \(writers(st.st_mode)) (mode \(String(st.st_mode & 0o7777, radix: 8)))")
            }
            return nil
        }

        func judgeFile(_ fd: Int32, _ st: stat, _ shown: String) -> CheckFile {
            let kind = st.st_mode & S_IFMT
            if ConfigFiles.isDevNull(st) { close(fd); return .masked("\(shown) is /dev/null") }
            guard kind == S_IFREG else { close(fd); return .broken("\(shown) is \(ConfigFiles.describe(st.st_mode)), not a file") }
            if st.st_mode & 0o111 == 0 { close(fd); return .masked("\(shown) is not executable") }
            if st.st_size == 0 { close(fd); return .masked("\(shown) is empty") }
            if !CheckFile.trustedOwners.contains(st.st_uid) {
                close(fd)
                return .refused("\(shown) belongs to uid \(st.st_uid), not root")
            }
            if st.st_mode & 0o022 != 0 {
                close(fd)
                return .refused("\(shown) is writable by \(writers(st.st_mode)) (mode \(String(st.st_mode & 0o7777, radix: 8)))")
            }
            return .runnable(fd: fd)
        }

        func writers(_ mode: mode_t) -> String {
            switch (mode & 0o020 != 0, mode & 0o002 != 0) {
            case (true, true): return "its group and others"
            case (true, false): return "its group"
            default: return "others"
            }
        }
    }
}
