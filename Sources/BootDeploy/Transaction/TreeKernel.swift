import BootDeploySystem
import Glibc
import SystemPackage

/// Reading a tree's boot artifacts without ever leaving the tree: `usr/lib/modules/<kver>` is
/// opened with openat2(RESOLVE_IN_ROOT), so a `usr` or `modules` symlink that points at the host
/// (`/usr`, `../../..`) resolves inside the tree as it would after boot, never to the host's
/// files. On a kernel without openat2 every component is opened with O_NOFOLLOW and a symlink is
/// refused. The artifact files themselves must be regular files; anything else is named.
enum TreeKernel {
    /// Opens a directory below `tree`, resolved as if `tree` were `/`. nil when it does not exist.
    static func openInTree(_ tree: Directory, _ rel: String, treePath: String) throws(BootDeployError) -> Directory? {
        let shown = "\(treePath)/\(rel)"
        do {
            return try tree.openDirectoryInRoot(rel)
        } catch {
            switch error.errno {
            case .noSuchFileOrDirectory: return nil
            case .noFunction: break
            case .tooManySymbolicLinkLevels:
                throw .badInput(file: shown, line: 0, message: "a symlink loop inside the tree (such as usr -> /usr)")
            case .notDirectory:
                throw .badInput(file: shown, line: 0, message: "a component is not a directory")
            default:
                throw .system(error)
            }
        }
        // No openat2: component by component, refusing symlinks.
        var dir = tree
        var walked = treePath
        for part in rel.split(separator: "/").map(String.init) {
            walked += "/" + part
            switch try sys({ () throws(SystemError) in try dir.kind(part) }) {
            case .missing: return nil
            case .directory: dir = try sys { () throws(SystemError) in try dir.openDirectory(part, noFollow: true) }
            case .symlink: throw .badInput(file: walked, line: 0, message: "is a symlink; this kernel has no openat2 to resolve it inside the tree, so it is not followed")
            default: throw .badInput(file: walked, line: 0, message: "is not a directory")
            }
        }
        return dir
    }

    /// What `name` in `dir` is, in words, when it is not a regular file; nil for a regular file
    /// or a missing one.
    static func notAFile(_ name: String, in dir: Directory) throws(BootDeployError) -> String? {
        guard dir.exists(name) else { return nil }
        let st = try sys { () throws(SystemError) in try dir.status(name) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFLNK:
            let target = (try? dir.readLink(name)) ?? "?"
            return "a symlink (to \(target)), not a regular file; symlinks are not followed"
        case S_IFDIR: return "a directory, not a regular file"
        case S_IFIFO: return "a FIFO, not a regular file"
        case S_IFCHR, S_IFBLK: return "a device node, not a regular file"
        case S_IFSOCK: return "a socket, not a regular file"
        default: return "not a regular file"
        }
    }
}

