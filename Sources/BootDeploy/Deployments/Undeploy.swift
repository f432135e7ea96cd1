import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// `undeploy`: the entry first, then the tree and record.
extension DeploymentManager {
    /// Removes a deployment: its entry, then its tree and record.
    public func undeploy(_ ref: String) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        let r = try resolve(ref, in: cur)
        if let b = try booted(), b.name == r.name { throw .refused("\(r.name) is the booted deployment; it cannot be removed") }
        if r.pinned { throw .refused("\(r.name) is pinned; 'boot-deploy unpin \(r.name)' first") }
        if try staged()?.name == r.name { throw .refused("\(r.name) is staged for finalize") }
        if cur.entries.ours(r.name) != nil {
            try commit(try cur.plan.removing(r.name), cur)
        }
        try removeDeployment(r)
        _ = try cleanupKernels(keeping: try current(forWriting: false))
    }

    func removeDeployment(_ r: DeploymentRecord) throws(BootDeployError) {
        let d = try sysroot.deployDir(r.stateroot)
        try sys { () throws(SystemError) in
            // Record last: a crash midway leaves a record whose tree is partly gone, which
            // cleanup finishes; an entry never names it any more.
            try d.removeTree(r.id)
            try d.remove(AttemptsFile.fileName(r.id))
            try d.remove("\(r.id).json")
            try d.sync()
        }
    }
}
