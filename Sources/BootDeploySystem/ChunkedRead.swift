import Glibc

extension Directory {
    /// Reads a regular file below this directory in chunks of at most `chunk` bytes, handing each to
    /// `body`, so that a kernel or an initramfs is hashed without being held in memory. A symlink in
    /// the last component is refused (`O_NOFOLLOW`); returns the number of bytes read.
    @discardableResult
    public func readChunks(_ name: String, chunk: Int = 1 << 20,
                           _ body: (UnsafeRawBufferPointer) -> Void) throws(SystemError) -> Int {
        let f = try retryingOnInterrupt { openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }.get("open", sub(name))
        defer { close(f) }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buf.deallocate() }
        var total = 0
        while true {
            let n = try retryingOnInterrupt { read(f, buf.baseAddress, chunk) }.get("read", sub(name))
            if n == 0 { break }
            body(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            total += n
        }
        return total
    }
}

extension Directory {
    /// The first `count` bytes of a regular file below this directory (fewer when it is shorter):
    /// for headers, without reading a large image whole.
    public func readPrefix(_ name: String, count: Int) throws(SystemError) -> [UInt8] {
        let f = try retryingOnInterrupt { openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }.get("open", sub(name))
        defer { close(f) }
        var out = [UInt8](repeating: 0, count: max(0, count))
        var have = 0
        while have < out.count {
            let n = try retryingOnInterrupt { out.withUnsafeMutableBytes { pread(f, $0.baseAddress! + have, $0.count - have, off_t(have)) } }.get("read", sub(name))
            if n == 0 { break }
            have += n
        }
        return Array(out[0..<have])
    }
}
