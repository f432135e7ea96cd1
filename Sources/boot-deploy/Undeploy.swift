import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Undeploy: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a deployment and its entry (never the booted one, never the last).")
        @OptionGroup var roots: RootOptions
        @Argument var id: String
        func run() throws { try guarded { try roots.manager().undeploy(id) } }
    }
}
