import BootDeploySystem
import Glibc

/// The three-way walk of an /etc merge: old vendor defaults, old live /etc, new vendor defaults,
/// read side by side one directory level at a time and written into the staging directory.
///
/// The rule at every path: if the old live entry differs from the old vendor entry (a local
/// change, including an addition or a removal) the old live entry is the result; otherwise the new
/// vendor entry is. Directories are never taken wholesale: the result's directory gets the chosen
/// side's attributes and its children are merged by the same rule, so a vendor file added inside a
/// directory the administrator created or changed still appears. docs/ETC-MERGE.md has the table.
struct EtcMergeWalk {
    var report = EtcMergeReport(localChanges: [], warnings: [], filesWritten: 0)
    /// The deepest directory level of /etc the merge walks into.
    static let maxDepth = 256

    /// One relative directory opened in each tree; nil where that tree has no directory there.
    struct Sources {
        var oldVendor: Directory?
        var oldLive: Directory?
        var newVendor: Directory?
    }

    /// Merges the children of one directory into `out`; returns how many entries it wrote below.
    mutating func mergeChildren(_ relative: String, _ src: Sources, into out: Directory) throws -> Int {
        // The walk recurses, four descriptors and a few stack frames a level: bounded, so that a
        // hostile /etc fails with a message instead of overflowing the stack.
        if relative.utf8.count(where: { $0 == UInt8(ascii: "/") }) + 1 >= Self.maxDepth {
            throw EtcMergeError.unsupportedName(path: Self.display(relative),
                                                what: "nested deeper than \(Self.maxDepth) directories; an /etc this deep is not merged")
        }
        var all: [FileName] = []
        for dir in [src.oldVendor, src.oldLive, src.newVendor] {
            if let dir { all += try EtcMergeNode.names(in: dir) }
        }
        let names = Set(all).sorted()
        var written = 0
        for name in names {
            written += try mergeEntry(name, relative.isEmpty ? name.text : relative + "/" + name.text, src, into: out)
        }
        return written
    }

    private mutating func mergeEntry(_ name: FileName, _ path: String, _ src: Sources, into out: Directory) throws -> Int {
        let ov = try src.oldVendor.flatMap { try EtcMergeNode.read(name, in: $0) }
        let ol = try src.oldLive.flatMap { try EtcMergeNode.read(name, in: $0) }
        let nv = try src.newVendor.flatMap { try EtcMergeNode.read(name, in: $0) }
        let shown = Self.display(path)

        if try differs(name, ov, src.oldVendor, ol, src.oldLive) {
            report.localChanges.append(path)
            let vendorChanged = try differs(name, ov, src.oldVendor, nv, src.newVendor)
            guard let ol, let live = src.oldLive else {
                if vendorChanged && nv != nil {
                    warn("\(shown) stays removed as the administrator removed it, although the new vendor defaults changed it")
                }
                return 0
            }
            if vendorChanged {
                warn(nv == nil
                     ? "\(shown) is kept with its local changes although the new vendor defaults no longer ship it"
                     : "\(shown) keeps its local changes; the new vendor default, which also changed, is not used")
            }
            return try place(ol, name, path, from: live, children: try childSources(name, src, ov, ol, nv), into: out)
        }

        // Not changed locally at this path. A directory the vendor removed or replaced may still
        // hold local changes further down; those win, so the directory stays for them.
        if let ol, ol.isDirectory, !(nv?.isDirectory ?? false) {
            let children = Sources(oldVendor: try src.oldVendor?.openDirectory(name),
                                   oldLive: try src.oldLive?.openDirectory(name), newVendor: nil)
            let written = try place(ol, name, path, from: src.oldLive!, children: children, into: out)
            if written > 1 {
                warn(nv == nil
                     ? "\(shown)/ is kept because it holds local changes, although the new vendor defaults no longer ship it"
                     : "\(shown)/ is kept because it holds local changes; the new vendor defaults replace it by a non-directory, which is not used")
                return written
            }
            try out.remove(name, directory: true, missingOK: false)
            report.filesWritten -= 1
        }
        guard let nv, let vendor = src.newVendor else { return 0 }
        return try place(nv, name, path, from: vendor, children: try childSources(name, src, ov, ol, nv), into: out)
    }

