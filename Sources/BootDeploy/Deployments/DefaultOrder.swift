import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// `rollback`, `set-default` and health's demotion: verbs that only reorder the plan.
extension DeploymentManager {
    /// The previous deployment becomes the default; the current one stays, second.
    public func rollback() throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        try commit(try cur.plan.rollingBack(), cur)
    }

    public func setDefault(_ ref: String) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        let r = try resolve(ref, in: cur)
        try commit(try cur.plan.settingDefault(r.name), cur)
    }

    /// Marks a deployment bad and moves it behind every other entry (health's rollback).
    public func demote(_ deployment: DeploymentName) throws(BootDeployError) {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        try commit(try cur.plan.demoting(deployment), cur)
    }
}
