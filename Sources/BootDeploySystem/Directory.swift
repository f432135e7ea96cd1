import CBootDeployShim
import Glibc
import SystemPackage

/// An open directory, the anchor of every `*at()` call.
///
/// All file operations of the project go through a `Directory` so that paths are resolved relative
/// to a root that was opened once and cannot be swapped under us, and so that every mutating call
/// passes the `FaultInjection` seam. The descriptor is closed when the value is deinitialised.
public final class Directory: @unchecked Sendable {
    public let fd: Int32
    /// The path this directory was opened under, for error messages only.
    public let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens an existing directory. With `noFollow`, a symlink in the last component is refused.
    public static func open(_ path: String, noFollow: Bool = false) throws(SystemError) -> Directory {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0)
        let fd = try retryingOnInterrupt { Glibc.open(path, flags) }.get("open", path)
        return Directory(fd: fd, path: path)
    }

    func sub(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    /// Opens a directory below this one. `name` may contain `/`; with `noFollow` only the last
    /// component is protected against symlinks.
    public func openDirectory(_ name: String, noFollow: Bool = true) throws(SystemError) -> Directory {
        try openDirectory(FileName(name), noFollow: noFollow)
    }

    /// Creates `name/` (and missing parents when `parents`); an existing directory is fine.
    public func makeDirectory(_ name: String, mode: mode_t = 0o755, parents: Bool = false) throws(SystemError) {
        if parents {
            var prefix = ""
            for part in name.split(separator: "/") {
                prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
                try makeDirectory(prefix, mode: mode, parents: false)
            }
            return
        }
        try makeDirectory(FileName(name), mode: mode)
    }

    // MARK: Reading

    public enum Kind: Sendable, Equatable { case file, directory, symlink, other, missing }

    /// What `name` is, without following a final symlink unless asked.
    public func kind(_ name: String, followLinks: Bool = false) throws(SystemError) -> Kind {
        try kind(FileName(name), followLinks: followLinks)
    }

    public func exists(_ name: String) -> Bool { ((try? kind(name)) ?? .missing) != .missing }

    /// `stat` of `name` (not following a final symlink).
    public func status(_ name: String, followLinks: Bool = false) throws(SystemError) -> stat {
        try status(FileName(name), followLinks: followLinks)
    }

    /// The whole content of a regular file below this directory.
    public func readFile(_ name: String, limit: Int = 64 << 20) throws(SystemError) -> [UInt8] {
        let f = try retryingOnInterrupt { openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }.get("open", sub(name))
        defer { close(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try retryingOnInterrupt { buf.withUnsafeMutableBytes { read(f, $0.baseAddress, $0.count) } }.get("read", sub(name))
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { throw SystemError("read", sub(name), .fileTooLarge) }
        }
        return out
    }

    public func readText(_ name: String) throws(SystemError) -> String {
        String(decoding: try readFile(name), as: UTF8.self)
    }

    /// Names in this directory, without `.` and `..`, sorted bytewise for determinism. Bytes that
    /// are not UTF-8 are repaired (U+FFFD): walks that must reproduce a name use `entryNames()`.
    public func entries() throws(SystemError) -> [String] {
        try entryNames().map { String(decoding: $0.bytes, as: UTF8.self) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A symlink's target as text (bytes that are not UTF-8 are repaired: use `readLinkTarget` to
    /// reproduce a link).
    public func readLink(_ name: String) throws(SystemError) -> String {
        String(decoding: try readLinkTarget(FileName(name)), as: UTF8.self)
    }

    /// The `statfs` magic of the filesystem this directory is on.
    public func filesystemType() -> Int64 { bd_fstatfs_type(fd) }

    // MARK: Writing

    /// Creates (or truncates) `name` with `bytes`, optionally flushing it. Not atomic by itself.
    public func writeFile(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o644, exclusive: Bool = false, sync: Bool = true) throws(SystemError) {
        if let e = FaultInjection.gate("create", sub(name)) { throw SystemError("open", sub(name), e) }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC)
        let f = try retryingOnInterrupt { openat(fd, name, flags, mode) }.get("open", sub(name))
        defer { close(f) }
        var off = 0
        while off < bytes.count {
            if let e = FaultInjection.gate("write", sub(name)) { throw SystemError("write", sub(name), e) }
            let n = try retryingOnInterrupt {
                bytes.withUnsafeBytes { write(f, $0.baseAddress! + off, $0.count - off) }
            }.get("write", sub(name))
            off += n
        }
        if sync {
            if let e = FaultInjection.gate("fsync", sub(name)) { throw SystemError("fsync", sub(name), e) }
            try retryingOnInterrupt { fsync(f) }.get("fsync", sub(name))
        }
    }

    public func writeText(_ name: String, _ text: String, mode: mode_t = 0o644, sync: Bool = true) throws(SystemError) {
        try writeFile(name, Array(text.utf8), mode: mode, sync: sync)
    }

    /// Replaces `name` atomically: write `.name.tmp`, flush it, rename over, flush the directory.
    /// A crash at any point leaves either the old or the new content, never a mix.
    public func replaceFile(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) {
        let tmp = "." + name + ".tmp"
        try writeFile(tmp, bytes, mode: mode, sync: true)
        try rename(tmp, to: name)
        try sync()
    }

    /// `renameat2` within or across directories on the same filesystem.
    public func rename(_ from: String, to: String, in target: Directory? = nil, exchange: Bool = false, noReplace: Bool = false) throws(SystemError) {
        let dst = target ?? self
        let label = "\(sub(from)), \(dst.sub(to))"
        let op = exchange ? "renameat2[exchange]" : "rename"
        if let e = FaultInjection.gate(op, label) { throw SystemError(op, label, e) }
        var flags: UInt32 = 0
        if exchange { flags |= bd_rename_exchange }
        if noReplace { flags |= bd_rename_noreplace }
        if flags == 0 {
            try retryingOnInterrupt { renameat(fd, from, dst.fd, to) }.get(op, label)
        } else {
            try retryingOnInterrupt { bd_renameat2(fd, from, dst.fd, to, flags) }.get(op, label)
        }
    }

    public func symlink(_ target: String, at name: String) throws(SystemError) {
        try symlink(target: Array(target.utf8), at: FileName(name))
    }

    /// Hard-links `from` (below this directory) to `to` below `target`.
    public func link(_ from: String, to: String, in target: Directory? = nil) throws(SystemError) {
        try link(FileName(from), to: FileName(to), in: target)
    }

    /// Removes a file or an empty directory. A missing name is not an error when `missingOK`.
    public func remove(_ name: String, directory: Bool = false, missingOK: Bool = true) throws(SystemError) {
        try remove(FileName(name), directory: directory, missingOK: missingOK)
    }

    /// Removes `name` and everything below it, never following symlinks (names below as bytes).
    public func removeTree(_ name: String) throws(SystemError) {
        try removeTree(FileName(name))
    }

    /// Flushes this directory's own entries (names created, renamed or removed in it).
    public func sync() throws(SystemError) {
        if let e = FaultInjection.gate("fsync", path) { throw SystemError("fsync", path, e) }
        try retryingOnInterrupt { fsync(fd) }.get("fsync", path)
    }

    /// Flushes the whole filesystem this directory is on.
    public func syncFilesystem() throws(SystemError) {
        if let e = FaultInjection.gate("syncfs", path) { throw SystemError("syncfs", path, e) }
        try retryingOnInterrupt { bd_syncfs(fd) }.get("syncfs", path)
    }

    /// Freezes and thaws the filesystem so that its journal is written back into place: boot
    /// loaders such as GRUB read the filesystem without replaying the journal. The freeze is
    /// guarded so that a killed writer never leaves it frozen (`BootFreeze`); `marker` is the
    /// sysroot's `bootdeploy/`. Where freezing is impossible or someone else holds a freeze,
    /// `syncfs` is what can be had.
    public func freezeThaw(marker: Directory? = nil) throws(SystemError) {
        if try BootFreeze.cycle(self, marker: marker) != .cycled { try syncFilesystem() }
    }

    /// Copies a regular file from `source` (below `from`) to `name` here, flushing it.
    public func copyFile(_ source: String, from: Directory, to name: String, mode: mode_t? = nil, sync: Bool = true) throws(SystemError) {
        try copyFile(FileName(source), from: from, to: FileName(name), mode: mode, sync: sync)
    }

    // MARK: Locking

    /// Takes an exclusive `flock` on this directory. With `wait` false, a held lock fails at once
    /// with EWOULDBLOCK. The lock lives as long as this `Directory`.
    public func lock(wait: Bool) throws(SystemError) {
        try retryingOnInterrupt { flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) }.get("flock", path)
    }
}

/// Filesystem type as far as the boot transaction cares.
public enum FilesystemKind: Sendable, Equatable {
    case vfat, ext4, xfs, btrfs, tmpfs, other(Int64)

    public init(magic: Int64) {
        switch magic {
        case bd_magic_msdos: self = .vfat
        case bd_magic_ext4: self = .ext4
        case bd_magic_xfs: self = .xfs
        case bd_magic_btrfs: self = .btrfs
        case bd_magic_tmpfs: self = .tmpfs
        default: self = .other(magic)
        }
    }

    /// Whether the filesystem can hold symlinks (vfat cannot).
    public var supportsSymlinks: Bool { self != .vfat }
}

/// An exclusive `flock` on a lock file, held until the value goes away. The sysroot's writers
/// (`boot-deploy`, `boot-health`) all take `$SYSROOT/bootdeploy/.lock` so that only one of them
/// changes /boot at a time.
public final class FileLock: @unchecked Sendable {
    let fd: Int32
    public let path: String

    /// Opens (creating) `name` below `directory` and locks it. With `wait` false a held lock fails
    /// at once with `EWOULDBLOCK`.
    public init(_ name: String, in directory: Directory, wait: Bool) throws(SystemError) {
        path = directory.sub(name)
        fd = try retryingOnInterrupt { openat(directory.fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }.get("open", path)
        switch retryingOnInterrupt({ flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) }) {
        case .success: break
        case .failure(let e):
            close(fd)
            throw SystemError("flock", path, e)
        }
    }

    deinit { close(fd) }
}

extension Directory {
    /// Bytes available to unprivileged writers on this directory's filesystem.
    public func availableBytes() throws(SystemError) -> UInt64 {
        var st = statvfs()
        try retryingOnInterrupt { fstatvfs(fd, &st) }.get("fstatvfs", path)
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }
}
