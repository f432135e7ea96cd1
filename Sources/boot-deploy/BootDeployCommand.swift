import ArgumentParser
import BootDeploy
import BootDeployEarlyBoot
import Glibc

/// Options shared by every command: the roots it works on.
struct RootOptions: ParsableArguments {
    @Option(help: "The physical root holding bootdeploy/ (in the initramfs and on an image: its mount point).")
    var sysroot: String = "/sysroot"

    @Option(help: "The boot partition holding loader/entries. Default: XBOOTLDR, else the ESP, else /boot, as bootctl finds them.")
    var boot: String?

    @Option(help: "Per-boot state: booted.json, staged.json.")
    var runDir: String = "/run/bootdeploy"

    @Option(help: "How /boot's entry set is swapped: auto, symlink, exchange, per-file.")
    var bootStrategy: String = "auto"

    @Flag(help: "Fail at once instead of waiting when another writer holds the sysroot lock.")
    var noWait = false

    @Flag(help: "Do not freeze/thaw an ext4/xfs /boot after a swap (syncfs only).")
    var noFreeze = false

    func validate() throws {
        guard EntryStrategy(rawValue: bootStrategy) != nil else {
            throw ValidationError("--boot-strategy must be one of: \(EntryStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func manager(cmdlineLimit: Int? = nil) throws -> DeploymentManager {
        let bootPath = try boot ?? BootLocator.locate().path
        return try DeploymentManager(Roots(sysroot: sysroot, boot: bootPath, runDir: runDir,
                                           strategy: EntryStrategy(rawValue: bootStrategy) ?? .auto,
                                           waitForLock: !noWait, freeze: !noFreeze, cmdlineLimit: cmdlineLimit))
    }
}

/// Runs a command body and turns our errors into one clear line and exit status 1.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as BootDeployError {
        FileHandle.stderr("boot-deploy: \(e)\n")
        throw ExitCode(1)
    }
}

enum FileHandle {
    static func stderr(_ s: String) { _ = s.withCString { write(2, $0, strlen($0)) } }
}

