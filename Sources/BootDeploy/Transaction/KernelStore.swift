import BootDeploySystem

/// Kernels, initramfs images and devicetrees on /boot, stored once per content digest under
/// `bootdeploy/<stateroot>/<digest>/`. A directory appears under its final name only when all of
/// its files are written and flushed, so an entry never names a partial kernel.
struct KernelStore {
    let boot: BootPartition

    /// The boot artifacts of an OS tree: `usr/lib/modules/<kver>/{vmlinuz,initramfs.img[,devicetree]}`.
    /// With `initramfs` false the tree's initramfs (if any) is neither required nor stored.
    struct Artifacts {
        var kernelVersion: String
        var modulesDir: Directory
        var hasDevicetree: Bool
        /// false for a deployment that boots without an initramfs (`deploy --no-initramfs`).
        var hasInitramfs = true
        var digest: String

        func stores(_ file: String) -> Bool {
            (file != "devicetree" || hasDevicetree) && (file != "initramfs.img" || hasInitramfs)
        }
    }

    static let files = ["vmlinuz", "initramfs.img", "devicetree"]

    /// Finds the kernel in a tree, never outside it (TreeKernel). Exactly one kernel version must
    /// carry a vmlinuz, which must be a regular file with kernel content (KernelImage); `warnings`
    /// gets what is deployed although it looks odd. With `initramfs` false the tree's initramfs
    /// (if any) is neither required nor stored.
    static func find(in tree: Directory, treePath: String, initramfs: Bool = true, warnings: inout [String]) throws(BootDeployError) -> Artifacts {
        let noKernel = "the tree has no kernel (usr/lib/modules/<kver>/vmlinuz)"
        guard let mods = try TreeKernel.openInTree(tree, "usr/lib/modules", treePath: treePath) else {
            throw .badInput(file: "\(treePath)/usr/lib/modules", line: 0, message: noKernel)
        }
        var kvers: [(String, Directory)] = []
        for name in try sys({ () throws(SystemError) in try mods.entries() }) {
            guard let d = try TreeKernel.openInTree(tree, "usr/lib/modules/\(name)", treePath: treePath) else { continue }
            if d.exists("vmlinuz") { kvers.append((name, d)) }
        }
        guard !kvers.isEmpty else { throw .badInput(file: "\(treePath)/usr/lib/modules", line: 0, message: noKernel) }
        guard kvers.count == 1 else {
            throw .badInput(file: "\(treePath)/usr/lib/modules", line: 0, message: "more than one kernel (\(kvers.map(\.0).joined(separator: ", "))); a deployment boots one")
        }
        let (kver, d) = kvers[0]
        let shown = "\(treePath)/usr/lib/modules/\(kver)"
        if let what = try TreeKernel.notAFile("vmlinuz", in: d) {
            throw .badInput(file: "\(shown)/vmlinuz", line: 0, message: "the kernel is \(what)")
        }
        if initramfs && !d.exists("initramfs.img") {
            throw .badInput(file: "\(shown)/initramfs.img", line: 0,
                            message: "the tree has a kernel but no initramfs; to boot it without one (its kernel must drive the root's disk and filesystem without modules), deploy with --no-initramfs")
        }
        if initramfs, let what = try TreeKernel.notAFile("initramfs.img", in: d) {
            throw .badInput(file: "\(shown)/initramfs.img", line: 0, message: "the initramfs is \(what)")
        }
        let hasDT = d.exists("devicetree")
        if hasDT, let what = try TreeKernel.notAFile("devicetree", in: d) {
            throw .badInput(file: "\(shown)/devicetree", line: 0, message: "the devicetree is \(what)")
        }
        var a = Artifacts(kernelVersion: kver, modulesDir: d, hasDevicetree: hasDT, hasInitramfs: initramfs, digest: "")
        let h = SHA256()
        for f in files where a.stores(f) {
            if f != "vmlinuz" {
                // The initramfs (tens of MB) and the devicetree are hashed as they are read, never
                // held whole; a file that changes size meanwhile is refused, not half-hashed.
                let size = Int(try sys { () throws(SystemError) in try d.status(f) }.st_size)
                if size == 0 { throw .badInput(file: "\(shown)/\(f)", line: 0, message: "is empty (0 bytes)") }
                h.update(Array("\(f)\u{0}\(size)\u{0}".utf8))
                let read = try sys { () throws(SystemError) in try d.readChunks(f) { h.update($0) } }
                if read != size { throw .badInput(file: "\(shown)/\(f)", line: 0, message: "changed while it was read (\(size) bytes, then \(read))") }
                continue
            }
            // The kernel is read whole: its header check may look anywhere in it (ELF segments).
            let bytes = try sys { () throws(SystemError) in try d.readFile(f, limit: 1 << 30) }
            if bytes.isEmpty { throw .badInput(file: "\(shown)/\(f)", line: 0, message: "is empty (0 bytes)") }
            switch KernelImage.check(bytes) {
            case .recognised: break
            case .broken(let why): throw .badInput(file: "\(shown)/vmlinuz", line: 0, message: "the kernel \(why)")
            case .unknown:
                warnings.append("\(shown)/vmlinuz has no kernel image header BootDeploy knows (bzImage, PE, ARM64, RISC-V, ARM zImage, ELF, compressed); deployed as it is")
            }
            h.update(Array("\(f)\u{0}\(bytes.count)\u{0}".utf8))
            h.update(bytes)
        }
        a.digest = h.finalizeHex()
        return a
    }

