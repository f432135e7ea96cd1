import BootDeploy
import BootDeployEarlyBoot

/// `DeploymentOrdering` backed by the deployment layer: the order is `boot-deploy status`'s, and
/// demoting rewrites /boot with the same crash-safe transaction as every other change (it takes
/// the sysroot lock itself).
public struct ManagerOrdering: DeploymentOrdering {
    public let manager: DeploymentManager

    public init(_ manager: DeploymentManager) { self.manager = manager }

    public func orderedDeployments() throws -> [OrderedDeployment] {
        try manager.status().deployments.filter { $0.index != nil }.map {
            OrderedDeployment(stateroot: $0.stateroot, id: $0.id, entryFileName: $0.entry,
                              state: $0.state.flatMap { DeploymentHealth(rawValue: $0.rawValue) } ?? .good)
        }
    }

    public func demote(_ deployment: DeploymentName) throws {
        try manager.demote(deployment)
    }
}
