import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the previous deployment the default; the current one stays, second.")
        @OptionGroup var roots: RootOptions
        func run() throws { try guarded { try roots.manager().rollback() } }
    }
}
