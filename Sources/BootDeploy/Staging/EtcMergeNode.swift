import BootDeploySystem
import Glibc

/// What one name in one of the three trees of an /etc merge is, read with `AT_SYMLINK_NOFOLLOW`.
///
/// The snapshot holds exactly the attributes that decide whether the administrator changed a path
/// (type, permission bits, owner, symlink target, device number) plus the ones the copy keeps
/// (size, times). Content is not held: files are compared on disk, chunk by chunk, only when
/// everything else is equal.
struct EtcMergeNode {
    enum Kind: Equatable {
        case file
        case directory
        case symlink(target: String)
        /// A fifo, socket or device node; the string names the kind for warnings.
        case special(String)
    }

    var kind: Kind
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    var mode: mode_t
    var uid: uid_t
    var gid: gid_t
    var size: Int
    var rdev: UInt64
    var mtime: timespec

    var isDirectory: Bool { kind == .directory }

    var isFile: Bool { kind == .file }

    /// Whether the two nodes have the same type and the same attributes an administrator changes.
    /// Times are deliberately ignored: `touch` is not a configuration change, and a live /etc
    /// written by an older tool may not have kept them. A symlink's mode means nothing on Linux.
    func sameAttributes(as other: EtcMergeNode) -> Bool {
        guard kind == other.kind, uid == other.uid, gid == other.gid else { return false }
        switch kind {
        case .symlink: return true
        case .special: return mode == other.mode && rdev == other.rdev
        case .file: return mode == other.mode && size == other.size
        case .directory: return mode == other.mode
        }
    }

    /// Reads `name` below `directory`; nil when there is no such entry.
    static func read(_ name: String, in directory: Directory) throws -> EtcMergeNode? {
        let st: stat
        do {
            st = try directory.status(name)
        } catch {
            // A typed `catch ... where` crashes the 6.3 compiler (ownership verifier); test inside.
            if error.errno.rawValue == ENOENT { return nil }
            throw error
        }
        let kind: Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK:
            let target = try directory.readLink(name)
            // readLink decodes UTF-8 and repairs invalid bytes; a repaired target would point
            // somewhere else, so it is refused rather than written.
            if target.utf8.count != Int(st.st_size) || target.unicodeScalars.contains("\u{FFFD}") {
                throw EtcMergeError.unsupportedName(path: directory.sub(name), what: "symlink target is not valid UTF-8")
            }
            kind = .symlink(target: target)
        case S_IFIFO: kind = .special("fifo")
        case S_IFSOCK: kind = .special("socket")
        case S_IFCHR: kind = .special("character device")
        case S_IFBLK: kind = .special("block device")
        default: kind = .special("file of unknown type")
        }
        return EtcMergeNode(kind: kind, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid,
                            size: Int(st.st_size), rdev: UInt64(st.st_rdev), mtime: st.st_mtim)
    }

    /// The names in `directory`, sorted bytewise. `Directory.entries()` cannot carry a name that is
    /// not valid UTF-8 (it comes back repaired and no longer opens); such a name fails the merge
    /// instead of silently dropping a configuration file.
    static func names(in directory: Directory) throws -> [String] {
        let names = try directory.entries()
        for name in names where name.unicodeScalars.contains("\u{FFFD}") {
            if try directory.kind(name) == .missing {
                throw EtcMergeError.unsupportedName(path: directory.sub(name), what: "file name is not valid UTF-8")
            }
        }
        return names
    }
}

extension Directory {
    /// The path of `name` below this directory, for messages.
    func sub(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }
}

/// Byte-for-byte comparison of two regular files, in chunks so that size does not matter. Reading
/// is not a mutation, so it does not go through the fault seam; `O_NOFOLLOW` keeps it from leaving
/// the trees.
func sameContent(_ a: String, in dirA: Directory, _ b: String, in dirB: Directory) throws -> Bool {
    let fa = try openForReading(a, in: dirA)
    defer { close(fa) }
    let fb = try openForReading(b, in: dirB)
    defer { close(fb) }
    let chunk = 1 << 16
    var bufA = [UInt8](repeating: 0, count: chunk)
    var bufB = [UInt8](repeating: 0, count: chunk)
    while true {
        let na = try readFull(fa, &bufA, path: dirA.sub(a))
        let nb = try readFull(fb, &bufB, path: dirB.sub(b))
        if na != nb { return false }
        if na == 0 { return true }
        if bufA[0..<na] != bufB[0..<nb] { return false }
    }
}

private func openForReading(_ name: String, in dir: Directory) throws -> Int32 {
    while true {
        let f = openat(dir.fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if f >= 0 { return f }
        if errno != EINTR { throw SystemError("open", dir.sub(name), .init(rawValue: errno)) }
    }
}

/// Fills `buffer` as far as the file allows, so that two files are compared at the same offsets.
private func readFull(_ fd: Int32, _ buffer: inout [UInt8], path: String) throws -> Int {
    var total = 0
    while total < buffer.count {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
        if n < 0 {
            if errno == EINTR { continue }
            throw SystemError("read", path, .init(rawValue: errno))
        }
        if n == 0 { break }
        total += n
    }
    return total
}
