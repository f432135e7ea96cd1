import ArgumentParser
import BootDeploy
import BootDeployCLI
import BootDeployEarlyBoot
import Glibc

/// Options shared by every command: the roots it works on.
struct RootOptions: ParsableArguments {
    @Option(help: "The physical root holding bootdeploy/ (in the initramfs and on an image: its mount point).")
    var sysroot: String = "/sysroot"

    @Option(help: "The boot partition holding loader/entries. Default: XBOOTLDR, else the ESP, else /boot, as bootctl finds them.")
    var boot: String?

    @Option(help: "Per-boot state: booted.json, staged.json.")
    var runDir: String = "/run/bootdeploy"

    @Option(help: "How /boot's entry set is swapped.")
    var bootStrategy: EntryStrategy = .auto

    @Option(help: "The boot loader to write for (default: the one found on /boot).")
    var bootLoader: BootLoaderKind?

    @Flag(help: "Fail at once instead of waiting when another writer holds the sysroot lock.")
    var noWait = false

    @Flag(help: "Do not freeze/thaw an ext4/xfs /boot after a swap (syncfs only).")
    var noFreeze = false

    func manager(cmdlineLimit: Int? = nil) throws -> DeploymentManager {
        let bootPath = try boot ?? BootLocator.locate().path
        return try DeploymentManager(Roots(sysroot: sysroot, boot: bootPath, runDir: runDir,
                                           strategy: bootStrategy,
                                           waitForLock: !noWait, freeze: !noFreeze, cmdlineLimit: cmdlineLimit,
                                           bootLoader: bootLoader))
    }
}

/// Runs a command body and turns our errors into one clear line and exit status 1.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as BootDeployError {
        FileHandle.stderr("boot-deploy: \(e)\n")
        throw ExitCode(1)
    }
}

extension EntryStrategy: ExpressibleByArgument {}
extension BootLoaderKind: ExpressibleByArgument {}

enum FileHandle {
    static func stderr(_ s: String) { _ = s.withCString { write(2, $0, strlen($0)) } }
}

@main
struct BootDeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot-deploy",
        abstract: "Deploy OS trees side by side and keep /boot's Boot Loader Spec entries correct through every change.",
        subcommands: [Init.self, Deploy.self, Status.self, Rollback.self, SetDefault.self, Pin.self, Unpin.self,
                      Undeploy.self, Cleanup.self, Kargs.self, Validate.self, Finalize.self, PrepareRootCommand.self,
                      InstallInit.self])
}

extension BootDeployCommand {
    static func main() {
        mainDispatching([
            "init": Init.self, "deploy": Deploy.self, "status": Status.self, "rollback": Rollback.self,
            "set-default": SetDefault.self, "pin": Pin.self, "unpin": Unpin.self, "undeploy": Undeploy.self,
            "cleanup": Cleanup.self, "kargs": Kargs.self, "validate": Validate.self, "finalize": Finalize.self,
            "prepare-root": PrepareRootCommand.self, "install-init": InstallInit.self,
        ])
    }
}
