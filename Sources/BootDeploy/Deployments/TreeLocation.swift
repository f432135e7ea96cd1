import BootDeploySystem

/// Where a `--tree` may come from. A tree that is the sysroot, holds it, or lies inside
/// `$SYSROOT/bootdeploy` (an existing deployment, even the booted one seen through its bind mount
/// at `/`, a stateroot's var, a kernel being written) is refused: copying it would recurse into
/// its own output, and `--move` would take a tree away from the deployment that boots from it.
extension DeploymentManager {
    func checkTreeLocation(_ tree: Directory, path: String) throws(BootDeployError) {
        let base = try sysroot.requireBase()
        let treeUp = try sys { () throws(SystemError) in try tree.ancestry() }
        let baseUp = try sys { () throws(SystemError) in try base.ancestry() }
        if let treeID = treeUp.first, baseUp.contains(treeID) {
            throw .refused("--tree \(path) is or holds \(base.path): deploying it would copy BootDeploy's own deployments into the new one; give the OS tree itself")
        }
        // The directories of BootDeploy's own tree, down to each deployment: bind mounts show a
        // deployment under another path (the booted one is `/`), with the same device and inode.
        var own: [DirectoryIdentity: String] = [:]
        if let id = baseUp.first { own[id] = base.path }
        for sr in try sysroot.stateroots() {
            try sys { () throws(SystemError) in
                let s = try base.openDirectory(sr)
                own[try DirectoryIdentity(s)] = s.path
                if try s.kind("var") == .directory {
                    let v = try s.openDirectory("var")
                    own[try DirectoryIdentity(v)] = v.path
                }
                let d = try s.openDirectory("deploy")
                own[try DirectoryIdentity(d)] = d.path
                for name in try d.entries() where try d.kind(name) == .directory {
                    let dep = try d.openDirectory(name)
                    own[try DirectoryIdentity(dep)] = dep.path
                }
            }
        }
        for id in treeUp {
            if let inside = own[id] {
                throw .refused("--tree \(path) is \(inside) or lies inside it: an existing deployment or BootDeploy's own state cannot be deployed again (with --move it would be taken from its deployment); copy it elsewhere first")
            }
        }
    }
}
