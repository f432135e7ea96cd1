import BootDeployEarlyBoot
import BootDeploySystem

/// The boot loaders BootDeploy writes configuration for. A new boot loader is a new case, a folder
/// beside this file with its backend, and one line in `BootLoaders.all`.
public enum BootLoaderKind: String, CaseIterable, Sendable, Codable {
    /// systemd-boot, and any other reader of Boot Loader Spec Type #1 entries: nothing beyond them.
    case systemdBoot = "systemd-boot"
    /// GRUB without BLS support: a generated menu and a grubenv counter (Bootloaders/GRUB).
    case grub
    /// U-Boot: a boot script that counts (`boot.scr`) and an extlinux menu (docs/UBOOT.md).
    case uBoot = "u-boot"
}

/// A file a backend generates from the plan. It is written into the entry set's directory, beside
/// our `.conf` entries, so that it is swapped in the same commit as they are: the boot loader never
/// sees a menu of one generation with the entries or kernels of another. Its name starts with
/// `bootdeploy.` and does not end in `.conf` (a Type #1 reader would take it for an entry).
public struct GeneratedFile: Sendable, Equatable {
    public var name: String
    public var bytes: [UInt8]

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    public init(name: String, text: String) {
        self.init(name: name, bytes: Array(text.utf8))
    }

    /// Whether `name` is one of ours (generated files are never carried over as foreign ones).
    public static func isGeneratedName(_ name: String) -> Bool {
        name.hasPrefix(prefix) && !name.hasSuffix(".conf") && name.count > prefix.count
    }

    public static let prefix = "bootdeploy."
}

/// What a backend needs to know about the partition it writes to.
public struct BootLoaderContext: Sendable {
    public let boot: BootPartition
    public let roots: Roots
    /// The entry set's directory as a boot loader reaches it through the stable path, relative to
    /// the boot partition's root: `loader/entries` (a symlink generation `loader -> loader.N` on
    /// ext4/xfs, a real directory swapped by exchange on vfat).
    public let entriesPath: String
    /// The prefix of /boot's files as the boot loader sees them on their filesystem: "" when /boot is
    /// a filesystem of its own (or the ESP), "/boot" when it is a directory of the root filesystem.
    public let bootPrefix: String

    public init(boot: BootPartition, roots: Roots) {
        self.boot = boot
        self.roots = roots
        entriesPath = "loader/entries"
        bootPrefix = isMountPoint(boot.path) ? "" : "/boot"
    }
}

/// One boot loader: how to recognise it on /boot, what it reads besides the Type #1 entries, how
/// that is installed and checked. Type #1 entries stay the store of the plan on every boot loader
/// (`BootPartition.load()` reads the order and counters from their names); a backend derives its
/// own files from the same plan, and `EntryTransaction` swaps them together with the entries.
public protocol BootLoaderBackend: Sendable {
    var kind: BootLoaderKind { get }

    /// Whether this boot loader is the one installed on `boot` (automatic selection).
    static func detect(_ boot: BootPartition) -> Bool

    init()

    /// Files generated from `plan`, swapped with the entries (see `GeneratedFile`).
    func generatedFiles(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], context: BootLoaderContext) throws(BootDeployError) -> [GeneratedFile]

    /// Fixed-path files the boot loader starts from (a `grub.cfg` that reads the generated menu
    /// through the stable path, a boot script), written before the entries are swapped, only when
    /// missing or different, each replaced whole and flushed.
    func install(_ context: BootLoaderContext) throws(BootDeployError)

    /// Counter state this boot loader keeps outside the entry set (a grubenv, an environment file
    /// the boot script reads), brought in line with `plan` before the entries are swapped, so that a
    /// crash between the two leaves a counter armed for a menu that does not list it yet (harmless)
    /// and never a counted default without its tries. Type #1 entries carry their counter in their
    /// file names: nothing to do.
    func armCounter(_ plan: BootPlan, context: BootLoaderContext) throws(BootDeployError)

    /// Problems for `boot-deploy validate` (each names the file).
    func validate(_ context: BootLoaderContext, state: BootEntriesState) -> [String]

    /// Whether swapping the entry set on this partition is one atomic step for this boot loader.
    func isAtomic(_ context: BootLoaderContext) -> Bool

    /// The counter this boot loader keeps outside the entries, for `status` (nil: none).
    func counterStatus(_ context: BootLoaderContext) -> BootStatus.LoaderCounter?
}

extension BootLoaderBackend {
    public func armCounter(_ plan: BootPlan, context: BootLoaderContext) throws(BootDeployError) {}
    public func isAtomic(_ context: BootLoaderContext) -> Bool { context.boot.strategy != .perFile }
    public func counterStatus(_ context: BootLoaderContext) -> BootStatus.LoaderCounter? { nil }
}

/// The registry and the selection.
public enum BootLoaders {
    /// Every backend, in detection order: the first whose `detect` is true is chosen; systemd-boot
    /// (plain Type #1 entries) is last and always matches.
    static let all: [any BootLoaderBackend.Type] = [UBootBackend.self, GrubBackend.self, SystemdBootBackend.self]

    /// The backend for `roots`: the one named by `roots.bootLoader`, else the one detected on /boot.
    public static func backend(for roots: Roots, boot: BootPartition) -> any BootLoaderBackend {
        if let kind = roots.bootLoader, let t = all.first(where: { $0.init().kind == kind }) { return t.init() }
        for t in all where t.detect(boot) { return t.init() }
        return SystemdBootBackend()
    }
}
