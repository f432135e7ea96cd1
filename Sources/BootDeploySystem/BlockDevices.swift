import CBlkid
import Glibc

/// What libblkid reports about a block device: filesystem UUID and label, partition type GUID.
public struct BlockDeviceInfo: Sendable, Equatable {
    public var device: String
    public var values: [String: String]

    public var uuid: String? { values["UUID"] }
    public var label: String? { values["LABEL"] }
    public var type: String? { values["TYPE"] }
    /// GPT partition type GUID, lower case.
    public var partitionType: String? { values["PART_ENTRY_TYPE"]?.lowercased() }
    public var partitionUUID: String? { values["PART_ENTRY_UUID"]?.lowercased() }
}

/// Partition type GUIDs from the Discoverable Partitions Specification.
public enum PartitionType {
    public static let esp = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    public static let xbootldr = "bc13c2ff-59e6-4262-a352-b275fd6f7172"
}

public enum BlockDevices {
    /// Probes `device` (superblock and partition entry) with libblkid's safe probe.
    public static func probe(_ device: String) throws(SystemError) -> BlockDeviceInfo {
        guard let pr = blkid_new_probe_from_filename(device) else {
            throw SystemError("blkid_new_probe_from_filename", device, .init(rawValue: Glibc.errno == 0 ? EINVAL : Glibc.errno))
        }
        defer { blkid_free_probe(pr) }
        blkid_probe_enable_superblocks(pr, 1)
        blkid_probe_set_superblocks_flags(pr, Int32(BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE))
        blkid_probe_enable_partitions(pr, 1)
        blkid_probe_set_partitions_flags(pr, Int32(BLKID_PARTS_ENTRY_DETAILS))
        let rc = blkid_do_safeprobe(pr)
        if rc < 0 { throw SystemError("blkid_do_safeprobe", device, .init(rawValue: EIO)) }
        var values: [String: String] = [:]
        let n = blkid_probe_numof_values(pr)
        if n > 0 {
            for i in 0..<n {
                var name: UnsafePointer<CChar>?
                var data: UnsafePointer<CChar>?
                var len = 0
                if blkid_probe_get_value(pr, i, &name, &data, &len) == 0, let name, let data {
                    values[String(cString: name)] = String(cString: data)
                }
            }
        }
        return BlockDeviceInfo(device: device, values: values)
    }

    /// The device node behind a device number, as the kernel names it under /dev.
    public static func deviceNode(major: UInt32, minor: UInt32) -> String? {
        guard let p = blkid_devno_to_devname(dev_t(gnuDevMake(major, minor))) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

/// glibc's makedev() is a macro; this is its bit layout.
@inline(__always)
func gnuDevMake(_ major: UInt32, _ minor: UInt32) -> UInt64 {
    let ma = UInt64(major), mi = UInt64(minor)
    return ((ma & 0xfffff000) << 32) | ((ma & 0x0000_0fff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0x0000_00ff)
}

/// The major/minor halves of a dev_t, as glibc's major()/minor() macros compute them.
public func deviceNumberParts(_ dev: UInt64) -> (major: UInt32, minor: UInt32) {
    let major = ((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0x0000_0fff)
    let minor = ((dev >> 12) & 0xffffff00) | (dev & 0x0000_00ff)
    return (UInt32(major), UInt32(minor))
}