    /// Whether two entries of the same name differ: in presence, type, attributes or content.
    private func differs(_ name: FileName, _ a: EtcMergeNode?, _ dirA: Directory?, _ b: EtcMergeNode?, _ dirB: Directory?) throws -> Bool {
        guard let a, let b, let dirA, let dirB else { return (a == nil) != (b == nil) }
        if !a.sameAttributes(as: b) { return true }
        if a.isFile, try !sameContent(name, in: dirA, name, in: dirB) { return true }
        if a.isFile || a.isDirectory {
            return try Self.carriedAttributes(name, in: dirA) != Self.carriedAttributes(name, in: dirB)
        }
        return false
    }

    /// The extended attributes the merge compares and carries: all but `security.*`. SELinux
    /// labels, file capabilities and IMA data belong to the policy of the place a file lives in (a
    /// file under usr/etc is labelled differently from the same file in /etc), so comparing them
    /// would make every file a local change and copying them would label the result wrongly.
    /// POSIX ACLs (`system.posix_acl_*`) and `user.*`/`trusted.*` attributes are carried.
    /// Symlinks carry none: there is no fd-based way to reach a symlink's own attributes.
    static func carriedAttributes(_ name: FileName, in dir: Directory) throws -> [ExtendedAttribute] {
        try dir.extendedAttributes(name).filter { !$0.name.hasPrefix("security.") }
    }

    /// Copies the carried extended attributes of `name` in `from` to `name` in `out`. Done before
    /// chmod: the kernel keeps an access ACL and the mode's group bits in step, and the source's
    /// mode already agrees with its ACL, so the final chmod leaves the ACL as it was.
    static func copyAttributes(_ name: FileName, from: Directory, to target: FileName, in out: Directory) throws {
        for attribute in try carriedAttributes(name, in: from) {
            try out.setExtendedAttribute(target, attribute)
        }
    }

    /// The subdirectory `name` in every tree where it is a directory.
    private func childSources(_ name: FileName, _ src: Sources, _ ov: EtcMergeNode?, _ ol: EtcMergeNode?, _ nv: EtcMergeNode?) throws -> Sources {
        func open(_ dir: Directory?, _ node: EtcMergeNode?) throws -> Directory? {
            guard let dir, node?.isDirectory == true else { return nil }
            return try dir.openDirectory(name, noFollow: true)
        }
        return Sources(oldVendor: try open(src.oldVendor, ov), oldLive: try open(src.oldLive, ol),
                       newVendor: try open(src.newVendor, nv))
    }

    /// Writes `node` (found as `name` in `from`) into `out`; returns the number of entries written,
    /// the node itself included. Metadata (extended attributes, owner, mode, mtime) is applied after
    /// the content and, for a directory, after
    /// its children, so that the times survive and a read-only directory does not block its own
    /// filling. New entries start at 0700/0600 so that nothing is readable more widely than the
    /// final mode allows, even before ownership and mode are set.
    private mutating func place(_ node: EtcMergeNode, _ name: FileName, _ path: String, from: Directory,
                                children: Sources, into out: Directory) throws -> Int {
        switch node.kind {
        case .special(let what):
            warn("\(Self.display(path)) is skipped: it is a \(what), and special files are not carried into /etc")
            return 0
        case .file:
            try out.copyFile(name, from: from, to: name, mode: 0o600, sync: false)
            try Self.copyAttributes(name, from: from, to: name, in: out)
            try out.setMetadata(name, uid: node.uid, gid: node.gid, mode: node.mode, mtime: node.mtime, isSymlink: false)
            report.filesWritten += 1
            return 1
        case .symlink(let target):
            try out.symlink(target: target, at: name)
            try out.setMetadata(name, uid: node.uid, gid: node.gid, mode: nil, mtime: node.mtime, isSymlink: true)
            report.filesWritten += 1
            return 1
        case .directory:
            try out.makeDirectory(name, mode: 0o700)
            report.filesWritten += 1
            let sub = try out.openDirectory(name, noFollow: true)
            let below = try mergeChildren(path, children, into: sub)
            // A default ACL set before the children were written would have been inherited by them.
            try Self.copyAttributes(name, from: from, to: name, in: out)
            try out.setMetadata(name, uid: node.uid, gid: node.gid, mode: node.mode, mtime: node.mtime, isSymlink: false)
            return below + 1
        }
    }

    mutating func warn(_ message: String) { report.warnings.append(message) }

    /// `/etc/<path>` for messages, with control characters escaped so that a name holding a
    /// newline cannot forge a second line of output.
    static func display(_ path: String) -> String {
        var out = "/etc"
        if !path.isEmpty && path != "." { out += "/" }
        for scalar in path.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" + hex : hex)
            } else if scalar == "\\" {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return path == "." ? "/etc" : out
    }
}
