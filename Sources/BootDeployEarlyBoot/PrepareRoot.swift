import BootDeploySystem
import Glibc

/// `prepare-root`: turns the physical root into the deployment named by `bootdeploy=` on the kernel
/// command line. The entry point of `bd-prepare-root` (in the initramfs, or as `init=`) and of
/// `boot-deploy prepare-root`.
///
/// It fails loudly and completely: one line on stderr and in the kernel log, everything it mounted
/// undone, a non-zero exit status (the unit then starts emergency.target).
public enum PrepareRoot {
    /// Options, parsed from the arguments.
    public struct Options: Sendable, Equatable {
        public var cmdlineFile = "/proc/cmdline"
        public var sysroot: String?
        public var runDir = "/run/bootdeploy"
        public var efivars = "/sys/firmware/efi/efivars"
        public var kmsg = "/dev/kmsg"
        public var initMode = false
        /// Arguments after `--`, handed to the real init.
        public var initArguments: [String] = []
        public var help = false

        public init() {}

        /// The physical root: given, or `/sysroot` in the initramfs, `/` as init; made absolute,
        /// since the mount table it is looked up in holds absolute paths.
        public var effectiveSysroot: String {
            let given = sysroot ?? (initMode ? "/" : "/sysroot")
            if given.hasPrefix("/") { return MountPlan.normalized(given) }
            var buf = [CChar](repeating: 0, count: 4096)
            guard getcwd(&buf, buf.count) != nil else { return MountPlan.normalized(given) }
            let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return MountPlan.normalized(MountPlan.join(cwd, given))
        }
    }

    public static let usage = """
        usage: bd-prepare-root [--sysroot DIR] [--cmdline-file FILE] [--run-dir DIR] [--efivars DIR]
                               [--kmsg FILE] [--init] [-- INIT-ARGS...]
        Mounts the deployment named by bootdeploy=<stateroot>/<id> on the kernel command line:
        its tree becomes the root (at --sysroot, default /sysroot), /var is the stateroot's var,
        /usr is read-only, the physical root stays reachable at /sysroot inside it. Writes
        <run-dir>/booted.json. With --init (or as PID 1, or when called "init") it mounts /proc,
        /sys and /run if needed, makes the deployment the root and executes bootdeploy.init=
        (default /sbin/init).
        """

    static let tag = "bootdeploy-prepare-root"

    /// Parses `arguments` as argv (the first element is the program name, unless it starts with
    /// `-`, so that a caller may pass the options alone). Returns the options or a usage error.
    /// `isInit` (PID 1) turns init mode on before the words are read, so that the kernel's
    /// leftovers for init are passed on rather than refused.
    public static func parse(_ arguments: [String], isInit: Bool = false) throws(PrepareRootError) -> Options {
        var o = Options()
        o.initMode = isInit
        var args = arguments[...]
        if let first = args.first, !first.hasPrefix("-") {
            let base = first.split(separator: "/").last.map(String.init) ?? first
            if base == "init" { o.initMode = true }
            args = args.dropFirst()
        }
        func value(_ flag: String) throws(PrepareRootError) -> String {
            guard let v = args.first else { throw PrepareRootError("\(flag) needs a value") }
            args = args.dropFirst()
            return v
        }
        while let a = args.first {
            args = args.dropFirst()
            switch a {
            case "--cmdline-file": o.cmdlineFile = try value(a)
            case "--sysroot": o.sysroot = try value(a)
            case "--run-dir": o.runDir = try value(a)
            case "--efivars": o.efivars = try value(a)
            case "--kmsg": o.kmsg = try value(a)
            case "--init": o.initMode = true
            case "-h", "--help": o.help = true
            case "--":
                o.initArguments += Array(args)
                args = []
            default:
                // The kernel hands init the command line words it does not know; as init we
                // pass them on instead of refusing to boot over them.
                if o.initMode && !a.hasPrefix("--") { o.initArguments.append(a); continue }
                throw PrepareRootError("unknown argument \(PrepareRootError.printable(a)) (see --help)")
            }
        }
        return o
    }

    /// Runs prepare-root and returns the exit status. Never returns on success as init (it
    /// executes the real init).
    public static func main(_ arguments: [String]) -> Int32 {
        var options: Options
        do {
            options = try parse(arguments, isInit: getpid() == 1)
        } catch {
            writeLine(2, "\(tag): \(error)")
            return 2
        }
        if options.help {
            writeLine(1, usage)
            return 0
        }
        let log = Log(kmsgPath: options.kmsg)
        do {
            if options.initMode {
                try runAsInit(options, log: log)
            } else {
                let done = try prepare(options, mode: .initramfs, log: log)
                log.info("\(done.name): deployment mounted at \(done.plan.sysroot)" + done.note)
            }
            return 0
        } catch {
            log.error(error.message)
            return 1
        }
    }

