import BootDeployEarlyBoot

/// The checks of one `check` or `run`: found, run with the configured bounds, refusals logged.
extension HealthService {
    func runChecks(_ d: DeploymentName) throws -> [CheckResult] {
        let set = try CheckSet.discover(configDirs: roots.configDirs, greenbootDirs: roots.greenbootDirs)
        let wanted = set.checks.filter { $0.kind == .wanted }.count
        let (parallel, lowered) = CheckParallelism.choose(configured: config.parallelism, count: wanted)
        if let lowered { log.warn(lowered) }
        let (results, shortage) = set.execute(timeout: config.checkTimeout, totalTimeout: config.totalTimeout, parallelism: parallel)
        for r in results {
            if let why = r.refusal {
                log.log(.checkRefused, "\(r.kind.rawValue) check \(r.path) refused, not run: \(why)", fields: ["CHECK": r.name, "DEPLOYMENT": d.description])
            } else if r.output.hasPrefix("cannot start") {
                log.warn("\(r.kind.rawValue) check \(r.name): \(r.output)")
            }
        }
        // A required check that could not even be started says nothing about this deployment:
        // out of descriptors or processes, boot-health cannot judge the boot.
        if let shortage {
            throw HealthError.invalid("cannot judge this boot: a required check could not be started: \(shortage)")
        }
        return results
    }
}
