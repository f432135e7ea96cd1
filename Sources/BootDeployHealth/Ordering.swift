import BootDeploy
import BootDeployEarlyBoot
import BootDeploySystem

/// Health state of a deployment as the boot order knows it.
public enum DeploymentHealth: String, Sendable, Codable, Equatable { case good, indeterminate, bad }

/// One deployment in boot order, as the deployment layer reports it.
public struct OrderedDeployment: Sendable, Equatable {
    public var deployment: DeploymentName
    /// Current file name of its entry in `$BOOT/loader/entries/` (counter included), if it has one.
    public var entryFileName: String?
    public var state: DeploymentHealth

    public init(_ deployment: DeploymentName, entryFileName: String?, state: DeploymentHealth) {
        self.deployment = deployment
        self.entryFileName = entryFileName
        self.state = state
    }

    public init(stateroot: String, id: String, entryFileName: String?, state: DeploymentHealth) {
        self.init(DeploymentName(stateroot: stateroot, id: id), entryFileName: entryFileName, state: state)
    }

    public var stateroot: String { deployment.stateroot }
    public var id: String { deployment.id }
}

/// What boot-health needs from the deployment layer: the boot order, and demoting a deployment.
///
/// The deployment layer (`BootDeploy.DeploymentManager`) owns /boot's entry set and rewrites it
/// crash-safely; boot-health only renames counters of the booted entry and asks for reordering here.
/// boot-health calls both without holding the sysroot lock (`$SYSROOT/bootdeploy/.lock`): `demote`
/// rewrites /boot in a transaction of its own and takes the lock itself.
public protocol DeploymentOrdering: Sendable {
    /// Deployments of all stateroots in boot order (first = default), with entry file name and state.
    func orderedDeployments() throws -> [OrderedDeployment]
    /// Rewrites the boot order so that `deployment` is no longer first: the newest good (or
    /// indeterminate) other deployment becomes default; `deployment` keeps its (bad) counter.
    func demote(_ deployment: DeploymentName) throws
}

/// The boot order read straight from `$BOOT/loader/entries/`, for when no deployment manager is
/// wired in: our entries (`bd-*.conf` carrying `bootdeploy=`) ordered as systemd-boot orders them
/// (entries marked bad last, then highest rank first). It cannot reorder: `demote` is a no-op that
/// reports so, and the boot loader's own counters (an entry at `+0` is tried last) do the fallback.
public struct EntryDirectoryOrdering: DeploymentOrdering {
    public var boot: String
    public init(boot: String) { self.boot = boot }

    public func orderedDeployments() throws -> [OrderedDeployment] {
        let entries = try BootEntries.load(boot: boot)
        let ours = entries.files.compactMap { f -> (OrderedDeployment, String)? in
            guard let dep = f.deployment, f.name.hasPrefix("bd-") || f.name.hasPrefix(NameOrder.prefix) else { return nil }
            let parsed = EntryFileName(entryOrImage: f.name)
            let state = parsed.map { DeploymentHealth(rawValue: $0.state.rawValue)! } ?? .good
            return (OrderedDeployment(dep, entryFileName: f.name, state: state), parsed?.id ?? f.name)
        }
        return ours.sorted { a, b in
            if (a.0.state == .bad) != (b.0.state == .bad) { return b.0.state == .bad }
            return b.1.utf8.lexicographicallyPrecedes(a.1.utf8)
        }.map { $0.0 }
    }

    public func demote(_ deployment: DeploymentName) throws {
        throw OrderingUnavailable()
    }

    /// `demote` could not reorder; the bad counter alone moves the entry last for systemd-boot.
    public struct OrderingUnavailable: Error, CustomStringConvertible {
        public var description: String { "no deployment manager to reorder entries; relying on the boot loader's counters" }
    }
}

