import BootDeployEarlyBoot
import BootDeploySystem
import Glibc

/// What a deployment booted without an initramfs needs in its record: where its early-boot binary
/// is installed in the physical root. The entry's `init=` (and, for a dynamically linked binary,
/// `LD_LIBRARY_PATH=`) are derived from it, never stored among the kernel arguments, so that they
/// are never carried over to another deployment.
extension EarlyBootRef {
    /// The binary the kernel runs as init, as an absolute path of the physical root.
    public var initPath: String { "/\(path)/\(EarlyBootBundle.binaryName)" }
    public var libraryDir: String { "/\(path)/lib" }

    /// The kernel arguments that make the kernel run it: the kernel hands `X=Y` words it does not
    /// know to init as its environment, which is how the loader finds the copied libraries before
    /// anything else is mounted (prepare-root removes the variable before it executes the real init).
    public var kernelArguments: [String] {
        ["init=\(initPath)"] + (libraries.isEmpty ? [] : ["LD_LIBRARY_PATH=\(libraryDir)"])
    }
}

/// The early-boot binary of an OS tree (`usr/lib/bootdeploy/bd-prepare-root`) with exactly the
/// libraries it loads and their loader, all taken from that tree, so that it matches the OS it
/// boots. Installed once per content under `$SYSROOT/bootdeploy/early-boot/<digest>/`, where the
/// kernel finds it as `init=` before any deployment is mounted.
struct EarlyBootBundle {
    static let binaryName = "bd-prepare-root"
    static let treeBinary = "usr/lib/bootdeploy/bd-prepare-root"
    static let directory = "early-boot"
    /// Where the loader of a glibc system looks, relative to the tree (multiarch first).
    static let libraryDirs = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu",
                              "lib/aarch64-linux-gnu", "usr/lib/riscv64-linux-gnu", "lib/riscv64-linux-gnu",
                              "usr/lib64", "lib64", "usr/lib", "lib"]

    /// Source bytes: the binary as the tree has it, then `lib/<name>` for each library.
    var binary: [UInt8]
    var libraries: [(name: String, bytes: [UInt8])]
    /// The loader's file name (`ld-linux-x86-64.so.2`), nil for a static binary.
    var loader: String?
    var digest: String

    var ref: EarlyBootRef {
        EarlyBootRef(path: "bootdeploy/\(EarlyBootBundle.directory)/\(digest)", libraries: libraries.map(\.name))
    }

    /// Collects the binary and its library closure from `tree`.
    static func collect(from tree: Directory, treePath: String) throws(BootDeployError) -> EarlyBootBundle {
        let resolver = TreeResolver(tree: tree, treePath: treePath)
        guard let binPath = try resolver.resolveFile(treeBinary) else {
            throw .badInput(file: "\(treePath)/\(treeBinary)", line: 0,
                            message: "the tree has no early-boot binary; a deployment without an initramfs boots with init= pointing at it (install BootDeploy into the tree: make install DESTDIR=TREE)")
        }
        let binary = try sys { () throws(SystemError) in try tree.readFile(binPath, limit: 256 << 20) }
        let elf = try ELFFile(binary, file: "\(treePath)/\(binPath)")
        var libraries: [(name: String, bytes: [UInt8])] = []
        var loader: String?
        if let interp = try elf.interpreter() {
            guard let interpPath = try resolver.resolveFile(interp) else {
                throw .badInput(file: "\(treePath)\(interp)", line: 0, message: "the early-boot binary's loader is not in the tree")
            }
            let name = String(interp.split(separator: "/").last ?? "ld.so")
            loader = name
            libraries.append((name, try sys { () throws(SystemError) in try tree.readFile(interpPath, limit: 64 << 20) }))
            var queue = try elf.needed()
            var seen: Set<String> = [name]
            while !queue.isEmpty {
                let lib = queue.removeFirst()
                if seen.contains(lib) { continue }
                seen.insert(lib)
                guard let p = try resolver.findLibrary(lib, in: libraryDirs) else {
                    throw .badInput(file: "\(treePath)/\(binPath)", line: 0,
                                    message: "needs \(lib), which is in none of the tree's library directories (\(libraryDirs.joined(separator: ", ")))")
                }
                let bytes = try sys { () throws(SystemError) in try tree.readFile(p, limit: 256 << 20) }
                queue += try ELFFile(bytes, file: "\(treePath)/\(p)").needed()
                libraries.append((lib, bytes))
            }
        }
        libraries.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let h = SHA256()
        h.update(Array("\(binaryName)\u{0}\(binary.count)\u{0}".utf8))
        h.update(binary)
        for l in libraries {
            h.update(Array("lib/\(l.name)\u{0}\(l.bytes.count)\u{0}".utf8))
            h.update(l.bytes)
        }
        return EarlyBootBundle(binary: binary, libraries: libraries, loader: loader, digest: h.finalizeHex())
    }

    /// The files as installed: the binary's interpreter points at the loader copied beside it.
    func installedFiles() throws(BootDeployError) -> [(name: String, bytes: [UInt8], mode: mode_t)] {
        var bin = binary
        if let loader {
            bin = try ELFFile(binary, file: Self.treeBinary).withInterpreter("\(ref.libraryDir)/\(loader)")
        }
        return [(Self.binaryName, bin, 0o755)] + libraries.map { ("lib/\($0.name)", $0.bytes, 0o755) }
    }

    /// Installs the bundle into `$SYSROOT/bootdeploy/early-boot/<digest>/` unless an identical one is
    /// there: every file written and flushed in `.<digest>.tmp/`, which is then renamed into place
    /// (exchanged with a damaged install of the same name, which is removed after) and its parent
    /// flushed. A crash leaves the old install or the new one whole under the final name, and a `.tmp`
    /// that cleanup removes. Returns whether it was written now.
    @discardableResult
    func install(into sysroot: Sysroot) throws(BootDeployError) -> Bool {
        let files = try installedFiles()
        let bootdeployDir = try sysroot.requireBase()
        try Self.makeMountPoints(in: sysroot.root)
        return try sys { () throws(SystemError) -> Bool in
            try bootdeployDir.makeDirectory(Self.directory)
            let parent = try bootdeployDir.openDirectory(Self.directory)
            let exists = (try parent.kind(digest)) == .directory
            if exists, files.allSatisfy({ f in (try? parent.readFile("\(digest)/\(f.name)", limit: 256 << 20)) == f.bytes }) {
                return false
            }
            let tmp = ".\(digest).tmp"
            try parent.removeTree(tmp)
            try parent.makeDirectory(tmp)
            let t = try parent.openDirectory(tmp)
            if files.count > 1 { try t.makeDirectory("lib") }
            for f in files { try t.writeFile(f.name, f.bytes, mode: f.mode) }
            if files.count > 1 { try t.openDirectory("lib").sync() }
            try t.sync()
            if exists {
                try parent.rename(tmp, to: digest, exchange: true)
                try parent.sync()
                try parent.removeTree(tmp)
            } else {
                try parent.rename(tmp, to: digest)
            }
            try parent.sync()
            try bootdeployDir.sync()
            return true
        }
    }

    /// The directories the API filesystems are mounted on. The kernel runs init in the physical root,
    /// and prepare-root needs /proc there before it can read the command line (devtmpfs on /dev for
    /// the kernel log, /sys and /run are carried into the deployment the same way); an image-based
    /// physical root often has none of them.
    static let mountPoints = ["dev", "proc", "sys", "run"]

    static func makeMountPoints(in root: Directory) throws(BootDeployError) {
        let missing = mountPoints.filter { (try? root.kind($0)) == .missing }
        if missing.isEmpty { return }
        try sys { () throws(SystemError) in
            for d in missing { try root.makeDirectory(d, mode: 0o755) }
            try root.sync()
        }
    }

    /// What is wrong with the install at `ref` compared to this bundle (collected from the
    /// deployment's tree), or nil when it is complete and identical.
    func problem(with ref: EarlyBootRef, sysroot: Directory, sysrootPath: String) -> String? {
        let where_ = "\(sysrootPath)/\(ref.path)"
        guard (try? sysroot.kind(ref.path)) == .directory else { return "\(where_) is missing" }
        if ref != self.ref {
            return "\(where_) is stale: the deployment's own \(Self.treeBinary) and libraries now make \(self.ref.path)"
        }
        let expected: [(name: String, bytes: [UInt8], mode: mode_t)]
        do { expected = try installedFiles() } catch { return "\(where_) cannot be compared: \(error)" }
        for f in expected {
            let have: [UInt8]
            do { have = try sysroot.readFile("\(ref.path)/\(f.name)", limit: 256 << 20) } catch {
                return error.errno == .noSuchFileOrDirectory ? "\(where_)/\(f.name) is missing" : "\(where_)/\(f.name): \(error)"
            }
            if have != f.bytes { return "\(where_)/\(f.name) differs from what was installed (damaged)" }
        }
        return nil
    }
}
