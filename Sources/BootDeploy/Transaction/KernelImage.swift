/// What a kernel file's first bytes say about it: a content check that is honest about what it can
/// know. An empty file is never a kernel. A file that carries a header BootDeploy knows must be as
/// long as that header says (a copy cut short by a full disk or a crash is refused). A file with
/// no header we know may be a kernel for an architecture not listed here: it is deployed, with a
/// warning, rather than refused.
enum KernelImage {
    enum Verdict: Equatable {
        /// A known format, complete as far as its header tells.
        case recognised(String)
        /// No header we know; deployed with a warning.
        case unknown
        /// Refused: empty, or shorter than its own header says.
        case broken(String)
    }

    static func check(_ b: [UInt8]) -> Verdict {
        if b.isEmpty { return .broken("is empty (0 bytes)") }
        func at(_ off: Int, _ magic: [UInt8]) -> Bool {
            off + magic.count <= b.count && Array(b[off..<off + magic.count]) == magic
        }
        func le(_ off: Int, _ n: Int) -> Int? {
            guard off >= 0, off + n <= b.count else { return nil }
            var v = 0
            for i in (0..<n).reversed() { v = v << 8 | Int(b[off + i]) }
            return v
        }
        func short(_ format: String, _ needed: Int) -> Verdict {
            .broken("is truncated: its \(format) header says at least \(needed) bytes, the file has \(b.count)")
        }
        // x86 bzImage (with or without an EFI stub, which also starts with "MZ").
        if at(0x202, Array("HdrS".utf8)) {
            let setup = Int(b[0x1f1] == 0 ? 4 : b[0x1f1])
            guard let paragraphs = le(0x1f4, 4) else { return short("bzImage", 0x1f8) }
            let needed = (setup + 1) * 512 + paragraphs * 16
            return b.count >= needed ? .recognised("bzImage") : short("bzImage", needed)
        }
        if at(0, Array("MZ".utf8)) {
            // PE/COFF: an EFI-stub kernel (arm64, riscv64, loongarch, zboot). Every section's raw
            // data must lie within the file.
            guard let pe = le(0x3c, 4), at(pe, [0x50, 0x45, 0, 0]), let sections = le(pe + 6, 2),
                  let optional = le(pe + 20, 2) else {
                return .broken("is truncated or damaged: it starts with \"MZ\" but has no complete PE header")
            }
            var needed = pe + 24 + optional + sections * 40
            for s in 0..<sections {
                let entry = pe + 24 + optional + s * 40
                if let size = le(entry + 16, 4), let offset = le(entry + 20, 4), size > 0 { needed = max(needed, offset + size) }
            }
            return b.count >= needed ? .recognised("PE") : short("PE", needed)
        }
        if at(0x38, [0x41, 0x52, 0x4d, 0x64]) { return b.count >= 64 ? .recognised("ARM64 Image") : short("ARM64 Image", 64) }
        if at(0x30, [0x52, 0x53, 0x43, 0x05]) { return b.count >= 64 ? .recognised("RISC-V Image") : short("RISC-V Image", 64) }
        if at(0x24, [0x18, 0x28, 0x6f, 0x01]), let start = le(0x28, 4), let end = le(0x2c, 4), end > start {
            return b.count >= end - start ? .recognised("ARM zImage") : short("ARM zImage", end - start)
        }
        if at(0, [0x7f, 0x45, 0x4c, 0x46]) { return elf(b) }
        let compressed: [[UInt8]] = [[0x1f, 0x8b], [0x28, 0xb5, 0x2f, 0xfd], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
                                     Array("BZh".utf8), [0x02, 0x21, 0x4c, 0x18], [0x04, 0x22, 0x4d, 0x18], [0x89, 0x4c, 0x5a, 0x4f]]
        if compressed.contains(where: { at(0, $0) }) { return b.count >= 18 ? .recognised("compressed image") : .broken("is truncated: a compressed image of \(b.count) bytes") }
        return .unknown
    }

    /// ELF (vmlinux on ppc64, s390, mips): the program headers and every segment's file bytes.
    static func elf(_ b: [UInt8]) -> Verdict {
        guard b.count >= 52 else { return .broken("is truncated: an ELF header needs 52 bytes, the file has \(b.count)") }
        let is64 = b[4] == 2, big = b[5] == 2
        func u(_ off: Int, _ n: Int) -> Int? {
            guard off + n <= b.count else { return nil }
            var v = 0
            for i in 0..<n { v = v << 8 | Int(b[big ? off + i : off + n - 1 - i]) }
            return v
        }
        guard let phoff = is64 ? u(0x20, 8) : u(0x1c, 4), let phsize = u(is64 ? 0x36 : 0x2a, 2),
              let phnum = u(is64 ? 0x38 : 0x2c, 2) else { return .broken("is truncated: incomplete ELF header") }
        var needed = phoff + phsize * phnum
        for i in 0..<phnum {
            let h = phoff + i * phsize
            let off = is64 ? u(h + 8, 8) : u(h + 4, 4), size = is64 ? u(h + 32, 8) : u(h + 16, 4)
            if let off, let size { needed = max(needed, off + size) } else { needed = max(needed, h + phsize) }
        }
        return b.count >= needed ? .recognised("ELF") : .broken("is truncated: its ELF headers say at least \(needed) bytes, the file has \(b.count)")
    }
}
