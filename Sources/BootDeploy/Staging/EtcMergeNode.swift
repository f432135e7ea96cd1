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
        /// The target as the bytes the link holds (it need not be UTF-8).
        case symlink(target: [UInt8])
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
    static func read(_ name: FileName, in directory: Directory) throws -> EtcMergeNode? {
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
            kind = .symlink(target: try directory.readLinkTarget(name))
        case S_IFIFO: kind = .special("fifo")
        case S_IFSOCK: kind = .special("socket")
        case S_IFCHR: kind = .special("character device")
        case S_IFBLK: kind = .special("block device")
        default: kind = .special("file of unknown type")
        }
        return EtcMergeNode(kind: kind, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid,
                            size: Int(st.st_size), rdev: UInt64(st.st_rdev), mtime: st.st_mtim)
    }

    /// The names in `directory` as bytes, sorted bytewise: a name that is not UTF-8 is carried
    /// exactly like any other.
    static func names(in directory: Directory) throws -> [FileName] {
        try directory.entryNames()
    }
}

extension Directory {
    /// The path of `name` below this directory, for messages.
    func sub(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    /// The path of `name` below this directory, for messages (bytes that are not UTF-8 as `\xNN`).
    func sub(_ name: FileName) -> String { sub(name.text) }
}

/// Byte-for-byte comparison of two regular files, in chunks so that size does not matter. Reading
/// is not a mutation, so it does not go through the fault seam; `O_NOFOLLOW` keeps it from leaving
/// the trees.
func sameContent(_ a: FileName, in dirA: Directory, _ b: FileName, in dirB: Directory) throws -> Bool {
    let fa = try dirA.openForReading(a)
    defer { close(fa) }
    let fb = try dirB.openForReading(b)
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
