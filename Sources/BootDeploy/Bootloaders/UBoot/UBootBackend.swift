import BootDeployEarlyBoot
import BootDeploySystem
import Glibc

/// U-Boot: the plan as `bootdeploy.extlinux` and `bootdeploy.env` inside the entry set (swapped
/// with the entries), the BootDeploy boot script `boot.scr` at the root of the boot partition (the
/// path that counts: it chooses the deployment by the counter in `bdcount.a`/`.b`), and, on boards
/// whose standard boot reads `extlinux/extlinux.conf`, that file as a fixed stub that `include`s
/// the generated menu through the stable path (so it never needs rewriting when the plan changes).
/// docs/UBOOT.md describes the layout and how a board wires the script into `bootcmd`.
public struct UBootBackend: BootLoaderBackend {
    public var kind: BootLoaderKind { .uBoot }

    public init() {}

    public static let scriptName = "boot.scr"
    /// Where our script goes when the board's own `boot.scr` is there (never replaced).
    public static let asideScriptName = "bootdeploy.scr"
    public static let extlinuxPath = "extlinux/extlinux.conf"

    /// An `extlinux/` directory, or a `boot.scr` that is ours.
    public static func detect(_ boot: BootPartition) -> Bool {
        if isOurs(boot.dir, scriptName) || isOurs(boot.dir, asideScriptName) { return true }
        // An extlinux/ directory beside an installed systemd-boot (an EFI board's image that ships
        // both) is not enough: systemd-boot reads our entries already.
        let hasSystemdBoot = (try? boot.dir.kind("EFI/systemd", followLinks: true)) == .directory
        return (try? boot.dir.kind("extlinux")) == .directory && !hasSystemdBoot
    }

    static func isOurs(_ dir: Directory, _ name: String) -> Bool {
        guard (try? dir.kind(name)) == .file, let b = try? dir.readFile(name, limit: 1 << 20), b.count > 64 else { return false }
        return Array(b[32..<64]).prefix { $0 != 0 } == Array(UBootScript.imageName.utf8)
    }

