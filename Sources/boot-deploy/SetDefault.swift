import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct SetDefault: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-default", abstract: "Make a deployment the default.")
        @OptionGroup var roots: RootOptions
        @Argument(help: "ID or STATEROOT/ID") var id: String
        func run() throws { try guarded { try roots.manager().setDefault(id) } }
    }
}
