import BootDeploySystem
import Glibc

/// What an /etc merge found and did, for the updater to show and log.
public struct EtcMergeReport: Sendable {
    /// Paths relative to /etc (for example `ssh/sshd_config`, or `.` for /etc itself) where the old
    /// live /etc differs from the old vendor defaults: changed, added or removed by the
    /// administrator. Raw names, bytewise sorted within each directory, parents before children.
    public var localChanges: [String]
    /// Human-readable notes, one per line-free string: skipped special files, local changes that
    /// override a vendor change of the same path, unusual inputs (a missing tree).
    public var warnings: [String]
    /// Entries created below the new /etc: regular files, symlinks and directories (not /etc itself).
    public var filesWritten: Int

    public init(localChanges: [String], warnings: [String], filesWritten: Int) {
        self.localChanges = localChanges
        self.warnings = warnings
        self.filesWritten = filesWritten
    }
}

/// Why an /etc merge refused to run or stopped (system call failures come as `SystemError`).
public enum EtcMergeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A path argument is not absolute, or names `/` itself as the target.
    case badPath(String)
    /// The target exists and is not an empty directory: a merge never overwrites a live /etc.
    case targetExists(String)
    /// A name the merge cannot reproduce exactly (none today: names and link targets are bytes).
    case unsupportedName(path: String, what: String)

    public var description: String {
        switch self {
        case .badPath(let p): "etc merge: \(p): not an absolute path to an /etc below a deployment"
        case .targetExists(let p): "etc merge: \(p): already exists and is not an empty directory; refusing to overwrite it"
        case .unsupportedName(let p, let what): "etc merge: \(p): \(what)"
        }
    }
}

/// Builds a new deployment's /etc from its vendor defaults and the administrator's changes to the
/// current deployment's /etc: a three-way merge, with local changes winning.
///
/// Convention: a deployment's pristine vendor defaults are its `usr/etc`, its live configuration
/// is its `etc`. The result is built in `<target>.merging` next to the target, flushed with one
/// `syncfs`, and renamed into place, so that a crash never leaves a partial /etc where the new
/// deployment would boot with it. docs/ETC-MERGE.md states every rule and corner case.
public enum EtcMerge {
    /// Suffix of the staging directory beside the target; a leftover one is from a crashed merge.
    public static let stagingSuffix = ".merging"

    /// All paths absolute. Fails with an error naming the path on any I/O error; the target is left
    /// untouched (no etc/ created) on failure.
    public static func merge(oldVendor: String, oldLive: String, newVendor: String, into newLive: String) throws -> EtcMergeReport {
        for p in [oldVendor, oldLive, newVendor, newLive] where !p.hasPrefix("/") {
            throw EtcMergeError.badPath(p)
        }
        let (parentPath, base) = try split(newLive)
        let parent = try Directory.open(parentPath)
        let staging = base + stagingSuffix

        // The target may be absent or an empty directory (an image may ship an empty /etc as a
        // mount point); rename(2) replaces an empty directory atomically.
        var emptyTargetMode: mode_t?
        switch try parent.kind(base) {
        case .missing: break
        case .directory:
            let dir = try parent.openDirectory(base, noFollow: true)
            if !(try dir.entries().isEmpty) { throw EtcMergeError.targetExists(newLive) }
            emptyTargetMode = try parent.status(base).st_mode & 0o7777
        default: throw EtcMergeError.targetExists(newLive)
        }

        var walk = EtcMergeWalk()
        let vendorOld = try openTree(oldVendor)
        var live = try openTree(oldLive)
        let vendorNew = try openTree(newVendor)
        if live == nil {
            // Nothing was ever configured: the current deployment ran on its defaults.
            live = vendorOld
            walk.warn("\(oldLive) does not exist: no local changes to carry over")
        } else if let live, try live.entries().isEmpty, let vendorOld, !(try vendorOld.entries().isEmpty) {
            walk.warn("\(live.path) is empty: every vendor default of the current deployment counts as removed by the administrator")
        }
        if vendorOld == nil {
            walk.warn("\(oldVendor) does not exist: every entry of \(oldLive) counts as a local change")
        }
        if vendorNew == nil {
            walk.warn("\(newVendor) does not exist: the new /etc holds only the local changes")
        }

        // A leftover from a merge that crashed is ours and holds nothing of value.
        try parent.removeTree(staging)
        try parent.makeDirectory(staging, mode: 0o700)
        do {
            let out = try parent.openDirectory(staging, noFollow: true)
            try walk.mergeRoot(vendorOld, live, vendorNew, into: out, staging: staging, in: parent)
            // One flush for the whole tree instead of one per file; it must precede the rename so
            // that the name `etc` never points at content that is not on disk yet.
            try out.syncFilesystem()
            try parent.rename(staging, to: base)
        } catch {
            try? parent.removeTree(staging)
            throw error
        }
        do {
            try parent.sync()
        } catch {
            // Keep the promise that a failed merge leaves no /etc: take it back out of place.
            if (try? parent.rename(base, to: staging)) != nil {
                try? parent.removeTree(staging)
                if let emptyTargetMode { try? parent.makeDirectory(base, mode: emptyTargetMode) }
            }
            throw error
        }
        return walk.report
    }

