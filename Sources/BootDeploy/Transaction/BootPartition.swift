import BootDeployEarlyBoot
import BootDeploySystem

/// What is on /boot now: our entries in boot order, the foreign ones, and what could not be read.
public struct BootEntriesState: Sendable {
    /// One of our entries as found on disk.
    public struct Ours: Sendable, Equatable {
        /// The deployment it boots (its `bootdeploy=`).
        public var deployment: DeploymentName
        public var name: EntryFileName
        public var entry: BootEntry
        /// A UKI placed as a Type #2 entry (`EFI/Linux/<name>`); nil for a Type #1 entry.
        public var uki: UKIFileName? = nil
    }

    /// Entries directory relative to the boot root (`loader.3/entries`, `loader/entries`), nil
    /// when there is none yet.
    public var entriesPath: String?
    /// Our entries, in the order systemd-boot boots them (first = default).
    public var ours: [Ours]
    /// Foreign `.conf` entries that parsed, in boot order (among themselves).
    public var foreign: [LoadedEntry]
    /// Every file in the entries directory that is not ours, carried over byte for byte.
    public var foreignFiles: [String]
    /// Malformed entries of ours (`bd-*.conf`): mutating commands refuse to run over them.
    public var ourErrors: [EntryParseError]
    /// Malformed foreign entries: reported, tolerated, never touched.
    public var foreignErrors: [EntryParseError]
    /// Every entry (ours and foreign) in systemd-boot order, for display.
    public var all: [LoadedEntry]
    /// Second entries of ours for a deployment that already has one earlier in boot order: what
    /// an interrupted per-file update leaves. Bootable, but not part of the set; the next
    /// transaction removes them.
    public var duplicates: [String] = []
    /// Files a boot-loader backend generated into the entry set (`bootdeploy.*`): replaced by each
    /// transaction, never carried over.
    public var generated: [String] = []
    /// Like `duplicates`, in `EFI/Linux/`: a deployment's image left under a second name.
    public var ukiDuplicates: [String] = []
    /// Whether any entry of ours is in name order (`NameOrder`), and the ranks those use.
    public var nameOrderRanks: [Int] = []

    public func ours(_ deployment: DeploymentName) -> Ours? { ours.first { $0.deployment == deployment } }

    /// Where an entry of ours is, for messages: its `.conf` file, or its image in `EFI/Linux`.
    public func location(_ o: Ours, boot: String) -> String {
        o.uki == nil ? "\(boot)/\(entriesPath ?? "loader/entries")/\(o.name.fileName)" : "\(boot)/\(UKIPlacement.directory)/\(o.name.fileName)"
    }
}

/// The partition holding the boot entries and the kernels, and how its entry set is swapped.
public final class BootPartition: @unchecked Sendable {
    public let path: String
    public let dir: Directory
    public let filesystem: FilesystemKind
    public let strategy: EntryStrategy
    let freeze: Bool
    /// The physical root, whose `bootdeploy/` holds the freeze marker.
    let sysrootPath: String

    public init(_ roots: Roots) throws(BootDeployError) {
        path = roots.boot
        sysrootPath = roots.sysroot
        dir = try sys { () throws(SystemError) in try Directory.open(roots.boot) }
        filesystem = FilesystemKind(magic: dir.filesystemType())
        if roots.strategy == .auto {
            strategy = filesystem.supportsSymlinks ? .symlink : .exchange
        } else {
            strategy = roots.strategy
        }
        freeze = roots.freeze
    }

    /// The current entries directory, relative to the boot root.
    public func currentEntriesPath() throws(BootDeployError) -> String? {
        switch try sys({ () throws(SystemError) in try dir.kind("loader") }) {
        case .symlink:
            let target = try sys { () throws(SystemError) in try dir.readLink("loader") }
            guard Self.isGeneration(target) else {
                throw .badInput(file: "\(path)/loader", line: 0, message: "symlink to \(quoted(target)), expected loader.N")
            }
            return (try? dir.kind(target + "/entries")) == .directory ? target + "/entries" : nil
        case .directory:
            return (try? dir.kind("loader/entries")) == .directory ? "loader/entries" : nil
        case .missing:
            return nil
        default:
            throw .badInput(file: "\(path)/loader", line: 0, message: "neither a directory nor a symlink")
        }
    }