    /// Makes sure the artifacts are on /boot; returns the directory relative to the boot root and
    /// whether it was written now (false: the same content was already there).
    func store(_ a: Artifacts, stateroot: String) throws(BootDeployError) -> (path: String, written: Bool) {
        let rel = "bootdeploy/\(stateroot)/\(a.digest)"
        let d = boot.dir
        if (try? d.kind(rel)) == .directory { return (rel, false) }
        try sys { () throws(SystemError) in try d.makeDirectory("bootdeploy/\(stateroot)", parents: true) }
        let parent = try sys { () throws(SystemError) in try d.openDirectory("bootdeploy/\(stateroot)") }
        let tmp = ".\(a.digest).tmp"
        do {
            try sys { () throws(SystemError) in
                try parent.removeTree(tmp)
                try parent.makeDirectory(tmp)
                let t = try parent.openDirectory(tmp)
                for f in KernelStore.files where a.stores(f) {
                    try t.copyFile(f, from: a.modulesDir, to: f, mode: 0o644)
                }
                try t.sync()
                try parent.rename(tmp, to: a.digest)
                try parent.sync()
                try d.openDirectory("bootdeploy").sync()
            }
        } catch {
            try? sys { () throws(SystemError) in try parent.removeTree(tmp); try parent.removeTree(a.digest) }
            throw error
        }
        return (rel, true)
    }

    /// Removes a kernel directory that no entry references any more.
    func remove(_ rel: String) throws(BootDeployError) {
        try sys { () throws(SystemError) in
            try boot.dir.removeTree(rel)
            if let slash = rel.lastIndex(of: "/") { try boot.dir.openDirectory(String(rel[..<slash])).sync() }
        }
    }

    /// Every kernel directory of ours on /boot, relative to the boot root.
    func all() -> [String] {
        guard let b = try? boot.dir.openDirectory("bootdeploy") else { return [] }
        var out: [String] = []
        for sr in (try? b.entries()) ?? [] where Names.isValid(sr) {
            guard let s = try? b.openDirectory(sr) else { continue }
            // `uki` holds the stateroot's unified kernel images (UKIStore), not a kernel.
            for k in (try? s.entries()) ?? [] where k != "uki" && (try? s.kind(k)) == .directory {
                out.append("bootdeploy/\(sr)/\(k)")
            }
        }
        return out
    }
}
