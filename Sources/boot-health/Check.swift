import ArgumentParser
import BootDeployHealth

extension BootHealth {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the checks and report. Changes nothing.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print the report as JSON.") var json = false

        func run() throws {
            let report = try failing { try global.service().check() }
            if json {
                try printJSON(report)
            } else {
                for c in report.checks {
                    print("\(c.result.rawValue.padded(7)) \(c.kind.rawValue.padded(8)) \(c.name) (\(c.durationMs) ms)")
                    if c.result != .passed, !c.output.isEmpty {
                        for l in c.output.split(separator: "\n").suffix(5) { print("        | \(l)") }
                    }
                }
                for u in report.units { print("\(u.result.rawValue.padded(7)) unit     \(u.name) (\(u.activeState))") }
                for w in report.warnings { print("warning: \(w)") }
                print(report.healthy ? "healthy" : "UNHEALTHY")
            }
            if !report.healthy { throw ExitCode(1) }
        }
    }
}
