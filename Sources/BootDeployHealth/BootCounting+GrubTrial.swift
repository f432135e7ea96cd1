import BootDeploy

/// The GRUB backend's trial (docs/GRUB.md): the grubenv names the deployment GRUB counts down in
/// `bootdeploy_trial`, beside its Type #1 entry (which GRUB never renames). Blessing or marking
/// bad changes both: the grubenv first, so that GRUB stops counting (or falls back) even if the
/// entry rename after it does not happen; the next health run repeats the rename.
extension BootCounting {
    /// Blesses the booted deployment. Returns what was done, for the log.
    mutating func bless() throws -> String {
        let grub = try endGrubTrial(good: true)
        let did = try blessCounter()
        return grub.map { "\($0); \(did)" } ?? did
    }

    /// Marks the booted deployment bad. Returns what was done, for the log.
    mutating func markBad() throws -> String {
        let grub = try endGrubTrial(good: false)
        let did = try markBadCounter()
        return grub.map { "\($0); \(did)" } ?? did
    }

    /// Good: `boot_success=1`, no `boot_counter`, no trial. Bad: `boot_counter=0`,
    /// `boot_success=0` (GRUB boots the previous deployment). Nil when GRUB has no trial of ours.
    func endGrubTrial(good: Bool) throws -> String? {
        guard backend != .grubenv, let p = grubTrialPath else { return nil }
        var env = try readGrubenv(p)
        guard env[GrubMenu.trialVariable] == deployment.description else { return nil }
        if good {
            env.set("boot_success", "1")
            env.unset("boot_counter")
            env.unset(GrubMenu.trialVariable)
        } else {
            env.set("boot_success", "0")
            env.set("boot_counter", "0")
        }
        try writeGrubenv(p, env)
        return good ? "ended the GRUB trial of \(deployment) in \(boot)/\(p)" : "spent the GRUB trial of \(deployment) in \(boot)/\(p) (boot_counter=0)"
    }
}
