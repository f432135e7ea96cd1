import BootDeploySystem
import Foundation
import Testing
import TestSupport

/// `Ext4Journal.state(superblock:)` on superblocks made by the real mkfs tools: it says `live`
/// only for a journalled ext4 whose `needs_recovery` flag is set, which is what lets a writer skip
/// the freeze that probes for a foreign one (FreezeTests checks the mounted, frozen case).
@Suite("ext4 superblock: frozen or not")
struct Ext4JournalTests {
    static func superblock(_ image: String) throws -> [UInt8] {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: image))
        defer { try? h.close() }
        try h.seek(toOffset: 1024)
        return [UInt8](try h.read(upToCount: 1024) ?? Data())
    }

    static func mkfs(_ tmp: TempDir, _ name: String, _ command: String) throws -> String? {
        let image = tmp.sub(name)
        let tool = String(command.split(separator: " ")[0])
        guard ["/usr/sbin/", "/sbin/", "/usr/bin/"].contains(where: { FileManager.default.isExecutableFile(atPath: $0 + tool) }) else {
            print("SKIP: \(tool) not installed (scripts/install-deps.sh)")
            return nil
        }
        let r = try run("/bin/sh", ["-c", "truncate -s 320M '\(image)' && \(command) '\(image)' >/dev/null 2>&1"])
        guard r.ok else { throw Failure("\(command): \(r.stderr)") }
        return image
    }

    @Test("a clean journalled ext4 is quiesced; with needs_recovery set it is live")
    func journalled() throws {
        let tmp = TempDir("bdsb")
        guard let image = try Self.mkfs(tmp, "j.img", "mkfs.ext4 -q -F") else { return }
        var sb = try Self.superblock(image)
        #expect(Ext4Journal.state(superblock: sb) == .quiesced, "a freshly made (unmounted) ext4 has a clean journal")
        sb[0x60] |= 0x4  // EXT4_FEATURE_INCOMPAT_RECOVER, as the kernel keeps it while mounted
        #expect(Ext4Journal.state(superblock: sb) == .live)
        sb[0x5C] &= ~0x4  // without has_journal the flag means nothing
        #expect(Ext4Journal.state(superblock: sb) == .unknown)
    }

    @Test("ext4 without a journal, xfs, and short or empty blocks cannot tell")
    func cannotTell() throws {
        let tmp = TempDir("bdsb")
        if let image = try Self.mkfs(tmp, "nj.img", "mkfs.ext4 -q -F -O ^has_journal") {
            #expect(Ext4Journal.state(superblock: try Self.superblock(image)) == .unknown)
        }
        if let image = try Self.mkfs(tmp, "x.img", "mkfs.xfs -q -f") {
            #expect(Ext4Journal.state(superblock: try Self.superblock(image)) == .unknown)
        }
        #expect(Ext4Journal.state(superblock: [UInt8](repeating: 0, count: 1024)) == .unknown)
        #expect(Ext4Journal.state(superblock: [0x53, 0xEF]) == .unknown)
    }
}
