import CCrypto

/// SHA-256, streamed through libgcrypt: the content digest of kernels, initramfs images and
/// devicetrees on /boot, and of an updater's `--digest`. libgcrypt uses the CPU's SHA extensions or
/// vector units where present (2 GB/s here, as fast as OpenSSL's libcrypto), and it is in the
/// process already: libsystemd links it. libcrypto, used before, cost every start of boot-deploy
/// and boot-health 0.6 ms and 1.9 MiB of memory (docs/PERFORMANCE.md). Linked by boot-deploy and
/// boot-health only, never by the early-boot binary.
public final class SHA256 {
    private let handle: gcry_md_hd_t

    public init() {
        guard bd_gcrypt_ready() != 0 else { fatalError("libgcrypt is older than the one BootDeploy was built with") }
        // gcry_md_open fails only when memory is exhausted (SHA-256 is always available).
        var h: gcry_md_hd_t? = nil
        guard gcry_md_open(&h, Int32(GCRY_MD_SHA256.rawValue), 0) == 0, let h else { fatalError("gcry_md_open(SHA-256) failed") }
        handle = h
    }

    deinit { gcry_md_close(handle) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        gcry_md_write(handle, base, bytes.count)
    }

    public func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) { return done }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// The digest; the value can take no more input afterwards.
    public func finalize() -> [UInt8] {
        let length = Int(gcry_md_get_algo_dlen(Int32(GCRY_MD_SHA256.rawValue)))
        guard let p = gcry_md_read(handle, Int32(GCRY_MD_SHA256.rawValue)) else { fatalError("gcry_md_read(SHA-256) failed") }
        return Array(UnsafeBufferPointer(start: p, count: length))
    }

    public func finalizeHex() -> String { SHA256.hexString(finalize()) }

    /// The lowercase hex SHA-256 of `bytes`.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let h = SHA256()
        h.update(bytes)
        return hexString(h.finalize())
    }

    static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
