import CBootDeployShim
import Glibc
import SystemPackage

/// Depth-first walks without recursion and with a constant number of open descriptors, so that a
/// tree of any depth (100,000 nested directories) neither overflows the stack nor runs out of file
/// descriptors. A walk goes down with `openat(name, O_NOFOLLOW)` and back up with `openat("..")`,
/// and checks that the directory it comes back to is the one it left (device and inode): a tree
/// changed under the walk is an error, never a walk elsewhere.
public struct DirectoryIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    public init(_ dir: Directory) throws(SystemError) {
        var st = stat()
        try retryingOnInterrupt { fstat(dir.fd, &st) }.get("fstat", dir.path)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

extension Directory {
    /// Whether `other` is on the same mount as this directory, where `link()` and `rename()`
    /// between them work: bind mounts of one filesystem share a device number, yet the kernel
    /// refuses both across them (EXDEV). Judged by mount id where the kernel tells it, else by device.
    public func isOnSameMount(as other: Directory) -> Bool {
        let a = bd_mount_id(fd), b = bd_mount_id(other.fd)
        if a >= 0 && b >= 0 { return a == b }
        return deviceNumber == other.deviceNumber
    }

    /// This directory and every directory above it up to its root (`..` crosses mount points),
    /// nearest first.
    public func ancestry() throws(SystemError) -> [DirectoryIdentity] {
        var out = [try DirectoryIdentity(self)]
        var current = self
        while out.count < 4096 {
            let fd = try retryingOnInterrupt { openat(current.fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }.get("open", current.sub(".."))
            let parent = Directory(fd: fd, path: current.sub(".."))
            let id = try DirectoryIdentity(parent)
            if id == out.last { break }
            out.append(id)
            current = parent
        }
        return out
    }

    /// This directory and the directories above it within its own mount, nearest first: the walk
    /// stops at the mount's root, where `..` would lead into another filesystem or another view of
    /// the same one. A bind mount's root keeps the identity of the directory it shows, so the last
    /// element says where on its filesystem this directory really lies (the booted deployment's `/`
    /// is its deployment directory; a tree under `/sysroot` ends at the physical root).
    public func ancestryWithinMount() throws(SystemError) -> [DirectoryIdentity] {
        var out = [try DirectoryIdentity(self)]
        var current = self
        var mount = bd_mount_id(fd)
        while out.count < 4096 {
            let fd = try retryingOnInterrupt { openat(current.fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }.get("open", current.sub(".."))
            let parent = Directory(fd: fd, path: current.sub(".."))
            let id = try DirectoryIdentity(parent)
            if id == out.last { break }
            // Another mount: by its mount id where the kernel tells it (bind mounts of one
            // filesystem share a device), else by device.
            let parentMount = bd_mount_id(parent.fd)
            if mount >= 0 && parentMount >= 0 ? parentMount != mount : id.device != out.last!.device { break }
            mount = parentMount
            out.append(id)
            current = parent
        }
        return out
    }

    /// The child directory `name` for a walk. Deep below the walk's root the path is abbreviated
    /// (it is only for messages), so that a deep walk does not build ever longer strings.
    func walkDown(_ name: FileName, depth: Int, root: Directory) throws(SystemError) -> Directory {
        let fd = try name.withCString { p in retryingOnInterrupt { openat(self.fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) } }.get("open", sub(name))
        return Directory(fd: fd, path: depth < 64 ? sub(name) : root.sub("…(\(depth) levels down)…/\(name.text)"))
    }

    /// Back to the parent a walk came from, which must be `expected`.
    func walkUp(to expected: DirectoryIdentity, path: String) throws(SystemError) -> Directory {
        let fd = try retryingOnInterrupt { openat(self.fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }.get("open", sub(".."))
        let parent = Directory(fd: fd, path: path)
        if try DirectoryIdentity(parent) != expected {
            throw SystemError("open", sub("..") + " (the tree was moved during the walk)", .staleNFSFileHandle)
        }
        return parent
    }
}

extension Directory {
    /// Removes `name` and everything below it, never following symlinks, at any depth; names are
    /// bytes.
    public func removeTree(_ name: FileName) throws(SystemError) {
        switch try kind(name) {
        case .missing: return
        case .directory: break
        default: return try remove(name)
        }
        struct Frame { var parent: DirectoryIdentity; var parentPath: String; var name: FileName; var names: [FileName] }
        var stack: [Frame] = []
        var current = try walkDown(name, depth: 0, root: self)
        var names = try current.entryNames()
        var parentID = try DirectoryIdentity(self)
        var parentPath = path
        var here = name
        while true {
            if let child = names.popLast() {
                if try current.kind(child) == .directory {
                    stack.append(Frame(parent: parentID, parentPath: parentPath, name: here, names: names))
                    parentID = try DirectoryIdentity(current)
                    parentPath = current.path
                    let next = try current.walkDown(child, depth: stack.count, root: self)
                    current = next
                    names = try current.entryNames()
                    here = child
                } else {
                    try current.remove(child)
                }
                continue
            }
            // `current` is empty: remove it from its parent.
            let parent = stack.isEmpty ? self : try current.walkUp(to: parentID, path: parentPath)
            try parent.remove(here, directory: true)
            guard let f = stack.popLast() else { return }
            current = parent
            names = f.names
            here = f.name
            parentID = f.parent
            parentPath = f.parentPath
        }
    }
}

extension Directory {
    /// Opens the directory `rel` below this one as if this one were `/` (openat2 with
    /// RESOLVE_IN_ROOT): `..` and absolute symlinks stay inside. ENOSYS where the kernel has no
    /// openat2.
    public func openDirectoryInRoot(_ rel: String) throws(SystemError) -> Directory {
        let fd = try retryingOnInterrupt { bd_openat_in_root(self.fd, rel, O_RDONLY | O_DIRECTORY) }.get("openat2", sub(rel))
        return Directory(fd: fd, path: sub(rel))
    }
}
