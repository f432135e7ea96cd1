import BootDeploySystem

/// The order of our entries when a plan holds a UKI ("name order", docs/UKI.md).
///
/// A UKI is placed as a Type #2 entry, `EFI/Linux/<id>[+LEFT[-DONE]].efi`. systemd-boot 252 takes
/// its sort key and version from the image's `.osrel`, which is inside the signature: a rank kept
/// there would mean re-signing on every rollback, on machines that hold no key. So every entry of
/// ours ties on both (sort key `bootdeploy`, no version, in `.osrel` and in our Type #1 entries
/// alike) and systemd-boot orders them by id, the file name, newest first: `bootdeploy-<rank>-
/// <stateroot>`, the default highest. A reorder renames files; no image changes.
public enum NameOrder {
    public static let prefix = "bootdeploy-"
    /// Ranks only grow (each commit takes fresh ones above those in use); past this the next
    /// commit starts again at the bottom.
    public static let maxRank = 999_999_999

    public static func fileID(stateroot: String, rank: Int) -> String {
        let r = String(rank)
        return prefix + String(repeating: "0", count: max(0, 3 - r.count)) + r + "-" + stateroot
    }

    /// The rank of a name-order id (`bootdeploy-007-os` → 7); nil for any other name.
    public static func rank(of id: String) -> Int? {
        guard id.hasPrefix(prefix) else { return nil }
        let rest = id.utf8.dropFirst(prefix.utf8.count)
        guard let dash = rest.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        let digits = rest[..<dash]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    /// The top rank of a commit of `count` entries: above every rank in use, so that what the
    /// commit renames sorts before what it has not reached yet.
    public static func freshTop(count: Int, inUse: [Int]) -> Int {
        let top = (inUse.max() ?? 0) + count
        return top > maxRank ? count : top
    }
}

/// Our UKIs placed as Type #2 entries in `EFI/Linux/` of the boot partition.
public struct UKIPlacement {
    public static let directory = "EFI/Linux"
    let boot: BootPartition

    struct Found {
        var name: UKIFileName
        var entry: BootEntry
    }

    /// Our images (`bootdeploy-*.efi`), read as systemd-boot reads them: title, sort key and version
    /// from `.osrel`, the command line from `.cmdline`. Only the headers and those sections are read.
    static func load(_ boot: BootPartition) throws(BootDeployError) -> (found: [Found], errors: [EntryParseError]) {
        guard (try? boot.dir.kind(directory)) == .directory else { return ([], []) }
        let d = try sys { () throws(SystemError) in try boot.dir.openDirectory(directory, noFollow: true) }
        var found: [Found] = [], errors: [EntryParseError] = []
        for file in try sys({ () throws(SystemError) in try d.entries() }) where file.hasPrefix(NameOrder.prefix) {
            let full = "\(boot.path)/\(directory)/\(file)"
            guard let name = UKIFileName(file) else { continue }
            guard (try? d.kind(file)) == .file else {
                errors.append(EntryParseError(file: full, line: 0, message: "not a regular file"))
                continue
            }
            do throws(BootDeployError) {
                found.append(Found(name: name, entry: try entry(of: file, in: d, shown: full)))
            } catch {
                errors.append(EntryParseError(file: full, line: 0, message: "\(error)"))
            }
        }
        return (found, errors)
    }

    /// The entry systemd-boot makes of an image: what `BootOrder` and our readers need.
    public static func entry(of file: String, in d: Directory, shown: String) throws(BootDeployError) -> BootEntry {
        var bytes = try sys { () throws(SystemError) in try d.readPrefix(file, count: 64 << 10) }
        var pe = try PEImage(bytes, file: shown, complete: false)
        let wanted = [".osrel", ".cmdline"].compactMap { pe.section($0) }
        let need = wanted.map { $0.rawOffset + min($0.rawSize, Int($0.virtualSize)) }.max() ?? 0
        if need > bytes.count {
            guard need <= 16 << 20 else { throw .badInput(file: shown, line: 0, message: ".osrel/.cmdline beyond the first 16 MiB") }
            bytes = try sys { () throws(SystemError) in try d.readPrefix(file, count: need) }
            pe = try PEImage(bytes, file: shown, complete: false)
        }
        guard let cmdline = pe.contents(".cmdline") else { throw .badInput(file: shown, line: 0, message: "UKI without a .cmdline section") }
        let os = UKIOSRelease.parse(String(decoding: pe.contents(".osrel") ?? [], as: UTF8.self))
        var e = BootEntry()
        e.title = os["PRETTY_NAME"] ?? os["NAME"]
        e.sortKey = os["IMAGE_ID"] ?? os["ID"]
        e.version = os["IMAGE_VERSION"] ?? os["VERSION"] ?? os["VERSION_ID"] ?? os["BUILD_ID"]
        e.options = [Substring(String(decoding: cmdline, as: UTF8.self)).trimmingSpaces()]
        e.efi = "/\(directory)/\(file)"
        return e
    }

    /// Opens `EFI/Linux`, making it (and `EFI`) when missing.
    func directoryHandle() throws(BootDeployError) -> Directory {
        if (try? boot.dir.kind(Self.directory)) != .directory {
            try sys { () throws(SystemError) in
                try boot.dir.makeDirectory(Self.directory, parents: true)
                try boot.dir.sync()
                try boot.dir.openDirectory("EFI").sync()
            }
        }
        return try sys { () throws(SystemError) in try boot.dir.openDirectory(Self.directory, noFollow: true) }
    }

    /// Moves an image to `name` in `EFI/Linux` (from the content store, or from its previous name
    /// there) and makes the rename durable before anything else happens.
    func move(from source: String, to name: String, linux: Directory) throws(BootDeployError) {
        let parts = source.split(separator: "/").map(String.init)
        try sys { () throws(SystemError) in
            if parts.count == 3 && parts[0] == "EFI" && parts[1] == "Linux" {
                if parts[2] == name { return }
                try linux.rename(parts[2], to: name, noReplace: true)
                try linux.sync()
            } else {
                let from = try boot.dir.openDirectory(parts.dropLast().joined(separator: "/"), noFollow: true)
                try from.rename(parts.last!, to: name, in: linux, noReplace: true)
                try linux.sync()
                try from.sync()
            }
        }
    }
}
