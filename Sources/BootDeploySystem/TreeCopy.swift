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

    /// Copies the content of `source` into `target` (which must exist and be empty). The walk is
    /// iterative and keeps four descriptors open whatever the depth (TreeWalk.swift).
    public mutating func copyContents(of source: Directory, into target: Directory, relative: String = "",
                                      excluding: Set<String> = []) throws(SystemError) {
        /// A directory being copied: where to come back to, and what is left to copy there.
        struct Frame {
            var sourceParent: DirectoryIdentity, targetParent: DirectoryIdentity
            var sourcePath: String, targetPath: String
            var name: FileName, st: stat, names: [FileName]
        }
        var stack: [Frame] = []
        var src = source, tgt = target
        var names = Array(try source.entryNames().filter { !excluding.contains($0.text) }.reversed())
        func rel(_ name: FileName) -> String {
            (([relative] + stack.map(\.name.text)).filter { !$0.isEmpty } + [name.text]).joined(separator: "/")
        }
        while true {
            guard let name = names.popLast() else {
                guard let f = stack.popLast() else { return }
                let s = try src.walkUp(to: f.sourceParent, path: f.sourcePath)
                let t = try tgt.walkUp(to: f.targetParent, path: f.targetPath)
                try applyMetadata(f.st, f.name, in: t, isLink: false)
                src = s
                tgt = t
                names = f.names
                continue
            }
            let st = try src.status(name)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try tgt.makeDirectory(name, mode: st.st_mode & 0o7777)
                let s = try src.walkDown(name, depth: stack.count + 1, root: source)
                let t = try tgt.walkDown(name, depth: stack.count + 1, root: target)
                stack.append(Frame(sourceParent: try DirectoryIdentity(src), targetParent: try DirectoryIdentity(tgt),
                                   sourcePath: src.path, targetPath: tgt.path, name: name, st: st, names: names))
                src = s
                tgt = t
                names = Array(try s.entryNames().reversed())
            case S_IFREG:
                if link {
                    try src.link(name, to: name, in: tgt)
                } else {
                    try tgt.copyFile(name, from: src, to: name, mode: st.st_mode & 0o7777, sync: false)
                    try applyMetadata(st, name, in: tgt, isLink: false)
                }
                files += 1
            case S_IFLNK:
                try tgt.symlink(target: try src.readLinkTarget(name), at: name)
                try applyMetadata(st, name, in: tgt, isLink: true)
            case S_IFCHR, S_IFBLK, S_IFIFO:
                try tgt.makeNode(name, mode: st.st_mode, device: st.st_rdev)
                try applyMetadata(st, name, in: tgt, isLink: false)
            default:
                skipped.append("\(rel(name)): socket or unknown file type")
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
