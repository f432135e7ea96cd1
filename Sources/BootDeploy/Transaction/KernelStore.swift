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

    /// Finds the kernel in a tree. Exactly one kernel version must carry a vmlinuz.
    static func find(in tree: Directory, treePath: String, initramfs: Bool = true) throws(BootDeployError) -> Artifacts {
        guard (try? tree.kind("usr/lib/modules", followLinks: false)) == .directory else {
            throw .badInput(file: "\(treePath)/usr/lib/modules", line: 0, message: "the tree has no kernel (usr/lib/modules/<kver>/vmlinuz)")
        }
        let mods = try sys { () throws(SystemError) in try tree.openDirectory("usr/lib/modules") }
        let kvers = try sys({ () throws(SystemError) in try mods.entries() }).filter { (try? mods.kind($0 + "/vmlinuz")) == .file }
        guard !kvers.isEmpty else {
            throw .badInput(file: "\(treePath)/usr/lib/modules", line: 0, message: "the tree has no kernel (usr/lib/modules/<kver>/vmlinuz)")
        }
        guard kvers.count == 1 else {
            throw .badInput(file: "\(treePath)/usr/lib/modules", line: 0, message: "more than one kernel (\(kvers.joined(separator: ", "))); a deployment boots one")
        }
        let kver = kvers[0]
        let d = try sys { () throws(SystemError) in try mods.openDirectory(kver) }
        if initramfs && (try? d.kind("initramfs.img")) != .file {
            throw .badInput(file: "\(treePath)/usr/lib/modules/\(kver)/initramfs.img", line: 0,
                            message: "the tree has a kernel but no initramfs; to boot it without one (its kernel must drive the root's disk and filesystem without modules), deploy with --no-initramfs")
        }
        let hasDT = (try? d.kind("devicetree")) == .file
        var a = Artifacts(kernelVersion: kver, modulesDir: d, hasDevicetree: hasDT, hasInitramfs: initramfs, digest: "")
        let h = SHA256()
        for f in files where a.stores(f) {
            let bytes = try sys { () throws(SystemError) in try d.readFile(f, limit: 1 << 30) }
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
            for k in (try? s.entries()) ?? [] where (try? s.kind(k)) == .directory {
                out.append("bootdeploy/\(sr)/\(k)")
            }
        }
        return out
    }
}
