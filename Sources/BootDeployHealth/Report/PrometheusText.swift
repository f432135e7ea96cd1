import BootDeployEarlyBoot

/// The fleet report as Prometheus text exposition (format 0.0.4), for node_exporter's textfile
/// collector: `boot-health report --format prometheus`.
///
/// Labels: `stateroot` and `deployment` (the id) on everything about one deployment. Counters are
/// per stateroot only: a `deployment` label on a counter would start a new series with every
/// update and never end the old ones; which deployment rolled back last is the label of
/// `bootdeploy_last_rollback_timestamp_seconds` instead.
public enum PrometheusText {
    /// The file name in the collector directory (node_exporter reads `*.prom` only).
    public static let fileName = "bootdeploy.prom"

    public static func render(_ r: HealthReport) -> String {
        var out = Exposition()
        let booted = r.deployments.booted

        out.family("bootdeploy_health_state", .gauge,
                   "Health verdict on the booted deployment in this boot: 1 for the current state, 0 for the others.")
        if let b = booted {
            for s in HealthState.allCases {
                out.sample("bootdeploy_health_state", labels(b) + [("state", s.rawValue)], s == r.health.state ? 1 : 0)
            }
        }

        out.family("bootdeploy_boot_tries_left", .gauge,
                   "Boot attempts the boot loader has left for the booted deployment's entry (absent once blessed).")
        if let b = booted, let left = r.health.triesLeft {
            out.sample("bootdeploy_boot_tries_left", labels(b), Int64(left))
        }
        out.family("bootdeploy_boot_tries_done", .gauge, "Boot attempts the booted deployment's entry has used (absent once blessed).")
        if let b = booted, let done = r.health.triesDone {
            out.sample("bootdeploy_boot_tries_done", labels(b), Int64(done))
        }

        out.family("bootdeploy_deployment_role", .gauge,
                   "1 for each deployment in each role: booted, default, staged, rollback (what a rollback would boot).")
        let roles: [(String, HealthReport.Deployment?)] = [
            ("booted", r.deployments.booted), ("default", r.deployments.default),
            ("staged", r.deployments.staged), ("rollback", r.deployments.rollback),
        ]
        for (role, d) in roles {
            if let d { out.sample("bootdeploy_deployment_role", labels(d) + [("role", role)], 1) }
        }

        out.family("bootdeploy_last_decision_timestamp_seconds", .gauge,
                   "When boot-health last decided (seconds since the epoch), on which deployment, and what.")
        if let e = r.lastDecision {
            out.sample("bootdeploy_last_decision_timestamp_seconds",
                       [("stateroot", e.stateroot), ("deployment", e.id), ("decision", e.event.rawValue)], e.at)
        }

        out.family("bootdeploy_last_rollback_timestamp_seconds", .gauge,
                   "When the newest rollback in the report's window happened, and from which deployment.")
        if let e = r.window.events.last(where: { $0.event == .rollback }) {
            out.sample("bootdeploy_last_rollback_timestamp_seconds", [("stateroot", e.stateroot), ("deployment", e.id)], e.at)
        }

        // Every stateroot that has a total, and the booted one with 0: a counter that exists from
        // the start makes increase() see the first rollback.
        var stateroots = Set(r.totals.keys.filter { !$0.isEmpty })
        if let b = booted { stateroots.insert(b.stateroot) }
        out.family("bootdeploy_rollbacks_total", .counter,
                   "Automatic rollbacks (booted deployment marked bad, reboot into the previous one) since the health record began.")
        for s in stateroots.sorted() {
            out.sample("bootdeploy_rollbacks_total", [("stateroot", s)], Int64(r.totals[s]?[HealthEventKind.rollback.rawValue] ?? 0))
        }
        out.family("bootdeploy_finalize_failures_total", .counter,
                   "Staged updates that a shutdown failed to install (or never finalized) since the health record began.")
        for s in stateroots.sorted() {
            out.sample("bootdeploy_finalize_failures_total", [("stateroot", s)],
                       Int64(r.totals[s]?[HealthEventKind.finalizeFailed.rawValue] ?? 0))
        }
        out.family("bootdeploy_marked_bad_total", .counter,
                   "Deployments marked bad (with or without a reboot) since the health record began.")
        for s in stateroots.sorted() {
            let t = r.totals[s] ?? [:]
            let n = [HealthEventKind.markedBad, .rollback, .degraded, .rebootRateLimited].reduce(0) { $0 + (t[$1.rawValue] ?? 0) }
            out.sample("bootdeploy_marked_bad_total", [("stateroot", s)], Int64(n))
        }

        out.family("bootdeploy_report_timestamp_seconds", .gauge, "When this report was made (seconds since the epoch).")
        out.sample("bootdeploy_report_timestamp_seconds", [], r.generatedAt)
        return out.text
    }

    static func labels(_ d: HealthReport.Deployment) -> [(String, String)] { [("stateroot", d.stateroot), ("deployment", d.id)] }

    /// A label value as the exposition format wants it: `\`, `"` and newline escaped.
    public static func escapeLabelValue(_ v: String) -> String {
        var s = ""
        for c in v.unicodeScalars {
            switch c {
            case "\\": s += "\\\\"
            case "\"": s += "\\\""
            case "\n": s += "\\n"
            default: s.unicodeScalars.append(c)
            }
        }
        return s
    }

    /// HELP text: only `\` and newline are escaped there.
    static func escapeHelp(_ v: String) -> String {
        v.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    enum MetricType: String { case gauge, counter }

    /// The text being written: HELP and TYPE once per family, just before its first sample (a
    /// family without samples is left out: some parsers reject an empty one).
    struct Exposition {
        var text = ""
        var pendingHeader = ""

        mutating func family(_ name: String, _ type: MetricType, _ help: String) {
            pendingHeader = "# HELP \(name) \(PrometheusText.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Int64) {
            text += pendingHeader
            pendingHeader = ""
            let l = labels.map { "\($0.0)=\"\(PrometheusText.escapeLabelValue($0.1))\"" }.joined(separator: ",")
            text += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(l)} \(value)\n"
        }
    }
}
