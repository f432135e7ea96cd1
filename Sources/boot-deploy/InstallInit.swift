import ArgumentParser
import BootDeploy
import BootDeployEarlyBoot
import Glibc

/// `boot-deploy install-init`: (re)installs the early-boot binary of deployments that boot without
/// an initramfs (docs/EARLYBOOT.md, "Booting without an initramfs").
struct InstallInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-init",
        abstract: "Install the early-boot binary that deployments without an initramfs boot with (init=) into the physical root.",
        discussion: """
            deploy --no-initramfs installs it already; this command repairs or refreshes it. For each named \
            deployment (default: every one deployed with --no-initramfs) it copies the deployment's own \
            usr/lib/bootdeploy/bd-prepare-root, the libraries it loads and their loader into \
            $SYSROOT/bootdeploy/early-boot/<digest>/ (written, flushed, then renamed into place). If the \
            deployment's tree now makes another install than its entry names, the record and the entry move \
            to it; the old install is removed by cleanup once no record names it. 'status' and 'validate' \
            say when an install is missing, damaged or stale.
            """)
    @OptionGroup var roots: RootOptions
    @Argument(help: "Deployments (ID or STATEROOT/ID).") var deployments: [String] = []
    func run() throws {
        try guarded {
            for r in try roots.manager().installEarlyBoot(deployments) {
                let what = r.written ? "installed" : "already installed"
                print("\(r.deployment): \(what) \(r.ref.initPath)" + (r.changed ? " (entry updated)" : ""))
            }
        }
    }
}
