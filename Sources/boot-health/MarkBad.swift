import ArgumentParser
import BootDeployHealth

extension BootHealth {
    struct MarkBad: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mark-bad", abstract: "Mark the booted deployment bad by hand and move it out of first place.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Why, for the record.") var reason: String?
        @Flag(help: "Reboot into the next good deployment afterwards (never when there is none).") var reboot = false
        func run() throws {
            let d = try failing { try global.service().markBad(reason: reason, reboot: reboot) }
            print("\(d.decision)\(d.rebootRequested ? " (reboot requested)" : "")")
        }
    }
}
