import BootDeploySystem

/// Walks a path below a trusted root one component at a time, refusing symlinks.
///
/// The kernel follows symlinks in mount paths, and a deployment tree is data: a `var -> /` link in
/// a tree must not be able to make prepare-root bind over something outside the tree.
public enum PathCheck {
    /// Opens `relative` (components separated by `/`) below `base`; every component must be a
    /// real directory. `role` says what the path is for in the error ("target", "deployment"...).
    public static func openDirectory(_ relative: String, below base: String, role: String) throws(PrepareRootError) -> Directory {
        var cache: [String: Directory] = [:]
        return try openDirectory(relative, below: base, role: role, cache: &cache)
    }

    /// The same walk, starting from the deepest directory already checked: prepare-root checks
    /// a dozen paths that share their first five components, on every boot's critical path.
    /// `cache` maps absolute paths to directories verified by an earlier walk below the same base.
    public static func openDirectory(_ relative: String, below base: String, role: String,
                                     cache: inout [String: Directory]) throws(PrepareRootError) -> Directory {
        let components = relative.split(separator: "/").map(String.init)
        do {
            var start = 0
            var walked = base
            var dir: Directory?
            // Deepest cached prefix.
            var prefix = base
            for (i, c) in components.enumerated() {
                prefix = MountPlan.join(prefix, c)
                if let d = cache[prefix] { dir = d; start = i + 1; walked = prefix }
            }
            var current = try dir ?? cache[base] ?? Directory.open(base)
            cache[base] = cache[base] ?? current
            for name in components[start...] {
                walked = MountPlan.join(walked, name)
                switch try current.kind(name) {
                case .directory: current = try current.openDirectory(name, noFollow: true)
                case .missing: throw PrepareRootError("\(role) \(walked) does not exist")
                case .symlink: throw PrepareRootError("\(role) \(walked) is a symlink, refused")
                default: throw PrepareRootError("\(role) \(walked) is not a directory")
                }
                cache[walked] = current
            }
            return current
        } catch let e as PrepareRootError {
            throw e
        } catch {
            throw PrepareRootError("\(role) \(MountPlan.join(base, relative)): \(error)")
        }
    }
}
