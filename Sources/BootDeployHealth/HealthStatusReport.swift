import BootDeploy
import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials

/// What `status --json` prints (schema 1, docs/HEALTH.md).
public struct StatusReport: Codable, Sendable {
    public var schema = 1
    public struct Live: Codable, Sendable {
        public var stateroot: String
        public var id: String
        public var counter: Recorded<CounterKind>
        public var entry: String?
        public var state: DeploymentHealth
        public var triesLeft: Int?
        public var triesDone: Int?
        public var attempts: Int?
    }
    public struct Deployment: Codable, Sendable {
        public var stateroot: String
        public var id: String
        public var entry: String?
        public var state: DeploymentHealth
        public var isDefault: Bool
    }
    public var booted: Live?
    public var deployments: [Deployment]
    public var record: HealthStatus
    public var finalizeFailed: JSONValue?
    public var warnings: [String]
}

extension HealthService {
    public func statusReport() throws -> StatusReport {
        let record = try store.load()
        var warnings: [String] = []
        var live: StatusReport.Live?
        do {
            let d = try knownBootedDeployment()
            do {
                let c = try counting(d, record)
                let f = c.counterFields
                live = .init(stateroot: d.stateroot, id: d.id, counter: Recorded(rawValue: c.backend.rawValue), entry: c.entryName,
                             state: c.state(bad: record.badDeployments), triesLeft: f.left, triesDone: f.done, attempts: c.attempts)
            } catch {
                warnings.append("booted deployment \(d): \(error)")
            }
        } catch {
            warnings.append("booted deployment unknown, nothing judged: \(error)")
        }
        var deployments: [StatusReport.Deployment] = []
        do {
            let ordered = try ordering.orderedDeployments()
            for (i, o) in ordered.enumerated() {
                let state = record.badDeployments.contains(o.deployment) ? .bad : o.state
                deployments.append(.init(stateroot: o.stateroot, id: o.id, entry: o.entryFileName, state: state, isDefault: i == 0))
            }
        } catch {
            warnings.append("boot order: \(error)")
        }
        var finalize: JSONValue?
        if let base = try? Directory.open(roots.sysroot).openDirectory("bootdeploy"), base.exists("finalize-failed.json") {
            do {
                finalize = try JSONValue.parse(try base.readFile("finalize-failed.json", limit: 1 << 20))
            } catch {
                finalize = .string("unreadable: \(error)")
            }
        }
        return StatusReport(booted: live, deployments: deployments, record: record, finalizeFailed: finalize, warnings: warnings)
    }
}
