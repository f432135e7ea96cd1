import CBootDeployShim
import Glibc
import SystemPackage

/// ext4's journal without a freeze: whether the filesystem is frozen, read from its superblock,
/// and a write-back of the journal into place (what a boot loader that does not replay the
/// journal needs) by EXT4_IOC_CHECKPOINT.
///
/// The superblock is read through the block device's page cache, which is where the mounted ext4
/// keeps its own superblock buffer: the flags read are the live ones, not the last ones written.
/// A journalled ext4 mounted read-write keeps `needs_recovery` set in its superblock at all times
/// except while it is frozen: the freeze writes the journal back, clears the flag and writes the
/// superblock, so that the frozen image is clean; the thaw sets it again.
public enum Ext4Journal {
    /// What the superblock says.
    public enum State: Sendable, Equatable {
        /// Journalled, `needs_recovery` set: mounted read-write and not frozen at this instant.
        case live
        /// Journalled, `needs_recovery` clear: frozen (or read-only, which no writer gets past).
        case quiesced
        /// Not readable, not ext4, or without a journal: the superblock cannot tell.
        case unknown
    }

    static let superblockOffset: off_t = 1024
    static let magic: UInt16 = 0xEF53
    static let compatHasJournal: UInt32 = 0x4
    static let incompatRecover: UInt32 = 0x4

    /// The state of the ext4 filesystem `dir` is on, from its device's superblock.
    public static func state(_ dir: Directory) -> State {
        let dev = dir.deviceNumber
        guard let node = deviceNode(dev) else { return .unknown }
        let fd = Glibc.open(node, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .unknown }
        defer { close(fd) }
        // The node must be the very device the filesystem is on (a container's /dev may differ).
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFBLK, UInt64(st.st_rdev) == dev else { return .unknown }
        var sb = [UInt8](repeating: 0, count: 1024)
        let n = sb.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, superblockOffset) }
        guard n == sb.count else { return .unknown }
        return state(superblock: sb)
    }

    /// The state a 1024-byte ext2/3/4 superblock describes.
    public static func state(superblock sb: [UInt8]) -> State {
        guard sb.count >= 0x64 else { return .unknown }
        func u16(_ at: Int) -> UInt16 { UInt16(sb[at]) | UInt16(sb[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        guard u16(0x38) == magic, u32(0x5C) & compatHasJournal != 0 else { return .unknown }
        return u32(0x60) & incompatRecover != 0 ? .live : .quiesced
    }

    /// `/dev/<name>` of a block device number, as sysfs names it.
    static func deviceNode(_ dev: UInt64) -> String? {
        let (major, minor) = deviceNumberParts(dev)
        if let d = try? Directory.open("/sys/dev/block/\(major):\(minor)"), let text = try? d.readText("uevent") {
            for line in text.split(separator: "\n") where line.hasPrefix("DEVNAME=") {
                let name = line.dropFirst("DEVNAME=".count)
                // (Sequence.contains, not StringProtocol.contains(String): that one links _StringProcessing.)
                if !name.isEmpty && !name.split(separator: "/").contains(where: { $0 == ".." }) { return "/dev/" + name }
            }
        }
        return BlockDevices.deviceNode(major: major, minor: minor)
    }
}

extension Directory {
    /// Writes ext4's journal back into place (EXT4_IOC_CHECKPOINT) after committing it: the
    /// metadata is then where a reader that ignores the journal looks. Data must already be
    /// written (`syncFilesystem` first). Returns false where the kernel has no such ioctl (before
    /// Linux 5.13) or refuses it to this caller; true without a journal (nothing to write back).
    /// Passes the fault seam as `checkpoint`.
    public func checkpointJournal() throws(SystemError) -> Bool {
        if let e = FaultInjection.gate("checkpoint", path) { throw SystemError("ioctl(EXT4_IOC_CHECKPOINT)", path, e) }
        switch retryingOnInterrupt({ bd_ext4_checkpoint(fd) }) {
        case .success: return true
        case .failure(let e):
            switch e {
            case .operationNotSupportedByDevice: return true
            case .inappropriateIOCTLForDevice, .invalidArgument, .notSupported, .notPermitted, .permissionDenied: return false
            default: throw SystemError("ioctl(EXT4_IOC_CHECKPOINT)", path, e)
            }
        }
    }
}
