import BootDeployEarlyBoot
import BootDeploySystem

/// GRUB without Boot Loader Spec support (Debian's and Ubuntu's 2.06 have no `blscfg`): the
/// entries stay the store of the plan, and a GRUB menu generated from the same plan is swapped
/// with them (`loader/entries/bootdeploy.grub.cfg`). GRUB reaches it either through a stub
/// `grub.cfg` BootDeploy owns (appliance mode: the file is missing or carries our marker) or
/// through `/etc/grub.d/15_bootdeploy` in the distribution's `update-grub` (any other grub.cfg,
/// which is never touched). Boot counting lives in the grubenv (`GrubMenu`, docs/GRUB.md).
public struct GrubBackend: BootLoaderBackend {
    public var kind: BootLoaderKind { .grub }

    public init() {}

    static let grubDirs = ["grub2", "grub"]

    /// /boot has a GRUB directory and no systemd-boot beside it.
    public static func detect(_ boot: BootPartition) -> Bool {
        let hasGrub = grubDirs.contains { (try? boot.dir.kind($0, followLinks: true)) == .directory }
        let hasSystemdBoot = (try? boot.dir.kind("EFI/systemd", followLinks: true)) == .directory
        return hasGrub && !hasSystemdBoot
    }

    /// GRUB's directory on the boot partition (relative): the one that exists, else `grub`.
    public static func grubDir(_ boot: BootPartition) -> String {
        grubDirs.first { (try? boot.dir.kind($0, followLinks: true)) == .directory } ?? "grub"
    }

    public func generatedFiles(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], context: BootLoaderContext) throws(BootDeployError) -> [GeneratedFile] {
        let env = "/\(Self.grubDir(context.boot))/grubenv"
        let text = try GrubMenu.render(plan, records: records, bootPrefix: context.bootPrefix, envPath: env)
        return [GeneratedFile(name: GrubMenu.menuName, text: text)]
    }

    /// Whether `grub.cfg` is ours to write: missing, or the stub we wrote before.
    static func ownsConfig(_ dir: Directory) -> Bool {
        guard dir.exists("grub.cfg") else { return true }
        guard let text = try? dir.readText("grub.cfg") else { return false }
        return text.hasPrefix(GrubMenu.stubMarker)
    }

    public func install(_ context: BootLoaderContext) throws(BootDeployError) {
        let boot = context.boot
        let name = Self.grubDir(boot)
        try sys { () throws(SystemError) in
            if !boot.dir.exists(name) { try boot.dir.makeDirectory(name) }
            let dir = try boot.dir.openDirectory(name)
            guard Self.ownsConfig(dir) else { return }   // distribution mode: update-grub's file
            let want = Array(GrubMenu.stub(bootPrefix: context.bootPrefix).utf8)
            if (try? dir.readFile("grub.cfg")) == want { return }
            try dir.replaceFile("grub.cfg", want)
        }
    }

    /// Brings the grubenv in line with the plan before the swap: the first entry, when it has
    /// tries, is the trial. The same trial keeps its spent count (never re-armed by a later
    /// commit); a new one gets the plan's tries. No trial: the counting variables are removed.
    /// Other variables (saved_entry, greenboot's) are kept. Replaced whole and flushed.
    public func armCounter(_ plan: BootPlan, context: BootLoaderContext) throws(BootDeployError) {
        let boot = context.boot
        let dirName = Self.grubDir(boot)
        let path = "\(boot.path)/\(dirName)/grubenv"
        try sys { () throws(SystemError) in
            if !boot.dir.exists(dirName) { try boot.dir.makeDirectory(dirName) }
        }
        let dir = try sys { () throws(SystemError) in try boot.dir.openDirectory(dirName) }
        var env = GrubEnvironment()
        if dir.exists("grubenv") {
            let bytes = try sys { () throws(SystemError) in try dir.readFile("grubenv", limit: 1 << 20) }
            do { env = try GrubEnvironment(parsing: bytes, file: path) } catch {
                throw .badInput(file: path, line: 0, message: "\(error.message); fix it with grub-editenv or remove it")
            }
        }
        let before = try render(env, path)
        GrubBackend.arm(&env, plan: plan)
        let after = try render(env, path)
        if dir.exists("grubenv") && before == after { return }
        try sys { () throws(SystemError) in try dir.replaceFile("grubenv", after) }
        try boot.flushForBootloader()
    }

    static func arm(_ env: inout GrubEnvironment, plan: BootPlan) {
        guard let first = plan.entries.first, let left = first.counter?.left, left > 0 else {
            env.unset(GrubMenu.trialVariable)
            env.unset("boot_counter")
            return
        }
        if env[GrubMenu.trialVariable] == first.deployment.description, let had = env["boot_counter"] {
            // Already on trial: keep what GRUB counted (or health marked), never add tries back.
            let n = Int(had).map { min(max($0, 0), left) } ?? 0
            env.set("boot_counter", String(n))
            return
        }
        env.set(GrubMenu.trialVariable, first.deployment.description)
        env.set("boot_counter", String(min(left, GrubMenu.maxTries)))
        env.set("boot_success", "0")
    }

    func render(_ env: GrubEnvironment, _ path: String) throws(BootDeployError) -> [UInt8] {
        do { return try env.render() } catch {
            throw .badInput(file: path, line: 0, message: error.message)
        }
    }

    public func validate(_ context: BootLoaderContext, state: BootEntriesState) -> [String] {
        var problems: [String] = []
        let boot = context.boot
        let grub = Self.grubDir(boot)
        guard let entries = state.entriesPath else { return problems }
        let menu = "\(entries)/\(GrubMenu.menuName)"
        if !boot.dir.exists(menu) {
            if !state.ours.isEmpty { problems.append("\(boot.path)/\(menu): missing; GRUB lists none of our deployments (run 'boot-deploy set-default' to rewrite it)") }
        } else {
            problems += GrubScriptCheck.problems(file: "\(boot.path)/\(menu)")
        }
        if let dir = try? boot.dir.openDirectory(grub), dir.exists("grub.cfg") {
            let cfg = "\(boot.path)/\(grub)/grub.cfg"
            if Self.ownsConfig(dir) {
                problems += GrubScriptCheck.problems(file: cfg)
            } else if let text = try? dir.readText("grub.cfg"), !text.contains(GrubMenu.menuName) {
                problems.append("\(cfg): does not read \(GrubMenu.menuName); install /etc/grub.d/15_bootdeploy and run update-grub")
            }
        } else {
            problems.append("\(boot.path)/\(grub)/grub.cfg: missing; GRUB has no configuration to read the menu from")
        }
        if let dir = try? boot.dir.openDirectory(grub), dir.exists("grubenv") {
            let path = "\(boot.path)/\(grub)/grubenv"
            do {
                _ = try GrubEnvironment(parsing: try dir.readFile("grubenv", limit: 1 << 20), file: path)
            } catch {
                problems.append("\(path): \(error)")
            }
        }
        return problems
    }
}
