import BootDeploy
import BootDeployEarlyBoot
import BootDeploySystem
import Glibc

/// The boot counter of the booted deployment, whichever backend keeps it, with the two operations
/// that change it. Same meaning everywhere: blessing makes the deployment good (no more counting),
/// marking bad leaves it no tries so the boot loader (or the ordering) passes over it.
///
/// All mutating calls must be made with the sysroot lock held.
struct BootCounting {
    enum Backend: String { case bls, grubenv, software, none, uboot }

    var backend: Backend
    var deployment: DeploymentName
    var boot: String
    var sysroot: String
    /// bls: the current file name of the booted entry, and its live directory.
    var entryName: String?
    var entries: BootEntries?
    /// bls: the name the boot loader gave the entry at this boot (LoaderBootCountPath), which keeps
    /// the DONE count after blessing dropped it from the file name.
    var bootedName: String?
    /// grubenv: the file (relative to `boot`).
    var grubenvPath: String?
    /// GRUB backend: the grubenv whose `bootdeploy_trial` names this deployment (BootCounting+GrubTrial).
    var grubTrialPath: String?
    /// software: the attempts so far (nil = no file = blessed).
    var attempts: Int?
    /// uboot: the BootDeploy boot script's counter (bdcount.a/.b on the boot partition).
    var ubootCounter: UBootCounter?
    var warnings: [String] = []

    static let grubenvCandidates = ["grub2/grubenv", "grub/grubenv"]

    /// Finds the counter of `deployment`. `choice` forces a backend; `auto` takes the first that
    /// shows a counter for this boot: a counted BLS entry, a software counter file, a grubenv with
    /// `boot_counter`; else the BLS entry (blessed), else none.
    static func detect(deployment: DeploymentName, boot: String, sysroot: String, efivars: String,
                       choice: HealthConfig.CounterChoice, knownBootedName: String?) throws -> BootCounting {
        var c = BootCounting(backend: .none, deployment: deployment, boot: boot, sysroot: sysroot)
        // BLS: the entry carrying bootdeploy=<deployment>.
        if let entries = try? BootEntries.load(boot: boot) {
            c.warnings += entries.problems
            let mine = entries.files(of: deployment)
            let efi = LoaderVariables.bootCountEntry(efivars: efivars)
            if let efi, !mine.contains(efi), !sameEntry(efi, asOneOf: mine),
               entries.files.contains(where: { $0.name == efi }) || !mine.isEmpty {
                c.warnings.append("LoaderBootCountPath names \(efi), which is not an entry of \(deployment); trusting bootdeploy= on the command line")
            }
            if !mine.isEmpty {
                c.entries = entries
                if let efi, mine.contains(efi) {
                    c.entryName = efi
                } else {
                    // Prefer the counted name: a blessed twin beside it is the stale one.
                    c.entryName = mine.first { EntryFileName(entryOrImage: $0)?.counter != nil } ?? mine.first
                }
                if let efi, EntryFileName(entryOrImage: efi)?.counter != nil { c.bootedName = efi } else { c.bootedName = knownBootedName }
            }
        }
        let attemptsFile = "bootdeploy/\(deployment.stateroot)/deploy/\(AttemptsFile.fileName(deployment.id))"
        if let root = try? Directory.open(sysroot), root.exists(attemptsFile) {
            // The file early boot counts in; read with early boot's own reader, so both agree on it.
            let bytes: [UInt8]
            do { bytes = try root.readFile(attemptsFile, limit: 64) } catch {
                throw HealthError.invalid("\(sysroot)/\(attemptsFile): cannot be read: \(error)")
            }
            guard let n = AttemptsFile.parse(bytes) else {
                let text = String(decoding: bytes.prefix(32), as: UTF8.self).trimmingSpaces
                throw HealthError.invalid("\(sysroot)/\(attemptsFile): not a number of attempts: '\(text)'")
            }
            c.attempts = n
        }
        if let b = try? Directory.open(boot) {
            c.grubenvPath = grubenvCandidates.first { (try? b.kind($0, followLinks: true)) == .file }
        }
        c.grubTrialPath = c.grubenvPath.flatMap { p in (try? c.readGrubenv(p)).flatMap { $0[GrubMenu.trialVariable] == deployment.description ? p : nil } }
        // The boot loader says it counts this boot, yet no entry of ours is visible: /boot is not
        // (yet) what the boot loader read. Judging now would bless nothing and call it good.
        if case .auto = choice, c.entryName == nil, let efi = LoaderVariables.bootCountEntry(efivars: efivars),
           EntryFileName(entryOrImage: efi)?.counter != nil {
            throw HealthError.invalid("the boot loader counts this boot (LoaderBootCountPath \(efi)) but no entry in \(boot)/loader/entries carries bootdeploy=\(deployment); is \(boot) mounted?")
        }
        // uboot: counter copies on /boot whose trial is this deployment or none (blessed: marking bad
        // must still reach the counter the boot script reads, or it would boot this one again).
        var ubootOwns = false
        if let b = try? Directory.open(boot), UBootCounter.files.contains(where: { b.exists($0) }) {
            c.ubootCounter = UBootCounter.read(b).current
            ubootOwns = c.ubootCounter.map { $0.trial == nil || $0.trial == deployment.description } ?? true
        }
        let blsCounted = c.entryName.flatMap { EntryFileName(entryOrImage: $0)?.counter } != nil
        // A GRUB backend trial of another deployment (a fallback boot) is not this boot's counter.
        let grubCounting = c.grubenvPath.flatMap { try? c.readGrubenv($0) }.map {
            $0["boot_counter"] != nil && ($0[GrubMenu.trialVariable] ?? deployment.description) == deployment.description
        } ?? false
        switch choice {
        case .bls: c.backend = .bls
        case .grubenv: c.backend = .grubenv
        case .software: c.backend = .software
        case .none: c.backend = .none
        case .auto:
            if ubootOwns { c.backend = .uboot }
            else if blsCounted { c.backend = .bls }
            else if c.attempts != nil { c.backend = .software }
            else if grubCounting { c.backend = .grubenv }
            else if c.entryName != nil { c.backend = .bls }
            else { c.backend = .none }
        }
        if c.backend == .bls && c.entryName == nil {
            throw HealthError.invalid("no entry in \(boot)/loader/entries carries bootdeploy=\(deployment)")
        }
        if c.backend == .grubenv && c.grubenvPath == nil {
            throw HealthError.invalid("no grubenv in \(boot) (looked for \(grubenvCandidates.joined(separator: ", ")))")
        }
        return c
    }

