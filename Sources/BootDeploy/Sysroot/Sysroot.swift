import BootDeployEarlyBoot
import BootDeploySystem
import Glibc

/// The roots a command works on. The same code serves a booted machine, an offline image being
/// built and the tests; nothing outside these roots is touched (invariant 6).
public struct Roots: Sendable {
    /// The physical root: holds `bootdeploy/`.
    public var sysroot: String
    /// The partition holding `loader/entries` and the kernels.
    public var boot: String
    /// Per-boot state (`booted.json`, `staged.json`), normally /run/bootdeploy.
    public var runDir: String
    /// How entries are swapped; `.auto` picks by filesystem type.
    public var strategy: EntryStrategy
    /// Whether the sysroot lock is waited for (`true`) or a held lock fails at once.
    public var waitForLock: Bool
    /// Freeze/thaw /boot after a swap when it is a dedicated ext4/xfs mount (GRUB reads the
    /// filesystem without replaying its journal).
    public var freeze: Bool
    /// COMMAND_LINE_SIZE to enforce (`--cmdline-limit`); nil: `cmdline.conf`, else 2048.
    public var cmdlineLimit: Int?
    /// The boot loader to write for (`--boot-loader`); nil: the one detected on /boot.
    public var bootLoader: BootLoaderKind?

    public init(sysroot: String, boot: String, runDir: String = "/run/bootdeploy", strategy: EntryStrategy = .auto,
                waitForLock: Bool = true, freeze: Bool = true, cmdlineLimit: Int? = nil, bootLoader: BootLoaderKind? = nil) {
        self.bootLoader = bootLoader
        self.sysroot = sysroot
        self.boot = boot
        self.runDir = runDir
        self.strategy = strategy
        self.waitForLock = waitForLock
        self.freeze = freeze
        self.cmdlineLimit = cmdlineLimit
    }
}

/// How a new entry set replaces the old one on /boot.
public enum EntryStrategy: String, Sendable, CaseIterable, Codable {
    /// Pick by filesystem: `.symlink` where symlinks exist, `.exchange` on vfat.
    case auto
    /// `loader -> loader.N` swapped with one rename (ext4, xfs, btrfs).
    case symlink
    /// `entries.staged` exchanged with `entries` by `renameat2(RENAME_EXCHANGE)` (vfat).
    case exchange
    /// File by file, each intermediate state a complete entry set (vfat without exchange).
    case perFile = "per-file"
}

/// The physical root's `bootdeploy/` tree: stateroots, deployments, records, the lock.
public final class Sysroot: @unchecked Sendable {
    public let roots: Roots
    public let root: Directory
    /// `$SYSROOT/bootdeploy`, nil before `init`.
    public let base: Directory?

    public init(_ roots: Roots) throws(BootDeployError) {
        self.roots = roots
        root = try sys { () throws(SystemError) in try Directory.open(roots.sysroot) }
        base = try? root.openDirectory("bootdeploy")
    }

    func requireBase() throws(BootDeployError) -> Directory {
        guard let base else {
            throw .notFound("\(roots.sysroot)/bootdeploy does not exist: run 'boot-deploy init --stateroot NAME' first")
        }
        return base
    }

    /// Takes the writers' lock (invariant 5).
    public func lock() throws(BootDeployError) -> FileLock {
        let b = try requireBase()
        do {
            return try FileLock(".lock", in: b, wait: roots.waitForLock)
        } catch {
            if error.errno == .wouldBlock {
                throw .busy("\(b.path)/.lock is held by another boot-deploy or boot-health; try again when it is done")
            }
            throw .system(error)
        }
    }

    /// Creates the layout for a stateroot and its shared var/.
    public func initStateroot(_ name: String) throws(BootDeployError) {
        try Names.validate(name, kind: "stateroot")
        if let why = ReservedNames.problem(name) {
            throw .invalidName(kind: "stateroot", value: name, reason: "\(why) in \(roots.sysroot)/bootdeploy")
        }
        try sys { () throws(SystemError) in
            try root.makeDirectory("bootdeploy", mode: 0o755)
            let b = try root.openDirectory("bootdeploy")
            try b.makeDirectory("\(name)/deploy", mode: 0o755, parents: true)
            try b.makeDirectory("\(name)/var", mode: 0o755)
            try b.openDirectory(name).sync()
            try b.sync()
        }
    }

    public func stateroots() throws(BootDeployError) -> [String] {
        guard let base else { return [] }
        return try sys { () throws(SystemError) in
            try base.entries().filter { Names.isValid($0) && ReservedNames.problem($0) == nil && (try? base.kind($0 + "/deploy")) == .directory }
        }
    }

    public func hasStateroot(_ name: String) -> Bool {
        guard let base else { return false }
        return (try? base.kind(name + "/deploy")) == .directory
    }

    public func deployDir(_ stateroot: String) throws(BootDeployError) -> Directory {
        let b = try requireBase()
        guard hasStateroot(stateroot) else {
            throw .notFound("no stateroot \(quoted(stateroot)) in \(b.path): run 'boot-deploy init --stateroot \(stateroot)'")
        }
        return try sys { () throws(SystemError) in try b.openDirectory("\(stateroot)/deploy") }
    }

    /// Every deployment record of every stateroot, with the problems met while reading them.
    public func records() throws(BootDeployError) -> (records: [DeploymentRecord], problems: [String]) {
        var out: [DeploymentRecord] = []
        var problems: [String] = []
        for sr in try stateroots() {
            let d = try deployDir(sr)
            for name in try sys({ () throws(SystemError) in try d.entries() }) where name.hasSuffix(".json") && !name.hasPrefix(".") {
                let file = "\(d.path)/\(name)"
                do throws(BootDeployError) {
                    let bytes = try sys { () throws(SystemError) in try d.readFile(name) }
                    var r = try DeploymentRecord.read(bytes, file: file)
                    if r.stateroot != sr || r.id + ".json" != name {
                        problems.append("\(file): record names \(r.name), ignored")
                        continue
                    }
                    r.stateroot = sr
                    out.append(r)
                } catch {
                    problems.append(error.description)
                }
            }
        }
        return (out, problems)
    }

    public func writeRecord(_ r: DeploymentRecord) throws(BootDeployError) {
        let d = try deployDir(r.stateroot)
        try sys { () throws(SystemError) in try d.replaceFile(r.id + ".json", r.encoded()) }
    }

    /// The administrator's extra binds for a stateroot.
    public func extraBinds(_ stateroot: String) throws(BootDeployError) -> [BindMount] {
        let b = try requireBase()
        let name = "\(stateroot)/layout.conf"
        guard b.exists(name) else { return [] }
        let text = try sys { () throws(SystemError) in try b.readText(name) }
        return try LayoutConfig.parse(text, file: "\(b.path)/\(name)", stateroot: stateroot)
    }

    /// `root=` for new entries: the physical root's filesystem UUID, from libblkid.
    public func defaultRootArgument() throws(BootDeployError) -> String {
        let dev = root.deviceNumber
        let (maj, min) = deviceNumberParts(dev)
        guard maj != 0, let node = BlockDevices.deviceNode(major: maj, minor: min) else {
            throw .refused("cannot find the block device of \(roots.sysroot) (device \(maj):\(min)) to derive root=; pass --karg root=...")
        }
        let info = try sys { () throws(SystemError) in try BlockDevices.probe(node) }
        guard let uuid = info.uuid else {
            throw .refused("\(node) (holding \(roots.sysroot)) has no filesystem UUID; pass --karg root=...")
        }
        return "root=UUID=\(uuid)"
    }
}