@main
struct BootDeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot-deploy",
        abstract: "Deploy OS trees side by side and keep /boot's Boot Loader Spec entries correct through every change.",
        subcommands: [Init.self, Deploy.self, Status.self, Rollback.self, SetDefault.self, Pin.self, Unpin.self,
                      Undeploy.self, Cleanup.self, Kargs.self, Validate.self, Finalize.self, PrepareRootCommand.self,
                      InstallInit.self])

    struct Finalize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a staged deployment to /boot (run at shutdown by bootdeploy-finalize.service).",
            discussion: "Merges /etc from the merge deployment (the booted one of its stateroot, else the default) into the staged one, then makes it the default with the same crash-safe transaction as deploy. A failure leaves a stamp that the next boot reports.")
        @OptionGroup var roots: RootOptions
        @Flag(help: "Keep the staged deployment from being finalized (download-only updates).") var lock = false
        @Flag(help: "Allow the staged deployment to be finalized again.") var unlock = false
        @Flag(help: "Hold /boot open until stopped (the unit's ExecStart), so an automount cannot drop it before finalize.") var hold = false
        @Flag(help: "Exit 1 with the message if the last shutdown's finalize failed or never ran.") var check = false
        @Flag(help: "With --check: acknowledge the reported problem.") var acknowledge = false
        @OptionGroup var limit: CommandLineLimitOption
        func validate() throws {
            if [lock, unlock, hold, check].filter({ $0 }).count > 1 { throw ValidationError("--lock, --unlock, --hold and --check exclude each other") }
        }
        func run() throws {
            try guarded {
                let m = try roots.manager(cmdlineLimit: limit.cmdlineLimit)
                if lock { try m.setFinalizationLocked(true); return }
                if unlock { try m.setFinalizationLocked(false); return }
                if hold { holdBoot(m.roots.boot); return }
                if check {
                    guard let p = m.finalizeProblem() else { print("no finalize problem"); return }
                    if acknowledge { try m.clearFinalizeProblem(); print("acknowledged: \(p)"); return }
                    FileHandle.stderr("boot-deploy: \(p)\n")
                    throw ExitCode(1)
                }
                switch try m.finalize() {
                case .nothingStaged: print("nothing staged")
                case .locked(let q): print("\(q) is staged but locked; not finalized")
                case .finalized(let q, let n, let warnings):
                    for w in warnings { FileHandle.stderr("boot-deploy: warning: \(w)\n") }
                    print("finalized \(q) (\(n) local /etc changes carried over)")
                }
            }
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the layout for a stateroot and its shared /var.")
        @OptionGroup var roots: RootOptions
        @Option(help: "Name of the stateroot (letters, digits, . _ -).") var stateroot: String
        func run() throws {
            try guarded {
                let d = try DeploymentManager(Roots(sysroot: roots.sysroot, boot: roots.boot ?? roots.sysroot))
                try d.initStateroot(stateroot)
            }
        }
    }

    struct Deploy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a deployment from a prepared OS tree and make it the default.",
            discussion: "The tree holds its kernel at usr/lib/modules/KVER/vmlinuz and initramfs at usr/lib/modules/KVER/initramfs.img. Prints the new deployment's id. The kernel arguments and /etc changes of the merge deployment (the booted one of the stateroot, else its default) are carried over: --karg* edit the arguments (applied as --karg-delete, --karg, --karg-append), --no-etc-merge keeps the tree's /etc.")
        @OptionGroup var roots: RootOptions
        @Option var stateroot: String
        @Option(help: "The prepared OS tree.") var tree: String
        @Option(help: "Version shown in status (default: VERSION_ID of the tree's os-release).") var version: String?
        @Option(help: "Title of the boot entry (default: PRETTY_NAME of the tree's os-release).") var title: String?
        @Option(name: .customLong("karg"), help: "KEY[=VALUE]: replaces every inherited argument with this KEY (repeatable; several with one KEY are all kept).") var kargs: [String] = []
        @OptionGroup var kargOptions: DeployKargOptions
        @Option(help: "Boot attempts before the boot loader falls back (0 = no counter).") var tries: Int = 3
        @Flag(help: "Rename the tree into place instead of hard-linking it (same filesystem).") var move = false
        @Option(help: "The updater's digest of the content, kept in the record.") var digest: String?
        @Flag(help: "Keep a software boot counter (for boot loaders that count nothing).") var softwareCounter = false
        @Flag(help: "Boot without an initramfs: the entry runs the tree's usr/lib/bootdeploy/bd-prepare-root, installed into the physical root, as init= (the kernel must drive the root's disk and filesystem without modules). Required for a tree without initramfs.img.") var noInitramfs = false
        @Flag(help: "Prepare everything now, write /boot at shutdown (boot-deploy finalize, run by bootdeploy-finalize.service).") var stage = false
        @Flag(help: "With --stage: do not finalize until 'boot-deploy finalize --unlock'.") var lockFinalization = false
        @Flag(help: "With --stage: do not start bootdeploy-finalize.service.") var noStartUnit = false
        func validate() throws {
            if lockFinalization && !stage { throw ValidationError("--lock-finalization needs --stage") }
        }
        func run() throws {
            try guarded {
                var req = DeployRequest(stateroot: stateroot, tree: tree, version: version, title: title, kargs: kargs, tries: tries,
                                        move: move, digest: digest, softwareCounter: softwareCounter)
                kargOptions.apply(to: &req)
                let m = try roots.manager(cmdlineLimit: kargOptions.limit.cmdlineLimit)
                req.noInitramfs = noInitramfs
                if stage {
                    let s = try m.stage(req, locked: lockFinalization)
                    if !noStartUnit { startFinalizeUnit() }
                    print(s.qualifiedID)
                    return
                }
                let r = try m.deployReporting(req)
                reportEtcMerge(r)
                print(r.record.qualifiedID)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every deployment in boot order, with its entry, counter and state.")
        @OptionGroup var roots: RootOptions
        @Flag(help: "Print the versioned JSON document (docs/STATUS.md).") var json = false
        func run() throws {
            try guarded {
                let s = try roots.manager().status()
                if json { print(s.json()); return }
                print(StatusText.render(s), terminator: "")
            }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the previous deployment the default; the current one stays, second.")
        @OptionGroup var roots: RootOptions
        func run() throws { try guarded { try roots.manager().rollback() } }
    }

    struct SetDefault: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-default", abstract: "Make a deployment the default.")
        @OptionGroup var roots: RootOptions
        @Argument(help: "ID or STATEROOT/ID") var id: String
        func run() throws { try guarded { try roots.manager().setDefault(id) } }
    }

    struct Pin: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Keep a deployment through cleanup.")
        @OptionGroup var roots: RootOptions
        @Argument var id: String
        func run() throws { try guarded { try roots.manager().setPinned(id, true) } }
    }

    struct Unpin: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let cleanup remove a deployment again.")
        @OptionGroup var roots: RootOptions
        @Argument var id: String
        func run() throws { try guarded { try roots.manager().setPinned(id, false) } }
    }

    struct Undeploy: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a deployment and its entry (never the booted one, never the last).")
        @OptionGroup var roots: RootOptions
        @Argument var id: String
        func run() throws { try guarded { try roots.manager().undeploy(id) } }
    }

    struct Cleanup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove deployments and kernels no entry references (not pinned, booted or staged ones).")
        @OptionGroup var roots: RootOptions
        func run() throws {
            try guarded {
                let r = try roots.manager().cleanup()
                for d in r.deployments { print("removed deployment \(d)") }
                for k in r.kernels { print("removed \(k.hasPrefix("bootdeploy/early-boot/") ? "early-boot install" : "kernel") \(k)") }
                for l in r.leftovers { print("removed leftover \(l)") }
            }
        }
    }

    struct Kargs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show or edit the kernel arguments of a deployment (the default one unless named).")
        @OptionGroup var roots: RootOptions
        @Option(help: "ID or STATEROOT/ID") var deployment: String?
        @Option(help: "Append an argument (repeatable).") var append: [String] = []
        @Option(help: "Delete every argument with this KEY, or exactly KEY=VALUE (repeatable).") var delete: [String] = []
        @Option(help: "Replace the value of KEY: KEY=VALUE (repeatable).") var replace: [String] = []
        @OptionGroup var limit: CommandLineLimitOption
        func run() throws {
            try guarded {
                let k = try roots.manager(cmdlineLimit: limit.cmdlineLimit).editKargs(deployment, append: append, delete: delete, replace: replace)
                print(k.joined(separator: " "))
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check /boot: our entries parse and name existing kernels and deployments. Exit 1 on any problem.")
        @OptionGroup var roots: RootOptions
        func run() throws {
            try guarded {
                let r = try roots.manager().validate()
                for c in r.checked { print("ok      \(c)") }
                for f in r.foreign { print("foreign \(f)") }
                for p in r.problems { print("PROBLEM \(p)") }
                if !r.problems.isEmpty { throw ExitCode(1) }
            }
        }
    }

    struct PrepareRootCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prepare-root",
            abstract: "In the initramfs: turn /sysroot into the deployment named by bootdeploy= (same as bd-prepare-root).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() throws {
            let rc = PrepareRoot.main(["bd-prepare-root"] + arguments)
            if rc != 0 { throw ExitCode(rc) }
        }
    }
}

