import BootDeploySystem

/// Finds the boot partition the way bootctl does when `--boot` is not given: the XBOOTLDR
/// partition if one is mounted, else the ESP, else a plain `/boot` directory. Partitions are
/// recognised by their GPT type GUID (libblkid) and located in the mount table (libmount).
public enum BootLocator {
    public struct Found: Sendable, Equatable {
        public var path: String
        /// `xbootldr`, `esp` or `directory`.
        public var kind: String
    }

    /// The mount points bootctl looks at, in its order.
    static let candidates = ["/efi", "/boot", "/boot/efi"]

    public static func locate(root: String = "/", mountinfo: String = "/proc/self/mountinfo") throws(BootDeployError) -> Found {
        let table = (try? MountTable.current(path: mountinfo)) ?? []
        var esp: String?
        let prefix = root == "/" ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root)
        for c in candidates {
            let target = prefix + c
            guard let m = table.last(where: { $0.target == target }), m.source.hasPrefix("/dev/") else { continue }
            guard let info = try? BlockDevices.probe(m.source) else { continue }
            if info.partitionType == PartitionType.xbootldr { return Found(path: target, kind: "xbootldr") }
            if info.partitionType == PartitionType.esp && esp == nil { esp = target }
        }
        if let esp { return Found(path: esp, kind: "esp") }
        let boot = prefix + "/boot"
        if (try? Directory.open(boot)) != nil { return Found(path: boot, kind: "directory") }
        throw .notFound("no boot partition found: no XBOOTLDR or ESP mounted at /efi, /boot or /boot/efi, and no \(boot) directory; pass --boot DIR")
    }
}
