import BootDeploySystem

/// Replaces the whole entry set on /boot so that a power cut at any instant leaves either the old
/// or the new set, each complete (invariant 1). Foreign files in the entries directory are carried
/// over byte for byte. The strategies, per filesystem:
///
/// - `symlink` (ext4, xfs, btrfs): write `loader.<N+1>/` (entries, plus the files beside them such
///   as loader.conf), flush the filesystem once (syncfs), then swap `loader -> loader.<N+1>` with
///   one rename, flush the boot root, freeze/thaw so GRUB sees it without a journal replay, and only
///   then remove `loader.<N>/`. A plain `loader/` directory is converted on first use with
///   `RENAME_EXCHANGE` (a symlink and a directory trade places atomically).
/// - `exchange` (vfat): write `loader/entries.staged/`, flush, `renameat2(RENAME_EXCHANGE)` it with
///   `loader/entries/`, flush, remove the old set. On a kernel that refuses exchange on vfat
///   (EINVAL), fall through to `perFile`.
/// - `perFile`: new entries get fresh ranks that no current file uses, so every new file is added
///   (all written as dot-files, flushed with one syncfs, then renamed into place) before any old one
///   is removed; every intermediate state is a complete, bootable set.
///
/// A failure before the commit point removes what was written; after it, nothing is undone (the
/// new set is live) and the error is `.afterCommit`: what is left over is garbage for `cleanup`.
struct EntryTransaction {
    let boot: BootPartition
    let state: BootEntriesState
    /// A boot-loader backend's files, written into the set beside the entries (same commit).
    var generated: [GeneratedFile] = []

    /// Applies the rendered entries. `render` renders the plan with the given top rank (nil: the
    /// compact ranks; the per-file strategy needs ranks that do not collide with the current ones).
    func apply(render: (_ top: Int?) throws(BootDeployError) -> [RenderedEntry]) throws(BootDeployError) {
        try cleanLeftovers()
        switch boot.strategy {
        case .symlink: try applySymlink(try render(nil))
        case .exchange, .auto:
            if try !applyExchange(try render(nil)) { try applyPerFile(render) }
        case .perFile: try applyPerFile(render)
        }
    }

    // MARK: leftovers of an interrupted transaction

    /// What an interrupted transaction left on /boot: `loader.N` generations the symlink does not
    /// name, `loader.tmp*` and `loader.old`, `loader/entries.staged`, `.*.tmp` files in the live set.
    /// None of them is referenced by the live set.
    struct Leftovers {
        var topLevel: [String] = []
        var staged = false
        var tmpFiles: [String] = []
        var isEmpty: Bool { topLevel.isEmpty && !staged && tmpFiles.isEmpty }
    }

    /// Finds the leftovers without writing anything (so that a caller can tell whether it will
    /// write /boot at all).
    func leftovers() throws(BootDeployError) -> Leftovers {
        let d = boot.dir
        let entriesPath = state.entriesPath
        return try sys { () throws(SystemError) -> Leftovers in
            var l = Leftovers()
            let live = (try? d.kind("loader")) == .symlink ? try d.readLink("loader") : nil
            for name in try d.entries()
            where (BootPartition.isGeneration(name) && name != live) || name.hasPrefix("loader.tmp") || name == "loader.old" {
                l.topLevel.append(name)
            }
            if (try? d.kind("loader")) == .directory {
                l.staged = try d.openDirectory("loader").exists("entries.staged")
                if let rel = entriesPath, rel.hasPrefix("loader/") {
                    l.tmpFiles = try d.openDirectory(rel, noFollow: false).entries().filter {
                        ($0.hasPrefix(".bd-") || $0.hasPrefix("." + GeneratedFile.prefix)) && $0.hasSuffix(".tmp")
                    }
                }
            }
            return l
        }
    }

    /// Removes the leftovers (`found`, else what `leftovers()` finds now).
    func cleanLeftovers(_ found: Leftovers? = nil) throws(BootDeployError) {
        let l: Leftovers
        if let found { l = found } else { l = try leftovers() }
        if l.isEmpty { return }
        let d = boot.dir
        let entriesPath = state.entriesPath
        try sys { () throws(SystemError) in
            for name in l.topLevel { try d.removeTree(name) }
            if l.staged {
                let loader = try d.openDirectory("loader")
                try loader.removeTree("entries.staged")
                try loader.sync()
            }
            if !l.tmpFiles.isEmpty, let rel = entriesPath {
                let e = try d.openDirectory(rel, noFollow: false)
                for f in l.tmpFiles { try e.remove(f) }
            }
            if !l.topLevel.isEmpty { try d.sync() }
        }
    }

