import BootDeploySystem

/// Finds the boot partition the way bootctl does when `--boot` is not given: the XBOOTLDR
/// partition if one is mounted, else the ESP, else a plain `/boot` directory. Partitions are
/// recognised by their GPT type GUID (libblkid) and located in the mount table (libmount).
public enum BootLocator {
    public struct Found: Sendable, Equatable {
        public var path: String
        public var kind: Kind
    }

    /// What kind of place /boot was found to be.
    public enum Kind: String, Sendable {
        case xbootldr, esp, directory
    }

    /// The mount points bootctl looks at, in its order.
    static let candidates = ["/efi", "/boot", "/boot/efi"]

    public static func locate(root: String = "/", mountinfo: String = "/proc/self/mountinfo") throws(BootDeployError) -> Found {
        let table = (try? MountTable.current(path: mountinfo)) ?? []
        let prefix = root == "/" ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root)
        let found = choose(mounts: table, prefix: prefix, partitionType: { (try? BlockDevices.probe($0))?.partitionType },
                           directoryExists: { (try? Directory.open($0)) != nil })
        guard let found else {
            throw .notFound("no boot partition found: no XBOOTLDR or ESP mounted at /efi, /boot or /boot/efi, and no \(prefix)/boot directory; pass --boot DIR")
        }
        return found
    }

    /// The choice itself, given the mount table and a way to read a device's partition type.
    static func choose(mounts table: [MountEntry], prefix: String, partitionType: (String) -> String?,
                       directoryExists: (String) -> Bool) -> Found? {
        var esp: String?
        for c in candidates {
            let target = prefix + c
            // The last mount on a target is the visible one.
            guard let m = table.last(where: { $0.target == target }), m.source.hasPrefix("/dev/") else { continue }
            let type = partitionType(m.source)
            if type == PartitionType.xbootldr { return Found(path: target, kind: .xbootldr) }
            if type == PartitionType.esp && esp == nil { esp = target }
        }
        if let esp { return Found(path: esp, kind: .esp) }
        let boot = prefix + "/boot"
        return directoryExists(boot) ? Found(path: boot, kind: .directory) : nil
    }
}
