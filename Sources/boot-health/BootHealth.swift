import ArgumentParser

@main
struct BootHealth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot-health",
        abstract: "Judge whether this boot is healthy; bless it, or mark it bad and roll back.",
        subcommands: [Check.self, Run.self, MarkGood.self, MarkBad.self, Status.self, Report.self])
}
