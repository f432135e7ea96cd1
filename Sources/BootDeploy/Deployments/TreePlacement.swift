import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// Placing an OS tree into the deployments directory: linked or copied, or moved (`--move`).
extension DeploymentManager {
    func placeTree(_ tree: Directory, path: String, into deployDir: Directory, id: String, move: Bool, stateroot: String) throws(BootDeployError) {
        let tmp = ".\(id).tmp"
        let sameFS = tree.deviceNumber == deployDir.deviceNumber && tree.isOnSameMount(as: deployDir)
        if move && !sameFS { throw .refused("--move needs the tree on the same mount as \(deployDir.path) (rename cannot cross mounts; on a booted system give the tree's path below the --sysroot, e.g. /sysroot/...)") }
        do {
            try sys { () throws(SystemError) in
                if move, let (parentPath, base) = splitParent(path) {
                    let parent = try Directory.open(parentPath)
                    try parent.rename(base, to: tmp, in: deployDir)
                } else {
                    try deployDir.makeDirectory(tmp)
                    let t = try deployDir.openDirectory(tmp)
                    var linker = TreeCopy(link: sameFS)
                    try linker.copyContents(of: tree, into: t, excluding: ["etc"])
                    // /etc is always a real copy: it is edited in place, and the tree it came
                    // from must not change with it.
                    if (try? tree.kind("etc")) == .directory {
                        try t.makeDirectory("etc")
                        var copier = TreeCopy(link: false)
                        try copier.copyContents(of: try tree.openDirectory("etc"), into: try t.openDirectory("etc"))
                        let st = try tree.status("etc")
                        try t.setMetadata("etc", uid: st.st_uid, gid: st.st_gid, mode: st.st_mode & 0o7777, mtime: st.st_mtim, isSymlink: false)
                    }
                    let st = try tree.status(".")
                    try deployDir.setMetadata(tmp, uid: st.st_uid, gid: st.st_gid, mode: st.st_mode & 0o7777, mtime: nil, isSymlink: false)
                }
                let t = try deployDir.openDirectory(tmp)
                // Mount points of the layout, and the pristine vendor /etc for the three-way merge.
                try t.makeDirectory("sysroot")
                try t.makeDirectory("var")
                // A tree that ships only usr/etc (ostree's layout) gets its live /etc from it.
                if (try? t.kind("etc")) == .missing, (try? t.kind("usr/etc")) == .directory {
                    try t.makeDirectory("etc")
                    var copier = TreeCopy(link: false)
                    try copier.copyContents(of: try t.openDirectory("usr/etc"), into: try t.openDirectory("etc"))
                }
                if (try? t.kind("usr/etc")) == .missing, (try? t.kind("etc")) == .directory {
                    try t.makeDirectory("usr/etc")
                    var copier = TreeCopy(link: false)
                    try copier.copyContents(of: try t.openDirectory("etc"), into: try t.openDirectory("usr/etc"))
                }
                // The first deployment of a stateroot seeds its shared /var from the tree.
                let base = try Directory.open(deployDir.path + "/..")
                let varDir = try base.openDirectory("var")
                if try varDir.entries().isEmpty, (try? t.kind("var")) == .directory {
                    var copier = TreeCopy(link: false)
                    try copier.copyContents(of: try t.openDirectory("var"), into: varDir)
                }
                try t.syncFilesystem()
                try deployDir.rename(tmp, to: id)
                try deployDir.sync()
            }
        } catch {
            try? sys { () throws(SystemError) in
                if move, let (parent, base) = splitParent(path), deployDir.exists(tmp) {
                    try deployDir.rename(tmp, to: base, in: try Directory.open(parent))
                } else {
                    try deployDir.removeTree(tmp)
                }
            }
            throw error
        }
    }

    /// The parent directory and last component of a path (`a/b/` -> (`a`, `b`)).
    func splitParent(_ path: String) -> (String, String)? {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard !trimmed.isEmpty, trimmed != "/" else { return nil }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", trimmed) }
        let parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        return (parent, String(trimmed[trimmed.index(after: slash)...]))
    }
}
