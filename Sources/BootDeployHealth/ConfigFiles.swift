import BootDeploySystem
import Glibc
import SystemPackage

/// Which files make up the configuration, read the way systemd reads its own (docs/HEALTH.md,
/// "Configuration"): symlinks are followed; a file that is, or links to, `/dev/null` is *masked*
/// (it contributes nothing, and masks the same-named file of every lower-priority directory); a
/// dangling link, a loop, a directory, a FIFO or any other device is an error naming the file.
enum ConfigFiles {
    /// Config files are small; anything bigger is a mistake, not a configuration.
    static let sizeLimit = 1 << 20

    /// What one name in one directory turned out to be.
    enum Found: Equatable {
        case missing
        case masked
        case text(String)
    }

    /// The texts to apply, lowest priority first. `dirs` are given highest priority first.
    static func load(dirs: [String]) throws -> [(file: String, text: String)] {
        var out: [(file: String, text: String)] = []
        // The main file: layered from the lowest directory up, stopping at a mask.
        var mains: [(String, String)] = []
        for dir in dirs {
            let file = dir + "/boot-health.conf"
            let found = try read(file)
            if found == .masked { break }
            if case .text(let t) = found { mains.append((file, t)) }
        }
        out += mains.reversed().map { (file: $0.0, text: $0.1) }
        // Drop-ins: the highest directory's file of a name wins, whatever it is (a mask included).
        var dropins: [String: String] = [:]
        for dir in dirs.reversed() {
            let d = dir + "/boot-health.conf.d"
            guard let names = try listIfPresent(d) else { continue }
            for name in names where name.hasSuffix(".conf") && !name.hasPrefix(".") { dropins[name] = d + "/" + name }
        }
        for name in dropins.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let file = dropins[name]!
            if case .text(let t) = try read(file) { out.append((file: file, text: t)) }
        }
        return out
    }

    /// The names in a directory, or nil when it does not exist or is a link to `/dev/null` (masked
    /// as a whole); any other failure is an error.
    static func listIfPresent(_ path: String) throws -> [String]? {
        do {
            return try Directory.open(path).entries()
        } catch let e where e.errno == .noSuchFileOrDirectory {
            return nil
        } catch let e where e.errno == .notDirectory && isDevNull(path) {
            return nil
        } catch {
            throw ConfigError(file: path, line: 0, message: "cannot read the directory: \(error.errno)")
        }
    }

    /// Reads `file`, following symlinks.
    static func read(_ file: String) throws(ConfigError) -> Found {
        func fail(_ why: String) -> ConfigError { ConfigError(file: file, line: 0, message: why) }
        var st = stat()
        if fstatat(AT_FDCWD, file, &st, 0) != 0 {
            let e = Errno(rawValue: errno)
            if e == .noSuchFileOrDirectory || e == .notDirectory {
                // A link whose target is missing is a mistake, not an absent file.
                var lst = stat()
                if fstatat(AT_FDCWD, file, &lst, AT_SYMLINK_NOFOLLOW) == 0, lst.st_mode & S_IFMT == S_IFLNK {
                    throw fail("a symbolic link to \(linkTarget(file)), which does not exist")
                }
                return .missing
            }
            if e == .tooManySymbolicLinkLevels { throw fail("too many levels of symbolic links (a loop?)") }
            throw fail("cannot stat: \(e)")
        }
        if isDevNull(st) { return .masked }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw fail("not a regular file (\(describe(st.st_mode))); only a link to /dev/null masks a file")
        }
        // O_NONBLOCK | O_NOCTTY: if the file was swapped for a FIFO or a device since the stat,
        // opening it must neither hang nor do anything; the fstat below refuses it.
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 { throw fail("cannot open: \(Errno(rawValue: errno))") }
        defer { close(fd) }
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw fail("changed while being read; not a regular file") }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("cannot read: \(Errno(rawValue: errno))")
            }
            if n == 0 { break }
            bytes += buf[0..<n]
            if bytes.count > sizeLimit { throw fail("larger than \(sizeLimit / 1024) KiB; not a configuration file") }
        }
        return .text(String(decoding: bytes, as: UTF8.self))
    }

    static func isDevNull(_ path: String) -> Bool {
        var st = stat()
        return fstatat(AT_FDCWD, path, &st, 0) == 0 && isDevNull(st)
    }

    /// `/dev/null`: the character device 1:3.
    static func isDevNull(_ st: stat) -> Bool {
        guard st.st_mode & S_IFMT == S_IFCHR else { return false }
        let rdev = UInt64(st.st_rdev)
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)
        let minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff)
        return major == 1 && minor == 3
    }

    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFLNK: return "a symbolic link"
        default: return "mode \(String(mode, radix: 8))"
        }
    }

    static func linkTarget(_ path: String) -> String {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        return n < 0 ? "?" : String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
