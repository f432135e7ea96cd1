import BootDeployEarlyBoot
import ArgumentParser
import BootDeploy
import BootDeployHealth

/// The roots and config locations every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The physical root (on a booted system it is at /sysroot inside the deployment).")
    var sysroot = "/sysroot"
    @Option(help: "The partition holding loader/entries (XBOOTLDR, ESP or /boot).")
    var boot = "/boot"
    @Option(name: .customLong("cmdline-file"), help: "Where to read the kernel command line (bootdeploy=).")
    var cmdlineFile = "/proc/cmdline"
    @Option(name: .customLong("run-dir"), help: "Per-boot state written by prepare-root.")
    var runDir = "/run/bootdeploy"
    @Option(name: .customLong("config"), help: "The administrator's config directory (boot-health.conf, check/...).")
    var config = "/etc/boot-health"
    @Option(name: .customLong("vendor-config"), help: "The vendor's defaults, overridden by --config.")
    var vendorConfig = "/usr/lib/boot-health"
    @Option(help: "efivarfs, for LoaderBootCountPath.")
    var efivars = "/sys/firmware/efi/efivars"
    @Option(name: .customLong("greenboot-dir"), help: "A greenboot root whose check/, green.d/, red.d/ are honoured (repeatable; default /etc/greenboot and /usr/lib/greenboot).")
    var greenbootDirs: [String] = []
    @Flag(name: .customLong("no-kmsg"), help: .hidden)
    var noKmsg = false

    var roots: HealthRoots {
        var r = HealthRoots()
        r.sysroot = sysroot
        r.boot = boot
        r.cmdlineFile = cmdlineFile
        r.runDir = runDir
        r.configDirs = [config, vendorConfig]
        r.efivars = efivars
        if !greenbootDirs.isEmpty { r.greenbootDirs = greenbootDirs }
        return r
    }

    func service() throws -> HealthService {
        let entries = EntryDirectoryOrdering(boot: boot)
        let ordering: any DeploymentOrdering
        if let m = try? DeploymentManager(Roots(sysroot: sysroot, boot: boot, runDir: runDir)) {
            ordering = PreferringOrdering(primary: ManagerOrdering(m), fallback: entries)
        } else {
            ordering = entries
        }
        return try HealthService(roots: roots, ordering: ordering, log: HealthLog(useKmsg: !noKmsg))
    }
}

/// The deployment layer's order when it knows the deployments (they have records); the entries'
/// own order otherwise (entries written by hand or by an older tool), so that status and the
/// "is there anything better to boot" question never come out empty while entries exist.
struct PreferringOrdering: DeploymentOrdering {
    var primary: any DeploymentOrdering
    var fallback: any DeploymentOrdering

    func orderedDeployments() throws -> [OrderedDeployment] {
        if let p = try? primary.orderedDeployments(), !p.isEmpty { return p }
        return try fallback.orderedDeployments()
    }

    func demote(_ deployment: DeploymentName) throws { try primary.demote(deployment) }
}
