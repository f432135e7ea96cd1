import ArgumentParser
import BootDeployHealth

extension BootHealth {
    struct MarkGood: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mark-good", abstract: "Bless the booted deployment by hand.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let d = try failing { try global.service().markGood() }
            print(d.decision)
        }
    }
}