    /// The same merge by the deployment convention: `<current>/usr/etc`, `<current>/etc` and
    /// `<new>/usr/etc` into `<new>/etc`. Both paths absolute (deployment roots).
    public static func merge(currentDeployment current: String, newDeployment new: String) throws -> EtcMergeReport {
        func join(_ root: String, _ rel: String) -> String { root.hasSuffix("/") ? root + rel : root + "/" + rel }
        return try merge(oldVendor: join(current, "usr/etc"), oldLive: join(current, "etc"),
                         newVendor: join(new, "usr/etc"), into: join(new, "etc"))
    }

    /// Opens one input tree; nil when it does not exist. A symlink in place of the tree is refused:
    /// following it would merge some other directory.
    static func openTree(_ path: String) throws -> Directory? {
        do {
            return try Directory.open(path, noFollow: true)
        } catch {
            if error.errno.rawValue == ENOENT { return nil }
            throw error
        }
    }

    static func split(_ path: String) throws -> (parent: String, base: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { throw EtcMergeError.badPath(path) }
        let base = String(trimmed[trimmed.index(after: slash)...])
        let parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        if base.isEmpty || base == "." || base == ".." { throw EtcMergeError.badPath(path) }
        return (parent, base)
    }
}

extension EtcMergeWalk {
    /// Merges the trees' roots: /etc's own attributes follow the same rule as any directory, then
    /// its children are merged. The staging directory gets the final attributes last.
    mutating func mergeRoot(_ oldVendor: Directory?, _ oldLive: Directory?, _ newVendor: Directory?,
                            into out: Directory, staging: String, in parent: Directory) throws {
        let dot = FileName(".")
        let ov = try oldVendor.flatMap { try EtcMergeNode.read(dot, in: $0) }
        let ol = try oldLive.flatMap { try EtcMergeNode.read(dot, in: $0) }
        let nv = try newVendor.flatMap { try EtcMergeNode.read(dot, in: $0) }
        var attributes = nv ?? ol
        var attributesFrom = nv != nil ? newVendor : oldLive
        if let ov, let ol, let oldVendor, let oldLive,
           try !ov.sameAttributes(as: ol) || Self.carriedAttributes(dot, in: oldVendor) != Self.carriedAttributes(dot, in: oldLive) {
            report.localChanges.append(".")
            attributes = ol
            attributesFrom = oldLive
        }
        _ = try mergeChildren("", Sources(oldVendor: oldVendor, oldLive: oldLive, newVendor: newVendor), into: out)
        if let attributesFrom { try Self.copyAttributes(dot, from: attributesFrom, to: FileName(staging), in: parent) }
        if let a = attributes {
            try parent.setMetadata(staging, uid: a.uid, gid: a.gid, mode: a.mode, mtime: a.mtime, isSymlink: false)
        } else {
            try parent.setMetadata(staging, uid: geteuid(), gid: getegid(), mode: 0o755, mtime: nil, isSymlink: false)
        }
    }
}
