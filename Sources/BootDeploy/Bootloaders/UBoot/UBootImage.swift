/// A U-Boot legacy image (`mkimage -T script -C none`): the 64-byte big-endian header
/// (`image_header_t`: magic 0x27051956, header CRC, time, size, load, entry, data CRC, OS, arch,
/// type, compression, 32-byte name) followed by the script payload, which is a list of 32-bit
/// big-endian part lengths ended by 0, then the parts (one: the script text). Written here rather
/// than by running `mkimage` on the appliance; the tests compare it byte for byte with the real
/// `mkimage` (same time via SOURCE_DATE_EPOCH) and decode it with `dumpimage -l`.
public enum UBootImage {
    public static let magic: UInt32 = 0x2705_1956

    /// U-Boot's architecture numbers (include/image.h, IH_ARCH_*) for the names `mkimage -A` takes.
    public static let architectures: [String: UInt8] = ["arm": 2, "x86": 3, "arm64": 22, "riscv": 26]
    static let osLinux: UInt8 = 5
    static let typeScript: UInt8 = 6
    static let compressionNone: UInt8 = 0

    /// The image of `script` for `arch` (`x86`, `arm`, `arm64`, `riscv`), named `name` (at most 32
    /// bytes, as mkimage truncates), stamped with `time` (seconds since the epoch).
    public static func script(_ script: String, arch: String, name: String, time: UInt32) -> [UInt8] {
        // One part, so no padding (mkimage pads only parts that another one follows).
        let text = Array(script.utf8)
        var payload: [UInt8] = []
        be32(UInt32(text.count), into: &payload)
        be32(0, into: &payload)
        payload += text
        var header: [UInt8] = []
        be32(magic, into: &header)
        be32(0, into: &header)                      // header CRC, filled below
        be32(time, into: &header)
        be32(UInt32(payload.count), into: &header)
        be32(0, into: &header)                      // load address
        be32(0, into: &header)                      // entry point
        be32(crc32(payload), into: &header)
        header += [osLinux, architectures[arch] ?? 0, typeScript, compressionNone]
        var nameBytes = Array(name.utf8.prefix(32))
        while nameBytes.count < 32 { nameBytes.append(0) }
        header += nameBytes
        let hcrc = crc32(header)
        header[4] = UInt8(hcrc >> 24); header[5] = UInt8((hcrc >> 16) & 0xff)
        header[6] = UInt8((hcrc >> 8) & 0xff); header[7] = UInt8(hcrc & 0xff)
        return header + payload
    }

    static func be32(_ v: UInt32, into out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    /// CRC-32 (IEEE 802.3, reflected, as zlib's crc32 that U-Boot uses).
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