    /// Whether the boot loader's name for the booted entry (LoaderBootCountPath, which keeps the
    /// name of this boot: `bd-os-001+2-1.conf`) is one of `names` under another counter: our own
    /// bless or mark-bad renamed it (`bd-os-001.conf`, `bd-os-001+0-1.conf`) during this boot.
    static func sameEntry(_ efi: String, asOneOf names: [String]) -> Bool {
        guard let e = EntryFileName(entryOrImage: efi) else { return false }
        return names.contains { EntryFileName(entryOrImage: $0).map { $0.id == e.id && $0.suffix.lowercased() == e.suffix.lowercased() } ?? false }
    }

    /// The state the counter shows right now (`bad` set is the software backend's memory).
    func state(bad: Set<DeploymentName>) -> DeploymentHealth {
        if bad.contains(deployment) && backend != .bls { return .bad }
        switch backend {
        case .bls:
            return EntryFileName(entryOrImage: entryName ?? "").map { DeploymentHealth(rawValue: $0.state.rawValue)! } ?? .good
        case .grubenv:
            guard let p = grubenvPath, let env = try? readGrubenv(p) else { return .good }
            if env["boot_counter"] == nil || env["boot_success"] == "1" { return .good }
            return env["boot_counter"] == "0" ? .bad : .indeterminate
        case .software:
            return attempts == nil ? .good : .indeterminate
        case .uboot:
            guard let u = ubootCounter, u.trial == deployment.description else { return .good }
            return u.left == 0 ? .bad : .indeterminate
        case .none:
            return .good
        }
    }

    var counterFields: (left: Int?, done: Int?) {
        if backend == .uboot, let u = ubootCounter, u.trial == deployment.description { return (u.left, nil) }
        guard backend == .bls, let c = EntryFileName(entryOrImage: entryName ?? "")?.counter else { return (nil, nil) }
        return (c.left, c.done)
    }

    func readGrubenv(_ path: String) throws -> GrubEnvironment {
        let b = try Directory.open(boot)
        return try GrubEnvironment(parsing: try b.readFile(path, limit: 1 << 20), file: "\(boot)/\(path)")
    }

    func writeGrubenv(_ path: String, _ env: GrubEnvironment) throws {
        let b = try Directory.open(boot)
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { try? b.openDirectory(String(path[..<$0]), noFollow: false) } ?? b
        guard let dir else { throw HealthError.invalid("\(boot)/\(path): directory missing") }
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        try dir.replaceFile(name, try env.render())
    }

