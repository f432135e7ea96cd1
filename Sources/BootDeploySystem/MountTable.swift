import CMount
import Glibc
import SystemPackage

/// How a mount passes mount and unmount events to and from other mounts (see mount_namespaces(7)).
public enum MountPropagation: String, Sendable, Equatable {
    case `private`, shared, slave, unbindable
}

/// One line of the mount table, as libmount reads it from `/proc/self/mountinfo`.
public struct MountEntry: Sendable, Equatable {
    /// The mounted device or, for pseudo filesystems, the name given at mount time.
    public var source: String
    /// Absolute mount point, as seen from the reading process's root.
    public var target: String
    public var fstype: String
    /// Per-mount and superblock options together, comma-separated (`rw,relatime,...`).
    public var options: String
    /// Whether writes through this mount are refused (per-mount `ro`, which a superblock `ro`
    /// implies for all of its mounts).
    public var readOnly: Bool
    /// The directory of the source filesystem this mount shows (`/` for a plain mount, the bound
    /// path for a bind mount): how a bind is told apart from a mount of the whole filesystem.
    public var root: String
    /// Kernel mount id and the id of the mount it sits on.
    public var id: Int
    public var parentID: Int
    public var propagation: MountPropagation

    public init(source: String, target: String, fstype: String, options: String, readOnly: Bool,
                root: String = "/", id: Int = 0, parentID: Int = 0, propagation: MountPropagation = .private) {
        self.source = source
        self.target = target
        self.fstype = fstype
        self.options = options
        self.readOnly = readOnly
        self.root = root
        self.id = id
        self.parentID = parentID
        self.propagation = propagation
    }
}

/// Read access to the mount table through libmount. Used by prepare-root (to undo what it did and to
/// know what is already mounted) and by the deployment code (to locate /boot and the ESP).
public enum MountTable {
    /// Every mount of the table at `path`, in the kernel's order (parents before children, later
    /// mounts over earlier ones at the same target).
    public static func current(path: String = "/proc/self/mountinfo") throws(SystemError) -> [MountEntry] {
        // libmount reports the parse errors of a line through a callback and skips the line; a
        // missing or unreadable file comes back as NULL with errno set.
        errno = 0
        guard let table = mnt_new_table_from_file(path) else {
            let e = Glibc.errno == 0 ? Errno.noSuchFileOrDirectory : Errno(rawValue: Glibc.errno)
            throw SystemError("mnt_new_table_from_file", path, e)
        }
        defer { mnt_unref_table(table) }
        guard let iter = mnt_new_iter(Int32(MNT_ITER_FORWARD)) else {
            throw SystemError("mnt_new_iter", path, .noMemory)
        }
        defer { mnt_free_iter(iter) }
        var out: [MountEntry] = []
        var fs: OpaquePointer?
        while mnt_table_next_fs(table, iter, &fs) == 0, let fs {
            out.append(entry(fs))
        }
        return out
    }

    /// The mount visible at `target`: the last one mounted there, which hides those below it.
    /// `target` is compared as given, after dropping a trailing `/`.
    public static func find(target: String, path: String = "/proc/self/mountinfo") throws(SystemError) -> MountEntry? {
        let want = normalized(target)
        return try current(path: path).last { $0.target == want }
    }

    /// The mount that holds `path`: the one with the longest target that is a prefix of `path` by
    /// whole components. This is how /boot's filesystem is found when /boot is not a mount point.
    public static func containing(_ path: String, in entries: [MountEntry]) -> MountEntry? {
        let want = normalized(path)
        var best: MountEntry?
        for e in entries where isPrefix(e.target, of: want) {
            if best == nil || e.target.utf8.count >= best!.target.utf8.count { best = e }
        }
        return best
    }

    static func isPrefix(_ dir: String, of path: String) -> Bool {
        if dir == "/" || dir == path { return true }
        return path.hasPrefix(dir + "/")
    }

    static func normalized(_ p: String) -> String {
        var s = p
        while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        return s
    }

    static func entry(_ fs: OpaquePointer) -> MountEntry {
        func str(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        let vfs = str(mnt_fs_get_vfs_options(fs))
        let superOpts = str(mnt_fs_get_fs_options(fs))
        var flags: UInt = 0
        var propagation = MountPropagation.private
        if mnt_fs_get_propagation(fs, &flags) == 0 {
            if flags & UInt(MS_SHARED) != 0 { propagation = .shared }
            else if flags & UInt(MS_SLAVE) != 0 { propagation = .slave }
            else if flags & UInt(MS_UNBINDABLE) != 0 { propagation = .unbindable }
        }
        let ro = vfs.split(separator: ",").contains("ro") || superOpts.split(separator: ",").contains("ro")
        return MountEntry(
            source: str(mnt_fs_get_source(fs)),
            target: str(mnt_fs_get_target(fs)),
            fstype: str(mnt_fs_get_fstype(fs)),
            options: str(mnt_fs_get_options(fs)),
            readOnly: ro,
            root: str(mnt_fs_get_root(fs)),
            id: Int(mnt_fs_get_id(fs)),
            parentID: Int(mnt_fs_get_parent_id(fs)),
            propagation: propagation)
    }
}