    /// What `prepare` did, for the caller's last words.
    struct Prepared {
        var name: DeploymentName
        var plan: MountPlan
        var record: BootedRecord
        var note: String
    }

    /// Reads the command line and the record, counts the attempt, mounts. In the initramfs also
    /// writes booted.json (undoing the mounts if it cannot: boot-health must know what booted).
    static func prepare(_ o: Options, mode: MountPlan.Mode, log: Log) throws(PrepareRootError) -> Prepared {
        let sysroot = o.effectiveSysroot
        let name = try deploymentName(cmdlineFile: o.cmdlineFile)
        let table = (try? MountTable.current()) ?? []
        guard let physical = table.last(where: { $0.target == sysroot }) else {
            throw PrepareRootError("\(sysroot) is not a mount point: the physical root must be mounted there first")
        }
        let deployDir = try PathCheck.openDirectory("\(name.stateRootPath)/deploy", below: sysroot, role: "deployments directory")
        switch (try? deployDir.kind(name.id)) ?? .missing {
        case .directory: break
        case .missing: throw PrepareRootError("deployment \(name): \(MountPlan.join(sysroot, name.deploymentPath)) does not exist")
        case .symlink: throw PrepareRootError("deployment \(name): \(MountPlan.join(sysroot, name.deploymentPath)) is a symlink, refused")
        default: throw PrepareRootError("deployment \(name): \(MountPlan.join(sysroot, name.deploymentPath)) is not a directory")
        }
        let recordPath = MountPlan.join(sysroot, name.deploymentPath + ".json")
        let bytes: [UInt8]
        do {
            bytes = try deployDir.readFile(name.id + ".json", limit: 1 << 20)
        } catch {
            throw PrepareRootError("deployment record \(recordPath): \(error.errno.description)")
        }
        let record = try EarlyBootRecord.parse(bytes, file: recordPath, expected: name)

        // Count the try before mounting: a boot that dies in the middle has used it.
        var note = ""
        var attempts: Int?
        if deployDir.exists(AttemptsFile.fileName(name.id)) {
            if physical.readOnly {
                // The kernel's `ro` (or fstab) mounted the root read-only; the counter must still
                // be written, so the root is remounted read-write for it and back read-only after,
                // leaving the rest of boot (fsck, systemd-remount-fs) what it asked for.
                do { try Mounts.remount(sysroot, readOnly: false) } catch {
                    throw PrepareRootError("boot counter: cannot remount \(sysroot) read-write: \(error)")
                }
                defer {
                    do { try Mounts.remount(sysroot, readOnly: true) } catch {
                        log.info("could not remount \(sysroot) read-only again: \(error)")
                    }
                }
                attempts = try AttemptsFile.increment(in: deployDir, id: name.id)
                note = ", \(sysroot) remounted read-write for the boot counter and back read-only"
            } else {
                attempts = try AttemptsFile.increment(in: deployDir, id: name.id)
            }
            if let attempts { note = ", boot attempt \(attempts)" + note }
        }

        let plan = MountPlan(layout: record.layout, sysroot: sysroot, mode: mode)
        let executor = MountExecutor(plan: plan, table: table)
        try executor.apply()
        let booted = BootedRecord(name: name, loaderEntry: LoaderVariables.bootCountEntry(efivars: o.efivars),
                                  softwareAttempts: attempts, bootedAt: BootedRecord.now())
        if case .initramfs = mode {
            do {
                try booted.write(runDir: o.runDir)
            } catch {
                throw PrepareRootError(error.message + executor.rollback())
            }
        }
        return Prepared(name: name, plan: plan, record: booted, note: note)
    }

    /// The deployment named on the command line, checked.
    static func deploymentName(cmdlineFile: String) throws(PrepareRootError) -> DeploymentName {
        let text: String
        do {
            let bytes = try Directory.open(cmdlineFile.hasPrefix("/") ? "/" : ".").readFile(String(cmdlineFile.drop(while: { $0 == "/" })), limit: 1 << 16)
            text = String(decoding: bytes, as: UTF8.self)
        } catch {
            throw PrepareRootError("cannot read the kernel command line: \(error)")
        }
        guard let value = KernelCommandLine(text).last("bootdeploy") else {
            throw PrepareRootError("no bootdeploy=<stateroot>/<id> on the kernel command line (\(cmdlineFile))")
        }
        return try DeploymentName(argument: value)
    }