    /// Blesses the booted deployment's own counter (`bless()` also ends a GRUB trial).
    mutating func blessCounter() throws -> String {
        switch backend {
        case .bls:
            guard let entries, let current = entryName, let name = EntryFileName(entryOrImage: current) else { return "no entry" }
            let target = name.blessed().fileName
            if target == current { return "\(current) is already blessed" }
            let mine = entries.files(of: deployment)
            if mine.contains(target) {
                // A stale blessed twin of the same deployment: systemd-bless-boot gives up here
                // (its rename refuses to replace), and the deployment would stay counted forever.
                // The counted file is the one that booted and passed, so it wins: one atomic rename
                // over the twin leaves exactly one blessed entry.
                try entries.directory(of: current).rename(current, to: target)
            } else if entries.files.contains(where: { $0.name == target }) {
                throw HealthError.refused("cannot bless \(current): \(target) exists and belongs to another deployment; not touching it")
            } else {
                try entries.directory(of: current).rename(current, to: target, noReplace: true)
            }
            try entries.directory(of: target).sync()
            entryName = target
            return "renamed \(current) to \(target)"
        case .grubenv:
            guard let p = grubenvPath else { return "no grubenv" }
            var env = try readGrubenv(p)
            env.set("boot_success", "1")
            env.unset("boot_counter")
            env.unset(GrubMenu.trialVariable)
            try writeGrubenv(p, env)
            return "set boot_success=1, unset boot_counter in \(boot)/\(p)"
        case .software:
            let dir = try Directory.open(sysroot).openDirectory("bootdeploy/\(deployment.stateroot)/deploy")
            try dir.remove(AttemptsFile.fileName(deployment.id))
            try dir.sync()
            attempts = nil
            return "removed \(dir.path)/\(deployment.id).attempts"
        case .uboot:
            return try viaUBootCounter(trial: nil, bls: { (c: inout BootCounting) throws in try c.bless() })
        case .none:
            return "no boot counter to reset"
        }
    }

    /// Marks the booted deployment's own counter bad (`markBad()` also spends a GRUB trial).
    mutating func markBadCounter() throws -> String {
        switch backend {
        case .bls:
            guard let entries, let current = entryName, let name = EntryFileName(entryOrImage: current) else { return "no entry" }
            // After blessing the file name no longer shows DONE; the name the boot loader gave it at
            // this boot still does.
            var bad = name.markedBad()
            if name.counter == nil, let booted = bootedName.flatMap { EntryFileName(entryOrImage: $0) }, let done = booted.counter?.done, done > 0 {
                bad = EntryFileName(id: name.id, counter: BootCounter(left: 0, done: done))
                bad.suffix = name.suffix
            }
            let target = bad.fileName
            let mine = entries.files(of: deployment)
            var did = ""
            if target != current {
                if entries.files.contains(where: { $0.name == target }) && !mine.contains(target) {
                    throw HealthError.refused("cannot mark \(current) bad: \(target) exists and belongs to another deployment")
                }
                try entries.directory(of: current).rename(current, to: target)
                did = "renamed \(current) to \(target)"
            } else {
                did = "\(current) is already marked bad"
            }
            // A stale twin of the same entry that still has tries (or none, i.e. blessed) would be
            // booted in its place: remove it, so that the bad mark holds.
            for twin in mine where twin != current && twin != target {
                if let t = EntryFileName(entryOrImage: twin), t.id == name.id, t.state != .bad {
                    try entries.directory(of: twin).remove(twin)
                    did += "; removed stale twin \(twin)"
                }
            }
            try entries.directory(of: target).sync()
            entryName = target
            return did
        case .grubenv:
            guard let p = grubenvPath else { return "no grubenv" }
            var env = try readGrubenv(p)
            env.set("boot_success", "0")
            env.set("boot_counter", "0")
            try writeGrubenv(p, env)
            return "set boot_success=0 boot_counter=0 in \(boot)/\(p)"
        case .software:
            return "recorded as bad in the status file (\(attempts ?? 0) attempts)"
        case .uboot:
            return try viaUBootCounter(trial: deployment.description, bls: { (c: inout BootCounting) throws in try c.markBad() })
        case .none:
            return "recorded as bad in the status file"
        }
    }

    /// uboot: the counter copy (trial cleared to bless, no tries left to mark bad), then the same on
    /// the entry's name, so that the plan the next deploy reads agrees.
    /// A counter already in that state is not written again (a blessed machine writes nothing at each boot).
    mutating func viaUBootCounter(trial: String?, bls: (inout BootCounting) throws -> String) throws -> String {
        var did: String
        if let u = ubootCounter, u.trial == trial, trial == nil || u.left == 0 {
            did = "the counter in \(boot) already says trial \(trial ?? "none")\(trial == nil ? "" : ", 0 tries")"
        } else {
            let w = try UBootCounter.write(try Directory.open(boot), trial: trial, left: 0)
            ubootCounter = w
            did = "wrote \(boot)/\(UBootCounter.files[0]) or .b: trial \(w.trial ?? "none"), 0 tries, sequence \(w.sequence)"
        }
        if entryName != nil {
            backend = .bls
            defer { backend = .uboot }
            did += "; " + (try bls(&self))
        }
        return did
    }
}
