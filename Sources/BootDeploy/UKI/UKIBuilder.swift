import BootDeploySystem
import Glibc

/// What goes into a unified kernel image (Boot Loader Spec Type #2): the systemd stub with the
/// kernel, initramfs, command line, os-release and kernel release as PE sections.
public struct UKIContents: Sendable {
    /// The os-release text of `.osrel` (see `UKIOSRelease`), which systemd-boot and bootctl read for
    /// the entry's title, sort key and version.
    public var osRelease: String
    /// The kernel command line of `.cmdline`, including `bootdeploy=`.
    public var commandLine: String
    /// `uname -r` of the kernel (`.uname`).
    public var kernelRelease: String
    /// Paths of the kernel image and the initramfs (nil: none, the early-boot binary is init).
    public var kernelPath: String
    public var initrdPath: String?

    public init(osRelease: String, commandLine: String, kernelRelease: String, kernelPath: String, initrdPath: String?) {
        self.osRelease = osRelease
        self.commandLine = commandLine
        self.kernelRelease = kernelRelease
        self.kernelPath = kernelPath
        self.initrdPath = initrdPath
    }
}

/// Where each added section goes. Pure: the stub's headers in, addresses out.
///
/// Sections start after the stub's last section and each starts on the stub's SectionAlignment
/// (the firmware's loader maps every section at its virtual address; overlapping the stub's
/// `.data` or `.sbat` would corrupt it). `.linux` comes last: the stub hands the kernel the memory
/// after it, and a kernel that decompresses in place may grow past its section's end.
public enum UKILayout {
    public static let order = [".osrel", ".cmdline", ".uname", ".initrd", ".linux"]

    public struct Placement: Sendable, Equatable {
        public var name: String
        public var virtualAddress: UInt64
    }

    /// `sizes` maps section names to byte counts; names not in `order` are refused.
    public static func plan(stub: PEImage, sizes: [String: Int]) throws(BootDeployError) -> [Placement] {
        for name in sizes.keys where !order.contains(name) { throw .refused("unknown UKI section \(quoted(name))") }
        for name in order where stub.section(name) != nil {
            throw .badInput(file: stub.file, line: 0, message: "the stub already has a \(name) section (is it a UKI, not a stub?)")
        }
        var next = stub.endOfSections
        var out: [Placement] = []
        for name in order {
            guard let size = sizes[name] else { continue }
            out.append(Placement(name: name, virtualAddress: stub.imageBase + next))
            next = PEImage.alignUp(next + UInt64(max(size, 1)), stub.sectionAlignment)
        }
        return out
    }
}

/// Builds a UKI with `objcopy` on systemd's stub (Debian 12 ships no ukify).
public enum UKIBuilder {
    public static let defaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

    /// Writes the image to `output` (a path the caller renames into place; it is fsynced).
    /// `scratch` is an existing directory for the small section files (`.uki-*.tmp`, removed after,
    /// and by cleanup should a crash leave them).
    public static func build(_ contents: UKIContents, stub: String = defaultStub, scratch: String, output: String) throws(BootDeployError) {
        let (stubDir, stubName) = split(stub)
        let stubImage = try PEImage(try sys { () throws(SystemError) in try Directory.open(stubDir).readFile(stubName, limit: 16 << 20) }, file: stub)
        let scratchDir: Directory
        do { scratchDir = try Directory.open(scratch) } catch { throw .system(error) }
        let small: [(String, String, String)] = [
            (".osrel", ".uki-osrel.tmp", contents.osRelease),
            (".cmdline", ".uki-cmdline.tmp", contents.commandLine),
            (".uname", ".uki-uname.tmp", contents.kernelRelease),
        ]
        var files: [String: String] = [:]
        var sizes: [String: Int] = [:]
        var finished = false
        defer { if !finished { for (_, f, _) in small where scratchDir.exists(f) { try? scratchDir.remove(f) } } }
        for (section, file, text) in small {
            do { try scratchDir.writeFile(file, Array(text.utf8), sync: false) } catch { throw .system(error) }
            files[section] = scratch + "/" + file
            sizes[section] = text.utf8.count
        }
        files[".linux"] = contents.kernelPath
        sizes[".linux"] = try size(of: contents.kernelPath)
        if let initrd = contents.initrdPath {
            files[".initrd"] = initrd
            sizes[".initrd"] = try size(of: initrd)
        }
        var args: [String] = []
        for p in try UKILayout.plan(stub: stubImage, sizes: sizes) {
            args += ["--add-section", "\(p.name)=\(files[p.name]!)",
                     "--set-section-flags", "\(p.name)=contents,alloc,load,readonly,data",
                     "--change-section-vma", "\(p.name)=0x\(String(p.virtualAddress, radix: 16))"]
        }
        try ExternalTool.run("objcopy", args + [stub, output])
        do { for (_, f, _) in small { try scratchDir.remove(f) } } catch { throw .system(error) }
        finished = true
        let (outDir, outName) = split(output)
        let written = try sys { () throws(SystemError) in try Directory.open(outDir).readFile(outName, limit: 1 << 30) }
        guard try PEImage(written, file: output).section(".linux") != nil else { throw .refused("objcopy wrote \(output) without a .linux section") }
        try syncFile(output)
    }

    static func size(of path: String) throws(BootDeployError) -> Int {
        let (dir, name) = split(path)
        do { return Int(try Directory.open(dir).status(name, followLinks: true).st_size) } catch { throw .system(error) }
    }

    /// objcopy does not flush what it writes; the image must be on disk before it is renamed into place.
    static func syncFile(_ path: String) throws(BootDeployError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .refused("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .refused("fsync \(path): \(String(cString: strerror(errno)))") }
    }

    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
