import BootDeployEarlyBoot
import BootDeploySystem

/// What `deploy`, `kargs` and `cleanup` do for UKI deployments.
extension DeploymentManager {
    /// Builds and stores the UKI of `record`: from the tree's own image when its kernel directory
    /// holds exactly one `*.efi` (as kernel-install and bootc lay it out), else from the stored
    /// kernel and initramfs.
    func placeUKI(_ record: DeploymentRecord, boot: BootPartition, config: UKIConfig, modulesDir: Directory?,
                  osRelease: OSRelease?) throws(BootDeployError) -> (ref: UKIRef, written: Bool) {
        var treeUKI: (name: String, bytes: [UInt8])? = nil
        if let d = modulesDir {
            let efis = try sys { () throws(SystemError) in try d.entries() }.filter { $0.lowercased().hasSuffix(".efi") }.sorted()
            if efis.count > 1 {
                throw .badInput(file: "usr/lib/modules/\(record.kernelVersion)", line: 0, message: "more than one UKI (\(efis.joined(separator: ", "))); a deployment boots one")
            }
            if let name = efis.first {
                if let what = try TreeKernel.notAFile(name, in: d) {
                    throw .badInput(file: "usr/lib/modules/\(record.kernelVersion)/\(name)", line: 0, message: "the UKI is \(what)")
                }
                treeUKI = (name, try sys { () throws(SystemError) in try d.readFile(name, limit: 1 << 30) })
            }
        }
        var os: [String: String] = [:]
        for k in ["NAME", "ID", "VERSION_ID"] { if let v = osRelease?[k] { os[k] = v } }
        return try UKIStore(boot: boot).place(record, config: config, osRelease: os, treeUKI: treeUKI)
    }

    /// `kargs` of a UKI deployment: the command line is inside the (signed) image, so the image is
    /// rebuilt from the one it replaces (its kernel, initramfs and os-release) with the new line.
    /// The image read is the one the deployment's entry starts now (what boots), else the record's:
    /// after a crash between writing the record and swapping the entries they differ, and cleanup
    /// may have removed the record's.
    func rebuildUKI(_ r: DeploymentRecord, boot: BootPartition, entry: BootEntry?) throws(BootDeployError) -> DeploymentRecord {
        guard let old = r.uki else { return r }
        let live = entry?.efi.map { String($0.drop { $0 == "/" }) }
        let source = live.flatMap { (try? boot.dir.kind($0)) == .file ? $0 : nil } ?? old.path
        let bytes = try sys { () throws(SystemError) in try boot.dir.readFile(source, limit: 1 << 30) }
        var out = r
        let config = try sysroot.ukiConfig(r.stateroot)
        var placed = try UKIStore(boot: boot).place(r, config: config, osRelease: [:], treeUKI: (source, bytes))
        placed.ref.source = old.source
        out.uki = placed.ref
        return out
    }

    /// The UKIs that stay: those our entries start, and those of pinned, booted and staged
    /// deployments. Everything else under `bootdeploy/*/uki/` goes, `.tmp` leftovers included.
    func cleanupUKIs(keeping cur: Current, keep: Set<DeploymentName>, beforeBootWrite: () throws(BootDeployError) -> Void = {}) throws(BootDeployError) -> [String] {
        var referenced = Set<String>()
        for o in cur.entries.ours { if let e = o.entry.efi { referenced.insert(String(e.drop { $0 == "/" })) } }
        for r in cur.records.values where r.pinned || keep.contains(r.name) { if let u = r.uki { referenced.insert(u.path) } }
        let store = UKIStore(boot: cur.boot)
        if store.all().contains(where: { !referenced.contains($0) }) { try beforeBootWrite() }
        return try store.removeUnreferenced(referenced)
    }
}

extension DeploymentManager {
    /// `validate` for an entry that starts a UKI: the image exists, is a PE image with a kernel,
    /// carries the entry's command line, and is signed (and verifies with the configured
    /// certificate) where signing is configured.
    func ukiProblems(entryFile: String, efi: String, options: String, record: DeploymentRecord?, boot: BootPartition) -> [String] {
        let rel = String(efi.drop { $0 == "/" })
        let shown = "\(boot.path)/\(rel)"
        guard !rel.split(separator: "/").contains(".."), (try? boot.dir.kind(rel, followLinks: false)) == .file,
              let bytes = try? boot.dir.readFile(rel, limit: 1 << 30) else {
            return ["\(entryFile): UKI \(efi) does not exist on \(boot.path)"]
        }
        let pe: PEImage
        do { pe = try PEImage(bytes, file: shown) } catch { return ["\(entryFile): UKI \(error)"] }
        var out: [String] = []
        if pe.section(".linux") == nil { out.append("\(shown): UKI without a .linux section") }
        // With Secure Boot the stub uses `.cmdline`, without it the entry's options: they must agree.
        // (The record may be one step ahead after a crash in `kargs`, as for Type #1 entries.)
        let cmdline = pe.contents(".cmdline").map { String(decoding: $0, as: UTF8.self) }
        if cmdline != options {
            out.append("\(shown): the UKI's command line \(quoted(cmdline ?? "(none)")) is not the entry's options \(quoted(options)); 'boot-deploy kargs' rebuilds it")
        }
        guard let record else { return out }
        let config: UKIConfig
        do { config = try sysroot.ukiConfig(record.stateroot) } catch {
            out.append("\(error); the signing of \(shown) was not checked")
            return out
        }
        if config.signing.required && record.uki?.signed != true { out.append("\(shown): unsigned, but uki.conf requires signing") }
        if record.uki?.signed == true, let cert = config.signing.certificatePath {
            do { try ExternalTool.run("sbverify", ["--cert", cert, shown]) } catch { out.append("\(shown): does not verify with \(cert): \(error)") }
        }
        return out
    }
}
