import CBootDeployShim
import Glibc
import SystemPackage

/// The byte-exact forms of `Directory`'s name operations. The `String` forms forward here, so each
/// system call has one wrapper and one fault gate; walks that read names from the disk (the /etc
/// merge, `TreeCopy`, `removeTree`) call these directly so that no name is ever repaired into a
/// different one.
extension Directory {
    func sub(_ name: FileName) -> String { sub(name.text) }

    /// Names in this directory as bytes, without `.` and `..`, sorted bytewise.
    public func entryNames() throws(SystemError) -> [FileName] {
        let d = try retryingOnInterrupt { dup(fd) }.get("dup", path)
        guard let dir = fdopendir(d) else {
            let e = Errno(rawValue: Glibc.errno)
            close(d)
            throw SystemError("opendir", path, e)
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [FileName] = []
        while let ent = readdir(dir) {
            let bytes = withUnsafeBytes(of: ent.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if bytes == [0x2e] || bytes == [0x2e, 0x2e] { continue }
            names.append(FileName(bytes: bytes))
        }
        return names.sorted()
    }

    /// `stat` of `name` (not following a final symlink unless asked).
    public func status(_ name: FileName, followLinks: Bool = false) throws(SystemError) -> stat {
        var st = stat()
        try name.withCString { p in retryingOnInterrupt { fstatat(fd, p, &st, followLinks ? 0 : AT_SYMLINK_NOFOLLOW) } }.get("stat", sub(name))
        return st
    }

    /// What `name` is; `.missing` when it (or a parent) does not exist.
    public func kind(_ name: FileName, followLinks: Bool = false) throws(SystemError) -> Kind {
        var st = stat()
        let r = name.withCString { p in fstatat(fd, p, &st, followLinks ? 0 : AT_SYMLINK_NOFOLLOW) }
        if r != 0 {
            let e = Errno(rawValue: Glibc.errno)
            if e == .noSuchFileOrDirectory || e == .notDirectory { return .missing }
            throw SystemError("stat", sub(name), e)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    public func openDirectory(_ name: FileName, noFollow: Bool = true) throws(SystemError) -> Directory {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0)
        let fd = try name.withCString { p in retryingOnInterrupt { openat(self.fd, p, flags) } }.get("open", sub(name))
        return Directory(fd: fd, path: sub(name))
    }

    /// Creates the directory `name`; an existing directory is fine.
    public func makeDirectory(_ name: FileName, mode: mode_t = 0o755) throws(SystemError) {
        if (try? kind(name)) == .directory { return }
        if let e = FaultInjection.gate("mkdir", sub(name)) { throw SystemError("mkdir", sub(name), e) }
        switch name.withCString({ p in retryingOnInterrupt { mkdirat(fd, p, mode) } }) {
        case .success: return
        case .failure(let e) where e == .fileExists && (try? kind(name)) == .directory: return
        case .failure(let e): throw SystemError("mkdir", sub(name), e)
        }
    }

    /// A symlink's target as the bytes it holds.
    public func readLinkTarget(_ name: FileName) throws(SystemError) -> [UInt8] {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = try name.withCString { p in retryingOnInterrupt { readlinkat(fd, p, &buf, 4096) } }.get("readlink", sub(name))
        return buf[0..<n].map { UInt8(bitPattern: $0) }
    }

    public func symlink(target: [UInt8], at name: FileName) throws(SystemError) {
        if let e = FaultInjection.gate("symlink", sub(name)) { throw SystemError("symlink", sub(name), e) }
        try FileName(bytes: target).withCString { t in
            name.withCString { p in retryingOnInterrupt { symlinkat(t, fd, p) } }
        }.get("symlink", sub(name))
    }

    /// Hard-links `from` (below this directory) to `to` below `target`.
    public func link(_ from: FileName, to: FileName, in target: Directory? = nil) throws(SystemError) {
        let dst = target ?? self
        let label = "\(sub(from)), \(dst.sub(to))"
        if let e = FaultInjection.gate("link", label) { throw SystemError("link", label, e) }
        try from.withCString { f in
            to.withCString { t in retryingOnInterrupt { linkat(fd, f, dst.fd, t, 0) } }
        }.get("link", label)
    }

    /// Removes a file or an empty directory. A missing name is not an error when `missingOK`.
    public func remove(_ name: FileName, directory: Bool = false, missingOK: Bool = true) throws(SystemError) {
        if missingOK && (try? kind(name)) == .missing { return }
        if let e = FaultInjection.gate("unlink", sub(name)) { throw SystemError("unlink", sub(name), e) }
        try name.withCString { p in retryingOnInterrupt { unlinkat(fd, p, directory ? AT_REMOVEDIR : 0) } }.get("unlink", sub(name))
    }

    // removeTree(_: FileName) is in TreeWalk.swift: iterative, for trees of any depth.

    /// Copies a regular file from `source` (below `from`) to `name` here, optionally flushing it.
    public func copyFile(_ source: FileName, from: Directory, to name: FileName, mode: mode_t? = nil, sync: Bool = true) throws(SystemError) {
        let src = try source.withCString { p in retryingOnInterrupt { openat(from.fd, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) } }.get("open", from.sub(source))
        defer { close(src) }
        var st = stat()
        try retryingOnInterrupt { fstat(src, &st) }.get("fstat", from.sub(source))
        if let e = FaultInjection.gate("create", sub(name)) { throw SystemError("open", sub(name), e) }
        let dst = try name.withCString { p in
            retryingOnInterrupt { openat(fd, p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode ?? (st.st_mode & 0o7777)) }
        }.get("open", sub(name))
        defer { close(dst) }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try retryingOnInterrupt { buf.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) } }.get("read", from.sub(source))
            if n == 0 { break }
            var off = 0
            while off < n {
                if let e = FaultInjection.gate("write", sub(name)) { throw SystemError("write", sub(name), e) }
                let w = try retryingOnInterrupt { buf.withUnsafeBytes { write(dst, $0.baseAddress! + off, n - off) } }.get("write", sub(name))
                off += w
            }
        }
        if !sync { return }
        if let e = FaultInjection.gate("fsync", sub(name)) { throw SystemError("fsync", sub(name), e) }
        try retryingOnInterrupt { fsync(dst) }.get("fsync", sub(name))
    }

