import ArgumentParser
import BootDeployEarlyBoot

extension BootDeployCommand {
    struct PrepareRootCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prepare-root",
            abstract: "In the initramfs: turn /sysroot into the deployment named by bootdeploy= (same as bd-prepare-root).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() throws {
            let rc = PrepareRoot.main(["bd-prepare-root"] + arguments)
            if rc != 0 { throw ExitCode(rc) }
        }
    }
}