    // MARK: writing a set

    /// Writes `entries` plus the carried-over foreign files into `target` (empty). Nothing is
    /// flushed file by file: the caller flushes the whole filesystem once (syncfs) before the
    /// commit point, which makes every file durable with one journal commit instead of one each.
    func writeSet(_ entries: [RenderedEntry], into target: Directory) throws(BootDeployError) {
        try sys { () throws(SystemError) in
            for e in entries { try target.writeText(e.fileName, e.text, sync: false) }
            for g in generated { try target.writeFile(g.name, g.bytes, sync: false) }
            if let rel = state.entriesPath {
                let src = try boot.dir.openDirectory(rel, noFollow: false)
                for f in state.foreignFiles {
                    switch try src.kind(f) {
                    case .file: try target.copyFile(f, from: src, to: f, sync: false)
                    case .symlink: try target.symlink(try src.readLink(f), at: f)
                    case .directory:
                        let s = try src.openDirectory(f)
                        try target.makeDirectory(f)
                        var copier = TreeCopy(link: false)
                        try copier.copyContents(of: s, into: try target.openDirectory(f))
                    default: continue
                    }
                }
            }
            try target.sync()
        }
    }

    // MARK: symlink strategy

    func applySymlink(_ entries: [RenderedEntry]) throws(BootDeployError) {
        let d = boot.dir
        let kind = try sys { () throws(SystemError) in try d.kind("loader") }
        let current: String? = kind == .symlink ? try sys({ () throws(SystemError) in try d.readLink("loader") }) : nil
        var n = 1
        if let current, let c = Int(current.dropFirst("loader.".count)) { n = c + 1 }
        let gen = "loader.\(n)"
        do {
            try sys { () throws(SystemError) in
                try d.makeDirectory(gen)
                let g = try d.openDirectory(gen)
                // Files beside entries/ (loader.conf, random-seed...) come along unchanged.
                let oldLoader = kind == .missing ? nil : try d.openDirectory("loader", noFollow: false)
                if let oldLoader {
                    for f in try oldLoader.entries() where f != "entries" && f != "entries.staged" {
                        switch try oldLoader.kind(f) {
                        case .file: try g.copyFile(f, from: oldLoader, to: f, sync: false)
                        case .symlink: try g.symlink(try oldLoader.readLink(f), at: f)
                        case .directory:
                            try g.makeDirectory(f)
                            var copier = TreeCopy(link: false)
                            try copier.copyContents(of: try oldLoader.openDirectory(f), into: try g.openDirectory(f))
                        default: continue
                        }
                    }
                }
                try g.makeDirectory("entries")
            }
            let g = try sys { () throws(SystemError) in try d.openDirectory(gen) }
            try writeSet(entries, into: try sys { () throws(SystemError) in try g.openDirectory("entries") })
            try sys { () throws(SystemError) in
                // One flush of the whole filesystem: every new file, and the new directories.
                try d.syncFilesystem()
            }
        } catch {
            try? sys { () throws(SystemError) in try d.removeTree(gen) }
            throw error
        }
        // The commit point: one rename makes the new generation live.
        do {
            try sys { () throws(SystemError) in
                let link = "loader.tmp\(n)"
                try d.remove(link)
                try d.symlink(gen, at: link)
                if kind == .directory {
                    try d.rename(link, to: "loader", exchange: true)
                    // The old directory now sits at `link`; rename it out of the way, then remove.
                    try d.rename(link, to: "loader.old")
                } else {
                    try d.rename(link, to: "loader")
                }
                try d.sync()
            }
        } catch {
            // Not committed if `loader` still names the old set: drop the new generation.
            if (try? d.readLink("loader")) != gen {
                try? sys { () throws(SystemError) in try d.removeTree(gen); try d.removeTree("loader.tmp\(n)") }
                throw error
            }
            throw .afterCommit(error)
        }
        do {
            try boot.flushForBootloader()
            try sys { () throws(SystemError) in
                if let current { try d.removeTree(current) }
                try d.removeTree("loader.old")
                try d.sync()
            }
        } catch {
            throw .afterCommit(error)
        }
    }

    // MARK: exchange strategy

