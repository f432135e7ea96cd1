import ArgumentParser
import BootDeployHealth

extension RunPhase: ExpressibleByArgument {}

extension BootHealth {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The service: wait for startup, run the checks, bless or mark bad and roll back, watch the grace period.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Which part of the work to do; the units split it around boot-complete.target.")
        var phase: RunPhase = .all

        func run() throws {
            let p = phase
            let d = try failing { () throws -> HealthVerdict in
                let s = try global.service()
                if p == .bless { return try s.markGood(by: .service) }
                return try s.run(phase: p)
            }
            print("\(d.decision)\(d.reason.map { ": " + $0 } ?? "")\(d.rebootRequested ? " (reboot requested)" : "")")
            if !d.healthy { throw ExitCode(1) }
        }
    }
}