    public func generatedFiles(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], context: BootLoaderContext) throws(BootDeployError) -> [GeneratedFile] {
        // extlinux paths carry the prefix (U-Boot's parser takes them as they are); the script
        // prepends the prefix it found, so the plan's paths are relative to the boot partition.
        let boots = try UBootPlanFiles.boots(plan, records: records, bootPrefix: context.bootPrefix)
        let rel = try UBootPlanFiles.boots(plan, records: records, bootPrefix: "")
        return [GeneratedFile(name: UBootPlanFiles.extlinuxName, text: UBootPlanFiles.extlinux(boots)),
                GeneratedFile(name: UBootPlanFiles.envName, text: UBootPlanFiles.environment(rel))]
    }

    /// The architecture the script boots for: this machine's.
    static func arch() -> UBootScript.Arch {
        var u = utsname()
        guard uname(&u) == 0 else { return .x86 }
        let machine = withUnsafeBytes(of: &u.machine) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        return UBootScript.Arch(machine: machine) ?? .x86
    }

    /// The compiled script for `context`'s boot partition.
    public static func scriptImage(_ context: BootLoaderContext, arch: UBootScript.Arch) -> [UInt8] {
        let write = context.boot.filesystem == .vfat ? "fatwrite" : "ext4write"
        let text = UBootScript.text(prefix: context.bootPrefix, write: write, arch: arch)
        return UBootImage.script(text, arch: arch.rawValue, name: UBootScript.imageName, time: 0)
    }

    /// `boot.scr` (or `bootdeploy.scr` beside a board's own `boot.scr`), only when missing or
    /// different, replaced whole (tmp + fsync + rename) and flushed.
    public func install(_ context: BootLoaderContext) throws(BootDeployError) {
        let dir = context.boot.dir
        let name = Self.scriptTarget(dir)
        let image = Self.scriptImage(context, arch: Self.arch())
        if (try? dir.readFile(name, limit: 1 << 20)) != image {
            try sys { () throws(SystemError) in try dir.replaceFile(name, image) }
        }
        guard (try? dir.kind("extlinux")) == .directory else { return }
        let stub = Array(Self.extlinuxStub(context).utf8)
        let ext = try sys { () throws(SystemError) in try dir.openDirectory("extlinux", noFollow: false) }
        guard Self.extlinuxIsOurs(ext), (try? ext.readFile("extlinux.conf", limit: 1 << 20)) != stub else { return }
        try sys { () throws(SystemError) in try ext.replaceFile("extlinux.conf", stub) }
    }

    static let stubMarker = "# BootDeploy: "

    /// `extlinux/extlinux.conf`: `include` of the generated menu (U-Boot's parser takes an absolute
    /// path from the root of the filesystem under sysboot / standard boot).
    public static func extlinuxStub(_ context: BootLoaderContext) -> String {
        "\(stubMarker)the menu is generated in \(context.entriesPath)/\(UBootPlanFiles.extlinuxName), swapped with the entries.\n"
            + "include \(context.bootPrefix)/\(context.entriesPath)/\(UBootPlanFiles.extlinuxName)\n"
    }

    /// Missing or written by us (a board's own extlinux.conf is never replaced).
    static func extlinuxIsOurs(_ ext: Directory) -> Bool {
        guard ext.exists("extlinux.conf") else { return true }
        guard let b = try? ext.readFile("extlinux.conf", limit: 1 << 20) else { return false }
        return b.starts(with: Array(stubMarker.utf8))
    }

    static func scriptTarget(_ dir: Directory) -> String {
        (!dir.exists(scriptName) || isOurs(dir, scriptName)) ? scriptName : asideScriptName
    }

    /// The counter follows the plan: a counted default is the trial with its tries (never more than
    /// the counter already shows for the same trial: U-Boot counted some down), anything else
    /// clears it.
    public func armCounter(_ plan: BootPlan, context: BootLoaderContext) throws(BootDeployError) {
        let dir = context.boot.dir
        var trial: String?
        var left = 0
        if let d = plan.defaultEntry, let c = d.counter {
            trial = d.deployment.description
            left = min(c.left, UBootCounter.maxLeft)
        }
        let current = UBootCounter.read(dir).current
        if let cur = current, let t = trial, cur.trial == t { left = min(left, cur.left) }
        if current?.trial != trial || (trial != nil && current?.left != left) || (current == nil && trial != nil) {
            _ = try sys { () throws(SystemError) in try UBootCounter.write(dir, trial: trial, left: left) }
        }
    }

    public func counterStatus(_ context: BootLoaderContext) -> BootStatus.LoaderCounter? {
        let dir = context.boot.dir
        let r = UBootCounter.read(dir)
        guard let c = r.current else { return nil }
        // The copy read is the one not to be written next.
        return BootStatus.LoaderCounter(trial: c.trial, triesLeft: c.left, file: "\(context.boot.path)/\(UBootCounter.files[1 - r.writeSlot])")
    }

    public func validate(_ context: BootLoaderContext, state: BootEntriesState) -> [String] {
        let dir = context.boot.dir
        var problems: [String] = []
        let name = Self.scriptTarget(dir)
        if !Self.isOurs(dir, name) {
            problems.append("\(context.boot.path)/\(name): the BootDeploy boot script is missing (any deploy writes it)")
        } else if name == Self.asideScriptName {
            problems.append("\(context.boot.path)/\(Self.scriptName) is the board's own; bootcmd must source \(Self.asideScriptName) for boot counting (docs/UBOOT.md)")
        }
        if let ext = try? dir.openDirectory("extlinux", noFollow: false), !Self.extlinuxIsOurs(ext) {
            problems.append("\(context.boot.path)/\(Self.extlinuxPath) is not BootDeploy's: U-Boot's standard boot reads it and not the deployments (docs/UBOOT.md)")
        }
        for f in UBootCounter.files where dir.exists(f) {
            if let b = try? dir.readFile(f, limit: 4096), UBootCounter.parse(b) == nil {
                problems.append("\(context.boot.path)/\(f): not a valid boot counter copy (torn write?); the other copy is used and the next write replaces this one")
            }
        }
        return problems
    }
}
