import BootDeploySystem

/// Walks a path below a trusted root one component at a time, refusing symlinks.
///
/// The kernel follows symlinks in mount paths, and a deployment tree is data: a `var -> /` link in
/// a tree must not be able to make prepare-root bind over something outside the tree.
public enum PathCheck {
    /// Opens `relative` (components separated by `/`) below `base`; every component must be a
    /// real directory. `role` says what the path is for in the error ("target", "deployment"...).
    public static func openDirectory(_ relative: String, below base: String, role: String) throws(PrepareRootError) -> Directory {
        do {
            var dir = try Directory.open(base)
            var walked = base
            for c in relative.split(separator: "/") {
                let name = String(c)
                walked = MountPlan.join(walked, name)
                switch try dir.kind(name) {
                case .directory: dir = try dir.openDirectory(name, noFollow: true)
                case .missing: throw PrepareRootError("\(role) \(walked) does not exist")
                case .symlink: throw PrepareRootError("\(role) \(walked) is a symlink, refused")
                default: throw PrepareRootError("\(role) \(walked) is not a directory")
                }
            }
            return dir
        } catch let e as PrepareRootError {
            throw e
        } catch {
            throw PrepareRootError("\(role) \(MountPlan.join(base, relative)): \(error)")
        }
    }
}
