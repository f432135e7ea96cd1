import BootDeploySystem

/// Where a `--tree` may come from. Locations are judged by device and inode within the tree's own
/// mount (`ancestryWithinMount`), so a bind mount shows where a directory really lies: the booted
/// deployment is `/`, the stateroot's var is `/var`, and a tree under `/sysroot` lies in the
/// physical root, outside BootDeploy's tree, whatever the booted system's `/` is.
///
/// Refused: a tree that is or holds `$SYSROOT/bootdeploy` (the copy would recurse into its own
/// output), an existing deployment (with `--move` it would be taken from the deployment that boots
/// from it), anything else of BootDeploy's own state, and with `--move` anything inside a
/// deployment. Allowed: a tree inside a stateroot's var (where an updater on the running system
/// downloads), and a plain copy of a directory inside a deployment.
extension DeploymentManager {
    func checkTreeLocation(_ tree: Directory, path: String, move: Bool) throws(BootDeployError) {
        let base = try sysroot.requireBase()
        let treeUp = try sys { () throws(SystemError) in try tree.ancestryWithinMount() }
        let baseUp = try sys { () throws(SystemError) in try base.ancestryWithinMount() }
        if let treeID = treeUp.first, baseUp.contains(treeID) {
            throw .refused("--tree \(path) is or holds \(base.path): deploying it would copy BootDeploy's own deployments into the new one; give the OS tree itself")
        }
        enum Place { case state, deployment, stateVar }
        var own: [DirectoryIdentity: (Place, String)] = [:]
        if let id = baseUp.first { own[id] = (.state, base.path) }
        for sr in try sysroot.stateroots() {
            try sys { () throws(SystemError) in
                let s = try base.openDirectory(sr)
                own[try DirectoryIdentity(s)] = (.state, s.path)
                if try s.kind("var") == .directory {
                    let v = try s.openDirectory("var")
                    own[try DirectoryIdentity(v)] = (.stateVar, v.path)
                }
                let d = try s.openDirectory("deploy")
                own[try DirectoryIdentity(d)] = (.state, d.path)
                for name in try d.entries() where try d.kind(name) == .directory {
                    let dep = try d.openDirectory(name)
                    own[try DirectoryIdentity(dep)] = (.deployment, dep.path)
                }
            }
        }
        for (depth, id) in treeUp.enumerated() {
            guard let (place, where_) = own[id] else { continue }
            let itself = depth == 0
            switch place {
            case .stateVar where !itself:
                return
            case .deployment where !itself && !move:
                return
            case .deployment where !itself:
                throw .refused("--tree \(path) lies inside the deployment \(where_): --move would take it away from that deployment; deploy a copy (without --move)")
            case .deployment:
                throw .refused("--tree \(path) is the existing deployment \(where_) (the booted one is seen at /): it cannot be deployed again; copy it elsewhere first")
            case .state, .stateVar:
                throw .refused("--tree \(path) is \(where_) or lies inside it: BootDeploy's own state cannot be deployed; give the OS tree itself")
            }
        }
    }
}
