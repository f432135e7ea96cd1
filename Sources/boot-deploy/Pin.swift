import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Pin: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Keep a deployment through cleanup.")
        @OptionGroup var roots: RootOptions
        @Argument var id: String
        func run() throws { try guarded { try roots.manager().setPinned(id, true) } }
    }
}