/// Starts bootdeploy-finalize.service on a machine run by systemd, so that its ExecStop runs
/// finalize at shutdown. Elsewhere (an image being built, tests) there is nothing to start.
func startFinalizeUnit() {
    guard access("/run/systemd/system", F_OK) == 0 else { return }
    var pid: pid_t = 0
    let args = ["systemctl", "start", "--no-block", "bootdeploy-finalize.service"]
    var cargs = args.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    if posix_spawnp(&pid, "systemctl", nil, nil, &cargs, environ) == 0 {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        if status != 0 { FileHandle.stderr("boot-deploy: warning: could not start bootdeploy-finalize.service; run 'systemctl start bootdeploy-finalize.service'\n") }
    }
}

/// Keeps a directory open on /boot until SIGTERM: while this process lives, an automount cannot
/// expire /boot, so the unit's ExecStop finds it mounted.
func holdBoot(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    _ = chdir(path)
    signal(SIGTERM) { _ in _exit(0) }
    while true { pause() }
    _ = fd
}

/// The human-readable status table.
enum StatusText {
    static func render(_ s: BootStatus) -> String {
        var out = "boot: \(s.boot) (\(s.bootStrategy))\n"
        if let f = s.finalizeFailure { out += "FINALIZE FAILED on the last shutdown: \(f)\n" }
        if s.deployments.isEmpty { out += "no deployments\n" }
        for d in s.deployments {
            var marks: [String] = []
            if d.default { marks.append("default") }
            if d.booted { marks.append("booted") }
            if d.rollbackTarget { marks.append("rollback") }
            if d.pinned { marks.append("pinned") }
            if d.staged { marks.append("staged") }
            let idx = d.index.map { String($0) } ?? "-"
            let tries = d.triesLeft.map { " tries \($0) left, \(d.triesDone ?? 0) done" } ?? ""
            out += "\(idx == "0" ? "*" : " ") \(idx) \(d.stateroot)/\(d.id)  \(d.version)  \(d.state?.rawValue ?? "no entry")\(tries)"
            out += marks.isEmpty ? "\n" : "  [\(marks.joined(separator: ", "))]\n"
            out += "      \(d.title); entry \(d.entry ?? "-"); kernel \(d.kernelVersion)"
            out += d.mergedFrom.map { "; configuration from \($0)\n" } ?? "\n"
            if let e = d.earlyBoot { out += "      no initramfs: init=\(e.initPath)\n" }
            if let p = d.earlyBootProblem { out += "      PROBLEM \(p)\n" }
        }
        for f in s.foreignEntries { out += "  foreign \(f.file) \(f.title ?? "")\n" }
        for p in s.problems { out += "  PROBLEM \(p)\n" }
        for w in s.warnings { out += "  WARNING \(w)\n" }
        return out
    }
}