    static func isGeneration(_ name: String) -> Bool {
        guard name.hasPrefix("loader.") else { return false }
        let n = name.dropFirst("loader.".count)
        return !n.isEmpty && n.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Reads the entry set. Never fails because of a malformed entry: those are collected.
    public func load() throws(BootDeployError) -> BootEntriesState {
        var state = BootEntriesState(entriesPath: nil, ours: [], foreign: [], foreignFiles: [], ourErrors: [], foreignErrors: [], all: [])
        var loaded: [LoadedEntry] = []
        // Our UKIs in EFI/Linux are entries too (Type #2), ordered with the Type #1 ones.
        let images = try UKIPlacement.load(self)
        state.ourErrors += images.errors
        for f in images.found {
            // The name as spelled on disk (`+3`, not `+3-0`): removals and messages use it.
            guard let n = EntryFileName(entryOrImage: f.name.fileName) else { continue }
            loaded.append(LoadedEntry(name: n, entry: f.entry))
            guard let qid = Self.deployment(of: f.entry) else {
                state.ourErrors.append(EntryParseError(file: "\(path)/\(UKIPlacement.directory)/\(f.name)", line: 0, message: "UKI of ours without a valid bootdeploy=STATEROOT/ID in its .cmdline"))
                continue
            }
            state.ours.append(.init(deployment: qid, name: n, entry: f.entry, uki: f.name))
        }
        if let rel = try currentEntriesPath() {
            state.entriesPath = rel
            try loadEntries(rel, into: &state, loaded: &loaded)
        }
        let order = BootOrder.systemdBoot(loaded)
        state.all = order
        // Positions looked up once per entry, not per comparison: a search of `order` per comparison
        // made status cubic in the number of entries (a quarter of a 50-deployment status), and a
        // hashed lookup per comparison was still 9% of it. Ties keep the order they were read in.
        var position: [EntryFileName: Int] = [:]
        for (i, e) in order.enumerated() where position[e.name] == nil { position[e.name] = i }
        func byBootOrder<T>(_ items: [T], _ name: (T) -> EntryFileName) -> [T] {
            items.enumerated().map { (position[name($0.element)] ?? Int.max, $0.offset, $0.element) }
                .sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
        }
        state.ours = byBootOrder(state.ours, \.name)
        var seen = Set<DeploymentName>()
        state.ours = state.ours.filter { o in
            if seen.insert(o.deployment).inserted { return true }
            if o.uki != nil { state.ukiDuplicates.append(o.name.fileName) } else { state.duplicates.append(o.name.fileName) }
            return false
        }
        state.nameOrderRanks = (state.ours.map(\.name.id) + state.ukiDuplicates.compactMap { UKIFileName($0)?.id }
            + state.duplicates.compactMap { EntryFileName($0)?.id }).compactMap(NameOrder.rank(of:))
        state.foreign = byBootOrder(state.foreign, \.name)
        return state
    }

    /// The deployment an entry of ours boots: its `bootdeploy=` option, both names valid.
    static func deployment(of entry: BootEntry) -> DeploymentName? {
        guard let value = KernelArguments(parsing: entry.commandLine).value("bootdeploy") else { return nil }
        return try? DeploymentName(parsing: value)
    }

    private func loadEntries(_ rel: String, into state: inout BootEntriesState, loaded: inout [LoadedEntry]) throws(BootDeployError) {
        let d = try sys { () throws(SystemError) in try dir.openDirectory(rel, noFollow: false) }
        for file in try sys({ () throws(SystemError) in try d.entries() }) {
            let full = "\(path)/\(rel)/\(file)"
            let isOurs = file.hasPrefix("bd-") || file.hasPrefix(NameOrder.prefix)
            if GeneratedFile.isGeneratedName(file) { state.generated.append(file); continue }
            guard let name = EntryFileName(file), (try? d.kind(file)) == .file else {
                if isOurs && file.hasSuffix(".conf") {
                    state.ourErrors.append(EntryParseError(file: full, line: 0, message: "not a regular entry file"))
                } else {
                    state.foreignFiles.append(file)
                }
                continue
            }
            let text: String
            do { text = try d.readText(file) } catch {
                let e = EntryParseError(file: full, line: 0, message: error.description)
                if isOurs { state.ourErrors.append(e) } else { state.foreignErrors.append(e); state.foreignFiles.append(file) }
                continue
            }
            let entry: BootEntry
            do { entry = try BootEntry.parse(text, file: full) } catch {
                if isOurs { state.ourErrors.append(error) } else { state.foreignErrors.append(error); state.foreignFiles.append(file) }
                continue
            }
            let le = LoadedEntry(name: name, entry: entry)
            loaded.append(le)
            if isOurs {
                guard let qid = Self.deployment(of: entry) else {
                    state.ourErrors.append(EntryParseError(file: full, line: 0, message: "entry of ours without a valid bootdeploy=STATEROOT/ID option"))
                    continue
                }
                state.ours.append(.init(deployment: qid, name: name, entry: entry))
            } else {
                state.foreignFiles.append(file)
                state.foreign.append(le)
            }
        }
    }
}
