import BootDeployEarlyBoot
import ArgumentParser
import BootDeploy
import BootDeployHealth
import FoundationEssentials

/// How `report` writes the document.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, prometheus
}

extension BootHealth {
    /// `boot-health report`: the fleet report (docs/REPORT.md), as text, JSON or Prometheus text.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One report for fleet managers: deployments, this boot's verdict, the last decision, rollbacks and finalize failures.",
            discussion: """
                Changes nothing. --format json prints the versioned document (apiVersion bootdeploy/v1, \
                kind HealthReport; docs/REPORT.md). --format prometheus prints the same as Prometheus text; \
                with --textfile-dir it is written atomically to DIR/bootdeploy.prom for node_exporter's \
                textfile collector (boot-health-metrics.service does that after every decision).
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "text, json or prometheus.") var format: ReportFormat = .text
        @Flag(help: "Same as --format json.") var json = false
        @Option(help: "Count and list events from this time on: @SECONDS, YYYY-MM-DDTHH:MM:SSZ (UTC), or a span meaning ago (24h, 7d). Default: the whole history.")
        var since: String?
        @Option(name: .customLong("textfile-dir"), help: "With --format prometheus: write DIR/bootdeploy.prom atomically instead of printing.")
        var textfileDir: String?
        @Option(name: .customLong("machine-id-file"), help: .hidden) var machineIDFile = "/etc/machine-id"

        func validate() throws {
            if json && format != .text && format != .json { throw ValidationError("--json and --format \(format.rawValue) exclude each other") }
            if textfileDir != nil && format != .prometheus { throw ValidationError("--textfile-dir needs --format prometheus") }
        }

        func run() throws {
            let service = try failing { try global.service() }
            func report() throws -> HealthReport {
                let facts = try failing {
                    try service.reportFacts(since: since, machineIDFile: machineIDFile) {
                        try DeploymentManager(Roots(sysroot: global.sysroot, boot: global.boot, runDir: global.runDir)).status()
                    }
                }
                return HealthReport.build(facts)
            }
            switch json ? .json : format {
            case .json: try printJSON(try report())
            case .prometheus:
                guard let dir = textfileDir else { print(PrometheusText.render(try report()), terminator: ""); return }
                // A decision saved while we write does not trigger the unit again: write until the
                // record we read is still the one on disk (a few rounds at most).
                for _ in 0..<5 {
                    let before = service.recordVersion()
                    let text = PrometheusText.render(try report())
                    try failing { try TextfileCollector.write(text, directory: dir) }
                    if service.recordVersion() == before { break }
                }
            case .text: printText(try report())
            }
        }

        func printText(_ r: HealthReport) {
            func show(_ role: String, _ d: HealthReport.Deployment?) {
                guard let d else { print("\(role.padded(9)) -"); return }
                let counter = d.triesLeft.map { " (\($0) tries left, \(d.triesDone ?? 0) done)" } ?? ""
                print("\(role.padded(9)) \(d.name)  \(d.version ?? "")  \(d.state?.rawValue ?? "")  \(d.entry ?? "")\(counter)")
            }
            show("Booted:", r.deployments.booted)
            show("Default:", r.deployments.default)
            show("Staged:", r.deployments.staged)
            show("Rollback:", r.deployments.rollback)
            print("Health:   \(r.health.state.rawValue)\(r.health.degradedReason.map { " — " + $0 } ?? "")")
            if let e = r.lastDecision {
                print("Decision: \(utc(e.at)) \(e.stateroot)/\(e.id) \(e.event)\(e.reason.map { ": " + $0 } ?? "")")
            }
            let w = r.window
            print("\(w.from.map { "Since \(utc($0)):" } ?? "In the history:") \(w.rollbacks) rollback(s), \(w.finalizeFailures) finalize failure(s), \(w.markedBad) marked bad, \(w.blessed) blessed\(w.complete ? "" : " (older events dropped)")")
            if let f = r.finalizeFailure { print("FINALIZE FAILED: \(f)") }
            for x in r.warnings { print("warning: \(x)") }
        }
    }
}
