import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Unpin: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let cleanup remove a deployment again.")
        @OptionGroup var roots: RootOptions
        @Argument var id: String
        func run() throws { try guarded { try roots.manager().setPinned(id, false) } }
    }
}
