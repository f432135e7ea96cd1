import BootDeploySystem

/// Resolves paths inside an OS tree as they resolve when that tree is the root: symlinks are
/// followed, an absolute target starts again at the tree, and `..` never leaves it. An OS tree's
/// `/lib64/ld-linux-x86-64.so.2` is an absolute symlink that would otherwise lead to the host's.
struct TreeResolver {
    let tree: Directory
    let treePath: String
    static let maxLinks = 40

    /// The path relative to the tree of the file `path` names, or nil when it does not exist.
    /// Throws for a loop of symlinks or an unreadable directory.
    func resolveFile(_ path: String) throws(BootDeployError) -> String? {
        var done: [String] = []
        var todo = Array(path.split(separator: "/").map(String.init).reversed())
        var links = 0
        while let c = todo.popLast() {
            if c == "." || c.isEmpty { continue }
            if c == ".." { _ = done.popLast(); continue }
            let candidate = (done + [c]).joined(separator: "/")
            let kind: Directory.Kind
            do { kind = try tree.kind(candidate) } catch { throw .system(error) }
            switch kind {
            case .missing:
                return nil
            case .symlink:
                links += 1
                if links > TreeResolver.maxLinks {
                    throw .badInput(file: "\(treePath)/\(path)", line: 0, message: "too many levels of symbolic links")
                }
                let target = try sys { () throws(SystemError) in try tree.readLink(candidate) }
                if target.hasPrefix("/") { done = [] }
                todo += target.split(separator: "/").map(String.init).reversed()
            case .directory:
                done.append(c)
            case .file, .other:
                if !todo.isEmpty { return nil }
                done.append(c)
                return kind == .file ? done.joined(separator: "/") : nil
            }
        }
        return nil
    }

    /// The first of `dirs` (relative to the tree) that holds a file `name`, resolved.
    func findLibrary(_ name: String, in dirs: [String]) throws(BootDeployError) -> String? {
        for d in dirs {
            if let p = try resolveFile(d + "/" + name) { return p }
        }
        return nil
    }
}
