/// The little of a PE/COFF image (an EFI binary) that building a unified kernel image needs: the
/// optional header's alignments and image base, and the section table (name, virtual address and
/// size, raw data). PE32+ only (x86-64, aarch64 stubs): anything else is refused by name.
///
/// Layout facts (Microsoft PE format): `MZ` at 0, the PE header offset at 0x3c, `PE\0\0`, a 20-byte
/// COFF header (machine, number of sections, size of optional header), the optional header (magic
/// 0x20b for PE32+, section alignment at +32, file alignment at +36, image base at +24, size of
/// image at +56), then 40-byte section headers.
public struct PEImage: Sendable {
    /// One section header.
    public struct Section: Sendable, Equatable {
        public var name: String
        public var virtualAddress: UInt64
        public var virtualSize: UInt64
        public var rawOffset: Int
        public var rawSize: Int
    }

    public let file: String
    public let machine: UInt16
    public let imageBase: UInt64
    public let sectionAlignment: UInt64
    public let fileAlignment: UInt64
    public let sizeOfImage: UInt64
    public let sections: [Section]
    private let bytes: [UInt8]

    /// `complete` false: `bytes` is only the start of the file (its headers); sections whose data
    /// lies beyond it are listed, and `contents` gives nil for them.
    public init(_ bytes: [UInt8], file: String, complete: Bool = true) throws(BootDeployError) {
        self.bytes = bytes
        self.file = file
        func bad(_ m: String) -> BootDeployError { .badInput(file: file, line: 0, message: m) }
        guard bytes.count >= 0x40, bytes[0] == UInt8(ascii: "M"), bytes[1] == UInt8(ascii: "Z") else { throw bad("not a PE image (no MZ header)") }
        let pe = Int(PEImage.u32(bytes, 0x3c))
        guard pe <= bytes.count - 24, bytes[pe] == UInt8(ascii: "P"), bytes[pe + 1] == UInt8(ascii: "E"), bytes[pe + 2] == 0, bytes[pe + 3] == 0 else {
            throw bad("not a PE image (no PE signature at offset \(pe))")
        }
        let coff = pe + 4
        machine = PEImage.u16(bytes, coff)
        let count = Int(PEImage.u16(bytes, coff + 2))
        let optSize = Int(PEImage.u16(bytes, coff + 16))
        let opt = coff + 20
        guard optSize >= 64, opt + optSize <= bytes.count else { throw bad("PE optional header out of bounds") }
        let magic = PEImage.u16(bytes, opt)
        guard magic == 0x20b else { throw bad("not a PE32+ image (optional header magic 0x\(String(magic, radix: 16)))") }
        imageBase = PEImage.u64(bytes, opt + 24)
        sectionAlignment = UInt64(PEImage.u32(bytes, opt + 32))
        fileAlignment = UInt64(PEImage.u32(bytes, opt + 36))
        sizeOfImage = UInt64(PEImage.u32(bytes, opt + 56))
        guard sectionAlignment > 0, sectionAlignment & (sectionAlignment - 1) == 0 else {
            throw bad("PE section alignment \(sectionAlignment) is not a power of two")
        }
        let table = opt + optSize
        guard count <= 96, table + count * 40 <= bytes.count else { throw bad("PE section table out of bounds (\(count) sections)") }
        var found: [Section] = []
        for i in 0..<count {
            let h = table + i * 40
            let raw = bytes[h..<(h + 8)].prefix { $0 != 0 }
            let s = Section(name: String(decoding: raw, as: UTF8.self),
                            virtualAddress: UInt64(PEImage.u32(bytes, h + 12)), virtualSize: UInt64(PEImage.u32(bytes, h + 8)),
                            rawOffset: Int(PEImage.u32(bytes, h + 20)), rawSize: Int(PEImage.u32(bytes, h + 16)))
            guard !complete || (s.rawOffset <= bytes.count && s.rawSize <= bytes.count - s.rawOffset) else { throw bad("PE section \(quoted(s.name)) data out of bounds") }
            found.append(s)
        }
        sections = found
    }

    public func section(_ name: String) -> Section? { sections.first { $0.name == name } }

    /// The section's bytes as loaded (raw data cut to the virtual size; objcopy pads raw data to the
    /// file alignment).
    public func contents(_ name: String) -> [UInt8]? {
        guard let s = section(name) else { return nil }
        let n = min(s.rawSize, Int(s.virtualSize))
        guard s.rawOffset <= bytes.count, n <= bytes.count - s.rawOffset else { return nil }
        return Array(bytes[s.rawOffset..<(s.rawOffset + n)])
    }

    /// The first address after every section, rounded up to the section alignment: where added
    /// sections may start without overlapping the stub's.
    public var endOfSections: UInt64 {
        let end = sections.map { $0.virtualAddress + max($0.virtualSize, UInt64($0.rawSize)) }.max() ?? 0
        return PEImage.alignUp(max(end, 0), sectionAlignment)
    }

    public static func alignUp(_ v: UInt64, _ a: UInt64) -> UInt64 { (v + a - 1) & ~(a - 1) }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { UInt32(u16(b, o)) | UInt32(u16(b, o + 2)) << 16 }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32 }
}
