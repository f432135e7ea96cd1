import BootDeploySystem
import CBootDeployShim
import Glibc

/// What prepare-root mounts as init= (no initramfs) so that it can report as fully as in the
/// initramfs: `/dev` (devtmpfs, for `/dev/kmsg`: the success line then reaches the kernel log and the
/// journal), `/proc`, `/sys`, `/run` (booted.json), and efivarfs (booted.json's `loaderEntry`, from
/// LoaderBootCountPath), loading the efivarfs module from the deployment when the kernel has it as
/// a module. All of them are mounted where systemd would mount them, with systemd's flags: systemd
/// as PID 1 finds them mounted and leaves them (it mounts only what is not a mount point yet).
extension PrepareRoot {
    /// One API filesystem: its directory (relative to the root), type, options and mount flags.
    struct APIFilesystem {
        var dir: String
        var fstype: String
        var options: String?
        var flags: Int
    }

    /// In mount order: `/dev` first, so that the kernel log is writable as early as possible.
    static let apiFilesystems: [APIFilesystem] = [
        APIFilesystem(dir: "dev", fstype: "devtmpfs", options: "mode=0755", flags: MS_NOSUID),
        APIFilesystem(dir: "proc", fstype: "proc", options: nil, flags: MS_NOSUID | MS_NODEV | MS_NOEXEC),
        APIFilesystem(dir: "sys", fstype: "sysfs", options: nil, flags: MS_NOSUID | MS_NODEV | MS_NOEXEC),
        APIFilesystem(dir: "run", fstype: "tmpfs", options: "mode=0755", flags: MS_NOSUID | MS_NODEV),
    ]

    /// The module file of `module` (`efivarfs`) named by a `modules.dep` text, relative to the
    /// modules directory, when it is an uncompressed `.ko` with no dependencies (the only kind
    /// prepare-root loads itself: it has no decompressor and no dependency resolution). Pure.
    public static func standaloneModule(_ module: String, modulesDep: String) -> String? {
        for line in modulesDep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = line[..<colon]
            guard path.split(separator: "/").last.map(String.init) == module + ".ko" else { continue }
            let deps = line[line.index(after: colon)...].split(separator: " ")
            return deps.isEmpty ? String(path) : nil
        }
        return nil
    }

    /// Whether the running kernel knows a filesystem type (`/proc/filesystems`).
    static func kernelHasFilesystem(_ fstype: String) -> Bool {
        guard let text = try? Directory.open("/proc").readText("filesystems") else { return false }
        return text.split(separator: "\n").contains { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.map(String.init) == fstype }
    }

    /// The kernel release (`uname -r`).
    static func kernelRelease() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Loads `module` from `/usr/lib/modules/<release>/` of the (new) root. Returns nil on success,
    /// else why not.
    static func loadModule(_ module: String) -> String? {
        guard let release = kernelRelease() else { return "uname failed" }
        let dir = "/usr/lib/modules/\(release)"
        guard let mods = try? Directory.open(dir), let dep = try? mods.readText("modules.dep") else {
            return "\(dir)/modules.dep cannot be read"
        }
        guard let rel = standaloneModule(module, modulesDep: dep) else {
            return "\(dir)/modules.dep has no uncompressed \(module).ko without dependencies"
        }
        let fd = open("\(dir)/\(rel)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "open \(dir)/\(rel): \(String(cString: strerror(Glibc.errno)))" }
        defer { close(fd) }
        if bd_finit_module(fd) != 0 && Glibc.errno != EEXIST {
            return "finit_module \(dir)/\(rel): \(String(cString: strerror(Glibc.errno)))"
        }
        return nil
    }

    /// After the switch: efivarfs at `efivars` (normally /sys/firmware/efi/efivars) on an EFI boot,
    /// so that LoaderBootCountPath can be read. Returns the LoaderBootCountPath entry, or nil (not an
    /// EFI boot, no such variable, or efivarfs unavailable, which is said in the log).
    static func mountEFIVariables(efivars: String, log: Log) -> String? {
        let efiDir = String(efivars[..<(efivars.lastIndex(of: "/") ?? efivars.endIndex)])
        guard !efiDir.isEmpty, (try? Directory.open(efiDir)) != nil else { return nil }
        let table = (try? MountTable.current()) ?? []
        if !table.contains(where: { $0.target == efivars }) {
            if !kernelHasFilesystem("efivarfs"), let why = loadModule("efivarfs") {
                log.info("efivarfs is not available (\(why)); booted.json has no loaderEntry")
                return nil
            }
            do {
                try Mounts.mount(fstype: "efivarfs", source: "efivarfs", target: efivars, options: nil,
                                 flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC))
            } catch {
                log.info("mounting efivarfs at \(efivars): \(error); booted.json has no loaderEntry")
                return nil
            }
        }
        return LoaderVariables.bootCountEntry(efivars: efivars)
    }

    /// The kernel hands `LD_LIBRARY_PATH=` of an entry made by `deploy --no-initramfs` to init as its
    /// environment; it names libraries of the physical root and must not reach the real init.
    static func dropEarlyBootEnvironment() {
        if let v = getenv("LD_LIBRARY_PATH"), String(cString: v).hasPrefix("/bootdeploy/") {
            unsetenv("LD_LIBRARY_PATH")
        }
    }
}
