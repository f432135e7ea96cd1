import BootDeployHealth
import Foundation
import TestSupport

extension HealthFixture {
    /// The CLI under a shell prefix (`ulimit -n 1024;`) and a hard time limit, so that a test of
    /// something that could hang fails instead of hanging.
    func cliShell(_ prefix: String, _ args: [String], seconds: Int = 60) throws -> RunResult {
        let all = [args[0]] + cliArgs + Array(args.dropFirst())
        let quoted = all.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        return try sh("\(prefix) exec timeout -s KILL \(seconds) '\(TestEnv.tool("boot-health"))' \(quoted)")
    }

    /// A file or link below the fixture, made with the shell (modes, owners, FIFOs, links).
    func shell(_ script: String) throws {
        let r = try sh("cd '\(tmp.path)' && \(script)")
        if !r.ok { throw SystemdMock.MockError("fixture: \(script): \(r.stderr)") }
    }

    /// The status record's lastRun.checks.
    func lastChecks() -> [[String: Any]] {
        (statusRecord()["lastRun"] as? [String: Any])?["checks"] as? [[String: Any]] ?? []
    }
}

/// A boot order of deployments known to the deployment layer, for service-level tests.
func order(_ items: [(String, DeploymentHealth)]) -> RecordingOrdering {
    RecordingOrdering(items.map {
        let p = $0.0.split(separator: "/")
        return OrderedDeployment(stateroot: String(p[0]), id: String(p[1]), entryFileName: nil, state: $0.1)
    })
}