    /// Sets owner, permission bits and modification time of `name` (not following symlinks).
    public func setMetadata(_ name: FileName, uid: uid_t, gid: gid_t, mode: mode_t?, mtime: timespec?, isSymlink: Bool) throws(SystemError) {
        try name.withCString { p in retryingOnInterrupt { fchownat(fd, p, uid, gid, AT_SYMLINK_NOFOLLOW) } }.get("chown", sub(name))
        if let mode, !isSymlink {
            try name.withCString { p in retryingOnInterrupt { fchmodat(fd, p, mode, 0) } }.get("chmod", sub(name))
        }
        if let mtime {
            var times = [mtime, mtime]
            try name.withCString { p in retryingOnInterrupt { utimensat(fd, p, &times, AT_SYMLINK_NOFOLLOW) } }.get("utimensat", sub(name))
        }
    }

    /// Creates a device node or fifo `name` like the one described by `mode` and `device`.
    public func makeNode(_ name: FileName, mode: mode_t, device: dev_t) throws(SystemError) {
        if let e = FaultInjection.gate("mknod", sub(name)) { throw SystemError("mknod", sub(name), e) }
        try name.withCString { p in retryingOnInterrupt { mknodat(fd, p, mode, device) } }.get("mknod", sub(name))
    }

    /// Opens `name` for reading without following a final symlink; the caller closes the fd.
    public func openForReading(_ name: FileName, flags: Int32 = 0) throws(SystemError) -> Int32 {
        try name.withCString { p in retryingOnInterrupt { openat(fd, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | flags) } }.get("open", sub(name))
    }
}
