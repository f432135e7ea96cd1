import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// `pin` / `unpin`: kept through cleanup.
extension DeploymentManager {
    public func setPinned(_ ref: String, _ pinned: Bool) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: false)
        var r = try resolve(ref, in: cur)
        r.pinned = pinned
        try sysroot.writeRecord(r)
    }
}