    /// Returns false, with nothing changed, when the kernel refuses RENAME_EXCHANGE here.
    func applyExchange(_ entries: [RenderedEntry]) throws(BootDeployError) -> Bool {
        let d = boot.dir
        try sys { () throws(SystemError) in try d.makeDirectory("loader") }
        let l = try sys { () throws(SystemError) in try d.openDirectory("loader") }
        let hasEntries = (try? l.kind("entries")) == .directory
        do {
            try sys { () throws(SystemError) in try l.makeDirectory("entries.staged") }
            try writeSet(entries, into: try sys { () throws(SystemError) in try l.openDirectory("entries.staged") })
            try sys { () throws(SystemError) in
                try l.sync()
                try l.syncFilesystem()
            }
        } catch {
            try? sys { () throws(SystemError) in try l.removeTree("entries.staged") }
            throw error
        }
        do {
            try sys { () throws(SystemError) in
                if hasEntries {
                    try l.rename("entries.staged", to: "entries", exchange: true)
                } else {
                    try l.rename("entries.staged", to: "entries", noReplace: true)
                }
            }
        } catch {
            if case .system(let se) = error, se.errno == .invalidArgument, hasEntries {
                try? sys { () throws(SystemError) in try l.removeTree("entries.staged") }
                return false
            }
            try? sys { () throws(SystemError) in try l.removeTree("entries.staged") }
            throw error
        }
        // Committed: from here on a failure leaves the new set live and garbage behind.
        do {
            try sys { () throws(SystemError) in
                try l.sync()
                try l.syncFilesystem()
                try l.removeTree("entries.staged")
                try l.sync()
            }
        } catch {
            throw .afterCommit(error)
        }
        return true
    }

    // MARK: per-file strategy

    func applyPerFile(_ render: (_ top: Int?) throws(BootDeployError) -> [RenderedEntry]) throws(BootDeployError) {
        let d = boot.dir
        try sys { () throws(SystemError) in try d.makeDirectory("loader/entries", parents: true) }
        let rel = state.entriesPath ?? "loader/entries"
        let e = try sys { () throws(SystemError) in try d.openDirectory(rel, noFollow: false) }
        // Pick a block of ranks disjoint from the ranks in use: above them if it fits, else below.
        let used = state.ours.filter { $0.uki == nil }.compactMap { rank(of: $0.name.id) }
        let count0 = try render(nil).count
        var top = (used.max() ?? 0) + count0
        if top > EntryRenderer.maxRank {
            top = count0
            if let low = used.min(), low <= top { throw .refused("no free block of entry ranks for a per-file update; remove deployments first") }
        }
        let entries = try render(top)
        var written: [String] = []
        do {
            try sys { () throws(SystemError) in
                // Every new file is complete and durable (one syncfs) before the first one gets a
                // name a boot loader reads; then they appear one rename at a time.
                for r in entries { try e.writeText("." + r.fileName + ".tmp", r.text, sync: false) }
                for g in generated { try e.writeFile("." + g.name + ".tmp", g.bytes, sync: false) }
                try e.syncFilesystem()
                for r in entries {
                    try e.rename("." + r.fileName + ".tmp", to: r.fileName, noReplace: false)
                    written.append(r.fileName)
                }
                // A generated file (a menu) is replaced whole once every entry it may name is in
                // place, and before any old entry goes.
                for g in generated { try e.rename("." + g.name + ".tmp", to: g.name, noReplace: false) }
                try e.sync()
            }
        } catch {
            try? sys { () throws(SystemError) in
                for f in written { try e.remove(f) }
                for r in entries { try e.remove("." + r.fileName + ".tmp") }
                for g in generated { try e.remove("." + g.name + ".tmp") }
                try e.sync()
            }
            throw error
        }
        do {
            try sys { () throws(SystemError) in
                for o in state.ours where o.uki == nil && !written.contains(o.name.fileName) { try e.remove(o.name.fileName) }
                for f in state.duplicates where !written.contains(f) { try e.remove(f) }
                for f in state.generated where !generated.contains(where: { $0.name == f }) { try e.remove(f) }
                try e.sync()
                try e.syncFilesystem()
            }
        } catch {
            throw .afterCommit(error)
        }
    }

    func rank(of fileID: String) -> Int? {
        guard let dash = fileID.lastIndex(of: "-") else { return nil }
        return Int(fileID[fileID.index(after: dash)...])
    }
}

/// Whether `path` is the root of a mount (its device differs from its parent's, or it is "/").
func isMountPoint(_ path: String) -> Bool {
    guard let d = try? Directory.open(path), let p = try? Directory.open(path + "/..") else { return false }
    if d.deviceNumber != p.deviceNumber { return true }
    var a = stat(), b = stat()
    fstat(d.fd, &a)
    fstat(p.fd, &b)
    return a.st_ino == b.st_ino
}

import Glibc
