import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials
import Glibc

/// `kargs`: editing a deployment's kernel arguments.
extension DeploymentManager {
    /// Edits the kernel arguments of a deployment (the default one unless named).
    public func editKargs(_ ref: String?, append: [String], delete: [String], replace: [String]) throws(BootDeployError) -> [String] {
        let lock = try sysroot.lock()
        defer { withExtendedLifetime(lock) {} }
        let cur = try current(forWriting: true)
        var r: DeploymentRecord
        if let ref { r = try resolve(ref, in: cur) } else {
            guard let d = cur.plan.defaultEntry, let rec = cur.records[d.deployment] else { throw .notFound("there is no default deployment") }
            r = rec
        }
        var k = KernelArguments(r.kargs)
        for spec in delete {
            if KernelArguments.key(of: spec) == "bootdeploy" { throw .refused("bootdeploy= is managed by boot-deploy") }
            if k.delete(spec) == 0 { throw .notFound("no kernel argument \(quoted(spec)) on \(r.name)") }
        }
        for spec in replace {
            guard spec.contains("=") else { throw .refused("--replace wants KEY=VALUE, got \(quoted(spec))") }
            try checkKarg(spec)
            if k.replace(spec) == 0 { throw .notFound("no kernel argument \(quoted(KernelArguments.key(of: spec))) to replace on \(r.name)") }
        }
        for spec in append {
            try checkKarg(Self.normalized(spec))
            k.parameters.append(Self.normalized(spec))
        }
        if k.parameters == r.kargs { return r.kargs }
        let old = r
        r.kargs = k.parameters
        try checkCommandLine(r, origin: "already on \(r.name); 'kargs --delete' drops it")
        // A UKI carries its command line inside: a new image first (UKIDeployment.swift).
        if r.uki != nil { r = try rebuildUKI(r, boot: cur.boot, entry: cur.entries.ours(r.name)?.entry) }
        // Record first, then /boot: if the transaction fails, the record goes back.
        try sysroot.writeRecord(r)
        do {
            if cur.entries.ours(r.name) != nil { try commit(cur.plan, cur, extraRecords: [r]) }
        } catch {
            if case .afterCommit = error { throw error }
            try? sysroot.writeRecord(old)
            throw error
        }
        return r.kargs
    }
}
