import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the layout for a stateroot and its shared /var.")
        @OptionGroup var roots: RootOptions
        @Option(help: "Name of the stateroot (letters, digits, . _ -).") var stateroot: String
        func run() throws {
            try guarded {
                let d = try DeploymentManager(Roots(sysroot: roots.sysroot, boot: roots.boot ?? roots.sysroot))
                try d.initStateroot(stateroot)
            }
        }
    }
}
