/// Where each path of a deployment's new root comes from: written by `boot-deploy deploy` into the
/// deployment record, performed by `prepare-root` on every boot, shown by `status --json`.
///
/// Paths are relative: `root` and `physical` sources are relative to the physical root (the
/// filesystem mounted at /sysroot in the initramfs), `deployment` sources to the deployment tree,
/// targets are absolute paths inside the new root. The order of `mounts` is the order they are made.
public struct MountLayout: Codable, Sendable, Equatable {
    /// Format version of the layout, bumped on incompatible change.
    public var version: Int
    /// The deployment tree, relative to the physical root: `bootdeploy/<stateroot>/deploy/<id>`.
    public var root: String
    /// Bind mounts made inside the new root, in order.
    public var mounts: [BindMount]

    public init(version: Int = 1, root: String, mounts: [BindMount]) {
        self.version = version
        self.root = root
        self.mounts = mounts
    }
}

/// One bind mount of a `MountLayout`.
public struct BindMount: Codable, Sendable, Equatable {
    /// What `source` is relative to.
    public enum Origin: String, Codable, Sendable {
        /// The deployment tree itself (for example `usr`, bound read-only onto itself).
        case deployment
        /// The physical root (for example `bootdeploy/os/var`, or `""` for the whole root).
        case physical
    }

    public var origin: Origin
    /// Relative path below the origin; `""` names the origin itself.
    public var source: String
    /// Absolute path inside the new root, for example `/var`.
    public var target: String
    public var readOnly: Bool
    /// Why the mount is there, for status output: `usr`, `var`, `sysroot`, `admin`.
    public var purpose: String

    public init(origin: Origin, source: String, target: String, readOnly: Bool, purpose: String) {
        self.origin = origin
        self.source = source
        self.target = target
        self.readOnly = readOnly
        self.purpose = purpose
    }
}
