/// The record kept beside each deployment tree (`deploy/<id>.json`, schema 1, docs/ON-DISK.md):
/// what it is, how it boots, and the mount layout early boot performs for it. The one definition
/// of the format: boot-deploy reads and writes it whole, prepare-root reads its part of it
/// (`EarlyBootRecord`) through the same keys and decoders (`DeploymentRecord+Codec.swift`).
public struct DeploymentRecord: Sendable, Equatable {
    public var schema: Int = 1
    public var stateroot: String
    public var id: String
    public var version: String
    public var title: String
    /// Identity of the OS content: the updater's `--digest`, else the boot artifacts' digest.
    public var digest: String
    public var kernelVersion: String
    /// Content-addressed kernel directory, relative to the boot partition.
    public var kernelDir: String
    public var hasDevicetree: Bool
    /// Kernel arguments of the entry, except `bootdeploy=`, which is derived from the id.
    public var kargs: [String]
    public var pinned: Bool
    public var created: String
    public var layout: MountLayout
    /// The deployment whose kernel arguments and /etc changes this one carried over (the merge
    /// deployment); nil when there was none or nothing was taken from it.
    public var mergedFrom: DeploymentName? = nil
    /// Set when the deployment boots without an initramfs: its early-boot binary in the physical root.
    public var earlyBoot: EarlyBootRef? = nil
    /// Set when the deployment boots as a unified kernel image (docs/UKI.md).
    public var uki: UKIRef? = nil

    public init(stateroot: String, id: String, version: String, title: String, digest: String, kernelVersion: String,
                kernelDir: String, hasDevicetree: Bool, kargs: [String], pinned: Bool, created: String, layout: MountLayout,
                mergedFrom: DeploymentName? = nil, earlyBoot: EarlyBootRef? = nil, uki: UKIRef? = nil) {
        self.stateroot = stateroot
        self.id = id
        self.version = version
        self.title = title
        self.digest = digest
        self.kernelVersion = kernelVersion
        self.kernelDir = kernelDir
        self.hasDevicetree = hasDevicetree
        self.kargs = kargs
        self.pinned = pinned
        self.created = created
        self.layout = layout
        self.mergedFrom = mergedFrom
        self.earlyBoot = earlyBoot
        self.uki = uki
    }

    /// The deployment this record describes.
    public var name: DeploymentName { DeploymentName(stateroot: stateroot, id: id) }
    /// The parameter that names this deployment on the kernel command line.
    public var bootParameter: String { "bootdeploy=\(name)" }
}

/// Where a deployment's early-boot binary is installed (in its record, `earlyBoot`), for a
/// deployment that boots without an initramfs (docs/EARLYBOOT.md).
public struct EarlyBootRef: Codable, Sendable, Equatable {
    /// The install directory, relative to the physical root: `bootdeploy/early-boot/<digest>`.
    public var path: String
    /// The libraries copied beside the binary (`lib/<name>`), the loader among them; empty when the
    /// binary is static.
    public var libraries: [String]

    public init(path: String, libraries: [String]) {
        self.path = path
        self.libraries = libraries
    }
}

/// Where a deployment's UKI is and how it came about (in its record, `uki`).
public struct UKIRef: Codable, Sendable, Equatable {
    /// Relative to the boot partition: `bootdeploy/<stateroot>/uki/<sha256>.efi`.
    public var path: String
    public var signed: Bool
    /// `built` (from the tree's kernel and initramfs) or `tree:<file>` (the tree's own UKI, its
    /// kernel, initramfs and os-release taken, its command line replaced by the deployment's).
    public var source: String

    public init(path: String, signed: Bool, source: String) {
        self.path = path
        self.signed = signed
        self.source = source
    }
}