    // MARK: init=

    /// Which API mounts to carry into the new root: those of /dev, /proc, /sys, /run that are
    /// mount points of the old root. Pure, for tests.
    public static func apiMounts(sysroot: String, table: [MountEntry]) -> [String] {
        ["dev", "proc", "sys", "run"].map { MountPlan.join(sysroot, $0) }.filter { p in table.contains { $0.target == p } }
    }

    /// The program to execute after the switch: `bootdeploy.init=` if given, else /sbin/init.
    public static func initProgram(_ cmdline: KernelCommandLine) -> String {
        if let p = cmdline.last("bootdeploy.init"), p.hasPrefix("/") { return p }
        return "/sbin/init"
    }

    static func runAsInit(_ o: Options, log: Log) throws(PrepareRootError) {
        let sysroot = o.effectiveSysroot
        var mountedHere: [String] = []
        func undoAPI() {
            for t in mountedHere.reversed() { try? Mounts.unmount(t, lazy: true) }
        }
        for fs in apiFilesystems {
            let target = MountPlan.join(sysroot, fs.dir)
            let table = (try? MountTable.current()) ?? []
            if table.contains(where: { $0.target == target }) { continue }
            guard (try? Directory.open(target, noFollow: true)) != nil else { continue }
            do {
                try Mounts.mount(fstype: fs.fstype, source: fs.fstype, target: target, options: fs.options,
                                 flags: UInt(fs.flags))
                mountedHere.append(target)
            } catch {
                undoAPI()
                throw PrepareRootError("mounting \(fs.fstype) at \(target): \(error)")
            }
        }
        let cmdlineText = (try? Directory.open(o.cmdlineFile.hasPrefix("/") ? "/" : ".").readText(String(o.cmdlineFile.drop(while: { $0 == "/" })))) ?? ""
        let program = initProgram(KernelCommandLine(cmdlineText))
        let api = apiMounts(sysroot: sysroot, table: (try? MountTable.current()) ?? [])
        let done: Prepared
        do {
            done = try prepare(o, mode: .initProcess(apiMounts: api), log: log)
        } catch {
            undoAPI()
            throw error
        }
        // Now inside the new root. API filesystems that the old root did not have (an image-based
        // physical root often has no /proc or /run of its own) are mounted here, fresh.
        for fs in apiFilesystems {
            let target = "/" + fs.dir
            let table = (try? MountTable.current()) ?? []
            if table.contains(where: { $0.target == target }) { continue }
            guard (try? Directory.open(target, noFollow: true)) != nil else { continue }
            do {
                try Mounts.mount(fstype: fs.fstype, source: fs.fstype, target: target, options: fs.options,
                                 flags: UInt(fs.flags))
            } catch {
                log.info("mounting \(fs.fstype) at \(target) in the new root: \(error); booting on without it")
            }
        }
        var record = done.record
        if record.loaderEntry == nil { record.loaderEntry = mountEFIVariables(efivars: o.efivars, log: log) }
        do { try record.write(runDir: o.runDir) } catch {
            log.info("\(error.message); booting on without it")
        }
        log.info("\(done.name): deployment is the root, executing \(program)" + done.note)
        dropEarlyBootEnvironment()
        let argv = [program] + o.initArguments
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        execv(program, cargs)
        throw PrepareRootError("execv(\(program)): \(String(cString: strerror(Glibc.errno)))")
    }

    // MARK: Output

    static func writeLine(_ fd: Int32, _ text: String) {
        let line = text.hasSuffix("\n") ? text : text + "\n"
        var bytes = Array(line.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { if n < 0 && Glibc.errno == EINTR { continue }; return }
            off += n
        }
    }

    /// One line to the console and, when it can be opened, one to the kernel log: in early boot
    /// the kernel log is what survives into the journal and what the emergency shell shows.
    struct Log {
        var kmsgPath: String

        func error(_ message: String) { emit(priority: 3, fd: 2, message) }
        func info(_ message: String) { emit(priority: 6, fd: 1, message) }

        func emit(priority: Int, fd: Int32, _ message: String) {
            let line = "\(tag): \(PrepareRootError.printable(message))"
            writeLine(fd, line)
            let k = open(kmsgPath, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
            guard k >= 0 else { return }
            writeLine(k, "<\(priority)>\(line)")
            close(k)
        }
    }
}
