import ArgumentParser
import BootDeployCLI

@main
struct BootHealth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot-health",
        abstract: "Judge whether this boot is healthy; bless it, or mark it bad and roll back.",
        subcommands: [Check.self, Run.self, MarkGood.self, MarkBad.self, Status.self, Report.self])
}

extension BootHealth {
    static func main() {
        mainDispatching(["check": Check.self, "run": Run.self, "mark-good": MarkGood.self, "mark-bad": MarkBad.self,
                         "status": Status.self, "report": Report.self])
    }
}
