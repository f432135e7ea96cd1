import BootDeployEarlyBoot
import BootDeploySystem

/// UKIs on /boot, stored once per content under `bootdeploy/<stateroot>/uki/<sha256>.efi`.
///
/// An image is built (and signed) under a `.tmp` name, flushed, and renamed to its digest only when
/// complete; the entry that names it is swapped in afterwards by `EntryTransaction`. A crash
/// leaves at most a `.tmp` file, which every store and cleanup removes. An image already present
/// under its digest is not written again.
struct UKIStore {
    let boot: BootPartition

    static func dirPath(_ stateroot: String) -> String { "bootdeploy/\(stateroot)/uki" }

    /// Builds the UKI for `record` from the stored kernel (`record.kernelDir`) or from the tree's own
    /// image (`treeUKI`: its bytes and name), signs it as `config` says, and stores it.
    func place(_ record: DeploymentRecord, config: UKIConfig, osRelease: [String: String],
               treeUKI: (name: String, bytes: [UInt8])?) throws(BootDeployError) -> (ref: UKIRef, written: Bool) {
        _ = try config.signing.decide()   // refuse before building anything
        let rel = Self.dirPath(record.stateroot)
        try sys { () throws(SystemError) in try boot.dir.makeDirectory(rel, parents: true) }
        let u = try sys { () throws(SystemError) in try boot.dir.openDirectory(rel) }
        let here = "\(boot.path)/\(rel)"
        try sweepTemporaries(u)
        let built = ".\(record.id).build.tmp", signedName = ".\(record.id).signed.tmp"
        let treeLinux = ".\(record.id).linux.tmp", treeInitrd = ".\(record.id).initrd.tmp"
        // On failure, best effort (the error is already on its way; a later store or cleanup sweeps
        // what stays). On success, every removal must succeed like any other step.
        var finished = false
        defer { if !finished { for n in [built, signedName, treeLinux, treeInitrd] where u.exists(n) { try? u.remove(n) } } }

        var contents = UKIContents(
            osRelease: UKIOSRelease.render(title: record.title, deployment: record.name, treeOSRelease: osRelease),
            commandLine: EntryRenderer.commandLine(record), kernelRelease: record.kernelVersion,
            kernelPath: "\(boot.path)/\(record.kernelDir)/vmlinuz",
            initrdPath: record.earlyBoot == nil ? "\(boot.path)/\(record.kernelDir)/initramfs.img" : nil)
        var source = "built"
        if let (name, bytes) = treeUKI {
            let pe = try PEImage(bytes, file: name)
            guard let linux = pe.contents(".linux") else { throw .badInput(file: name, line: 0, message: "the tree's UKI has no .linux section") }
            try sys { () throws(SystemError) in try u.writeFile(treeLinux, linux, sync: false) }
            contents.kernelPath = "\(here)/\(treeLinux)"
            if let initrd = pe.contents(".initrd") {
                try sys { () throws(SystemError) in try u.writeFile(treeInitrd, initrd, sync: false) }
                contents.initrdPath = "\(here)/\(treeInitrd)"
            } else { contents.initrdPath = nil }
            if let os = pe.contents(".osrel") {
                // The vendor's (or our previous) os-release, without the version keys that would
                // take the image out of the name order (UKIOSRelease).
                var tree = UKIOSRelease.parse(String(decoding: os, as: UTF8.self))
                tree["VERSION_ID"] = tree["VERSION_ID"] ?? tree["BOOTDEPLOY_VERSION_ID"]
                contents.osRelease = UKIOSRelease.render(title: record.title, deployment: record.name, treeOSRelease: tree)
            }
            if let un = pe.contents(".uname") { contents.kernelRelease = String(decoding: un, as: UTF8.self) }
            source = "tree:\(name.split(separator: "/").last.map(String.init) ?? name)"
        }
        try UKIBuilder.build(contents, stub: config.stub, scratch: here, output: "\(here)/\(built)")
        let signed = try UKISigner.apply(config.signing, input: "\(here)/\(built)", output: "\(here)/\(signedName)")
        let final = signed ? signedName : built
        try sys { () throws(SystemError) in
            for n in [treeLinux, treeInitrd] + (signed ? [built] : []) where u.exists(n) { try u.remove(n) }
        }
        let h = SHA256()
        _ = try sys { () throws(SystemError) in try u.readChunks(final) { h.update($0) } }
        let name = h.finalizeHex() + ".efi"
        let ref = UKIRef(path: "\(rel)/\(name)", signed: signed, source: source)
        if u.exists(name) {
            try sys { () throws(SystemError) in try u.remove(final) }
            finished = true
            return (ref, false)
        }
        try sys { () throws(SystemError) in
            try u.rename(final, to: name)
            try u.sync()
            try boot.dir.openDirectory("bootdeploy/\(record.stateroot)").sync()
        }
        finished = true
        return (ref, true)
    }

    /// Removes `.tmp` files an interrupted build or signing left; returns their names.
    @discardableResult
    func sweepTemporaries(_ u: Directory) throws(BootDeployError) -> [String] {
        var gone: [String] = []
        for n in try sys({ () throws(SystemError) in try u.entries() }) where n.hasPrefix(".") && n.hasSuffix(".tmp") {
            try sys { () throws(SystemError) in try u.remove(n) }
            gone.append(n)
        }
        return gone
    }

    /// Every stored UKI and leftover, relative to the boot root.
    func all() -> [String] {
        guard let b = try? boot.dir.openDirectory("bootdeploy") else { return [] }
        var out: [String] = []
        for sr in (try? b.entries()) ?? [] where Names.isValid(sr) {
            guard let u = try? b.openDirectory("\(sr)/uki") else { continue }
            for n in (try? u.entries()) ?? [] { out.append("\(Self.dirPath(sr))/\(n)") }
        }
        return out
    }

    /// Removes what `referenced` does not name (UKIs of removed deployments, `.tmp` leftovers).
    func removeUnreferenced(_ referenced: Set<String>) throws(BootDeployError) -> [String] {
        var removed: [String] = []
        for p in all() where !referenced.contains(p) {
            try sys { () throws(SystemError) in try boot.dir.remove(p) }
            removed.append(p)
        }
        if !removed.isEmpty {
            for sr in Set(removed.map { $0.split(separator: "/")[1] }) {
                try sys { () throws(SystemError) in try boot.dir.openDirectory(Self.dirPath(String(sr))).sync() }
            }
        }
        return removed
    }
}
