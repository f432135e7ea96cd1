import ArgumentParser
import BootDeployHealth

extension BootHealth {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The booted deployment, its counter, the last results and the rollback history.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print the status as JSON (schema 1, docs/HEALTH.md).") var json = false
        func run() throws {
            let r = try failing { try global.service().statusReport() }
            if json { try printJSON(r); return }
            if let b = r.booted {
                var counter = b.counter.rawValue
                if let l = b.triesLeft { counter += " \(l) left, \(b.triesDone ?? 0) done" }
                if let a = b.attempts { counter += " \(a) attempts" }
                print("Booted:   \(b.stateroot)/\(b.id)  [\(b.state.rawValue)]  \(b.entry ?? "")  counter: \(counter)")
            }
            print("State:    \(r.record.state)\(r.record.degradedReason.map { " — " + $0 } ?? "")")
            for d in r.deployments {
                print("  \(d.isDefault ? "*" : " ") \(d.stateroot)/\(d.id)  \(d.state.rawValue)  \(d.entry ?? "")")
            }
            if let last = r.record.lastRun {
                print("Last run: \(last.phase) -> \(last.decision)\(last.reason.map { ": " + $0 } ?? "")")
                for c in last.checks {
                    let why = c.result == .passed ? "" : ": " + (c.output.split(separator: "\n").last.map(String.init) ?? "")
                    print("  \(c.result.rawValue.padded(7)) \(c.name) (\(c.durationMs) ms)\(why)")
                }
                for u in last.units { print("  \(u.result.rawValue.padded(7)) \(u.name) (\(u.activeState))") }
            }
            if !r.record.history.isEmpty { print("History:") }
            for h in r.record.history.suffix(20) {
                print("  \(utc(h.at)) \(h.stateroot)/\(h.id) \(h.event)\(h.reason.map { ": " + $0 } ?? "")\(h.rebootRequested ? " (reboot requested)" : "")")
            }
            if let f = r.finalizeFailed { print("FINALIZE FAILED: \(f.compact)") }
            for w in r.warnings { print("warning: \(w)") }
        }
    }
}
