import Glibc
import SystemPackage

/// Copies a directory tree into a new directory, never following symlinks: regular files are
/// hard-linked (same filesystem, `link: true`) or copied, directories recreated, symlinks, device
/// nodes and fifos reproduced; mode, ownership and modification times are kept. Sockets are skipped
/// (they are meaningless in an OS tree at rest).
public struct TreeCopy {
    public var link: Bool
    /// Paths (relative to the source) of entries that were skipped, with the reason.
    public private(set) var skipped: [String] = []
    public private(set) var files = 0

    public init(link: Bool) { self.link = link }

    /// Copies the content of `source` into `target` (which must exist and be empty).
    public mutating func copyContents(of source: Directory, into target: Directory, relative: String = "",
                                      excluding: Set<String> = []) throws(SystemError) {
        for name in try source.entryNames() where !excluding.contains(name.text) {
            let rel = relative.isEmpty ? name.text : relative + "/" + name.text
            let st = try source.status(name)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try target.makeDirectory(name, mode: st.st_mode & 0o7777)
                let s = try source.openDirectory(name)
                let t = try target.openDirectory(name)
                try copyContents(of: s, into: t, relative: rel)
                try applyMetadata(st, name, in: target, isLink: false)
            case S_IFREG:
                if link {
                    try source.link(name, to: name, in: target)
                } else {
                    try target.copyFile(name, from: source, to: name, mode: st.st_mode & 0o7777, sync: false)
                    try applyMetadata(st, name, in: target, isLink: false)
                }
                files += 1
            case S_IFLNK:
                try target.symlink(target: try source.readLinkTarget(name), at: name)
                try applyMetadata(st, name, in: target, isLink: true)
            case S_IFCHR, S_IFBLK, S_IFIFO:
                try target.makeNode(name, mode: st.st_mode, device: st.st_rdev)
                try applyMetadata(st, name, in: target, isLink: false)
            default:
                skipped.append("\(rel): socket or unknown file type")
            }
        }
    }

    private func applyMetadata(_ st: stat, _ name: FileName, in dir: Directory, isLink: Bool) throws(SystemError) {
        try dir.setMetadata(name, uid: st.st_uid, gid: st.st_gid, mode: isLink ? nil : st.st_mode & 0o7777,
                            mtime: st.st_mtim, isSymlink: isLink)
    }
}

extension Directory {
    /// Sets owner, permission bits and modification time of `name` (not following symlinks).
    public func setMetadata(_ name: String, uid: uid_t, gid: gid_t, mode: mode_t?, mtime: timespec?, isSymlink: Bool) throws(SystemError) {
        try setMetadata(FileName(name), uid: uid, gid: gid, mode: mode, mtime: mtime, isSymlink: isSymlink)
    }

    /// The device number of the filesystem this directory is on.
    public var deviceNumber: UInt64 {
        var st = stat()
        fstat(fd, &st)
        return UInt64(st.st_dev)
    }
}
