/// The little of an ELF file that installing the early-boot binary needs: its program interpreter
/// (`PT_INTERP`), the libraries it names (`DT_NEEDED`), and a copy whose interpreter is another path.
/// 64-bit little-endian only (x86-64, aarch64, riscv64): anything else is refused by name.
struct ELFFile {
    let bytes: [UInt8]
    let file: String

    struct ProgramHeader {
        var index: Int
        var type: UInt32
        var offset: Int
        var vaddr: UInt64
        var filesz: Int
    }

    static let ptLoad: UInt32 = 1, ptDynamic: UInt32 = 2, ptInterp: UInt32 = 3
    static let dtNull: UInt64 = 0, dtNeeded: UInt64 = 1, dtStrtab: UInt64 = 5

    let programHeaders: [ProgramHeader]
    let phoff: Int
    let phentsize: Int

    init(_ bytes: [UInt8], file: String) throws(BootDeployError) {
        self.bytes = bytes
        self.file = file
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "L"), bytes[3] == UInt8(ascii: "F") else {
            throw .badInput(file: file, line: 0, message: "not an ELF file")
        }
        guard bytes[4] == 2, bytes[5] == 1 else {
            throw .badInput(file: file, line: 0, message: "not a 64-bit little-endian ELF file (class \(bytes[4]), data \(bytes[5]))")
        }
        let phoff = Int(truncatingIfNeeded: ELFFile.u64(bytes, 0x20))
        let phentsize = Int(ELFFile.u16(bytes, 0x36))
        let phnum = Int(ELFFile.u16(bytes, 0x38))
        guard phentsize >= 56, phoff > 0, phoff <= bytes.count, phnum <= (bytes.count - phoff) / phentsize else {
            throw .badInput(file: file, line: 0, message: "ELF program headers out of bounds")
        }
        self.phoff = phoff
        self.phentsize = phentsize
        programHeaders = (0..<phnum).map { i in
            let o = phoff + i * phentsize
            return ProgramHeader(index: i, type: ELFFile.u32(bytes, o), offset: Int(truncatingIfNeeded: ELFFile.u64(bytes, o + 8)),
                                 vaddr: ELFFile.u64(bytes, o + 16), filesz: Int(truncatingIfNeeded: ELFFile.u64(bytes, o + 32)))
        }
    }

    /// The program interpreter (`/lib64/ld-linux-x86-64.so.2`), nil for a static executable.
    func interpreter() throws(BootDeployError) -> String? {
        guard let p = programHeaders.first(where: { $0.type == ELFFile.ptInterp }) else { return nil }
        let s = try string(at: p.offset, limit: p.filesz)
        guard s.hasPrefix("/") else { throw .badInput(file: file, line: 0, message: "ELF interpreter \(quoted(s)) is not an absolute path") }
        return s
    }

    /// The `DT_NEEDED` names, in order.
    func needed() throws(BootDeployError) -> [String] {
        guard let dyn = programHeaders.first(where: { $0.type == ELFFile.ptDynamic }) else { return [] }
        guard dyn.offset >= 0, dyn.filesz >= 0, dyn.offset + dyn.filesz <= bytes.count else {
            throw .badInput(file: file, line: 0, message: "ELF dynamic section out of bounds")
        }
        var strtab: UInt64?
        var neededOffsets: [UInt64] = []
        var o = dyn.offset
        while o + 16 <= dyn.offset + dyn.filesz {
            let tag = ELFFile.u64(bytes, o), val = ELFFile.u64(bytes, o + 8)
            if tag == ELFFile.dtNull { break }
            if tag == ELFFile.dtNeeded { neededOffsets.append(val) }
            if tag == ELFFile.dtStrtab { strtab = val }
            o += 16
        }
        if neededOffsets.isEmpty { return [] }
        guard let strtab, let base = fileOffset(ofAddress: strtab) else {
            throw .badInput(file: file, line: 0, message: "ELF string table not found")
        }
        var names: [String] = []
        for n in neededOffsets {
            let (at, overflow) = base.addingReportingOverflow(Int(truncatingIfNeeded: n))
            guard !overflow else { throw .badInput(file: file, line: 0, message: "ELF DT_NEEDED out of bounds") }
            let name = try string(at: at, limit: 4096)
            guard !name.isEmpty, !name.contains("/") else {
                throw .badInput(file: file, line: 0, message: "needed library \(quoted(name)) is not a plain file name")
            }
            names.append(name)
        }
        return names
    }

    /// A copy whose program interpreter is `path`. The path is appended to the file and `PT_INTERP`'s
    /// file offset and size point at it: the kernel reads the interpreter through those two fields
    /// only, while the dynamic loader keeps finding the original string through the unchanged
    /// virtual address (it uses it only as its own name), so nothing else in the file moves.
    func withInterpreter(_ path: String) throws(BootDeployError) -> [UInt8] {
        guard let p = programHeaders.first(where: { $0.type == ELFFile.ptInterp }) else {
            throw .badInput(file: file, line: 0, message: "a static executable has no interpreter to replace")
        }
        var out = bytes
        while out.count % 8 != 0 { out.append(0) }
        let offset = out.count
        out += Array(path.utf8) + [0]
        let ph = phoff + p.index * phentsize
        ELFFile.put64(&out, ph + 8, UInt64(offset))
        ELFFile.put64(&out, ph + 32, UInt64(path.utf8.count + 1))
        return out
    }

    func fileOffset(ofAddress v: UInt64) -> Int? {
        for p in programHeaders where p.type == ELFFile.ptLoad && v >= p.vaddr && v < p.vaddr &+ UInt64(p.filesz) {
            return p.offset + Int(v - p.vaddr)
        }
        return nil
    }

    func string(at offset: Int, limit: Int) throws(BootDeployError) -> String {
        guard offset >= 0, offset < bytes.count else { throw .badInput(file: file, line: 0, message: "ELF string out of bounds") }
        let end = min(bytes.count, offset + max(0, limit))
        guard let nul = bytes[offset..<end].firstIndex(of: 0) else {
            throw .badInput(file: file, line: 0, message: "ELF string without terminator")
        }
        return String(decoding: bytes[offset..<nul], as: UTF8.self)
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
    static func put64(_ b: inout [UInt8], _ o: Int, _ v: UInt64) {
        for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
}
