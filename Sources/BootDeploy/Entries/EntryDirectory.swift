/// Reading a whole entries directory (`$BOOT/loader/entries`).
public enum EntryDirectory {
    /// The largest entry file read. Real entries are a few hundred bytes; this only keeps a stray
    /// huge file from being read into memory.
    public static let maximumFileSize = 4 << 20

    /// Reads every `*.conf` file (suffix in any case) of `path` below `dir`, in bytewise name
    /// order. A file that cannot be read or parsed becomes an error naming it, and the others are
    /// still read: one foreign, malformed entry must never hide the rest.
    ///
    /// Skipped silently, as both systemd-boot and bootctl skip them: names starting with `.`,
    /// names not ending in `.conf`, and directories. A symlink or other non-regular file is an
    /// error rather than followed (BootDeploy writes none, and does not follow links it did not
    /// make). `path` may pass through symlinks (the `loader -> loader.N` layout); only its last
    /// component must not be one. Throws only when the directory itself cannot be read.
    public static func load(_ dir: Directory, path: String) throws -> (entries: [LoadedEntry], errors: [EntryParseError]) {
        let entriesDir = try dir.openDirectory(path, noFollow: true)
        var entries: [LoadedEntry] = []
        var errors: [EntryParseError] = []
        for fileName in try entriesDir.entries() {
            if fileName.hasPrefix(".") { continue }
            guard let name = EntryFileName(fileName) else { continue }
            let shown = entriesDir.path.hasSuffix("/") ? entriesDir.path + fileName : entriesDir.path + "/" + fileName
            do {
                switch try entriesDir.kind(fileName, followLinks: false) {
                case .directory, .missing:
                    continue
                case .symlink:
                    errors.append(EntryParseError(file: shown, line: 0, message: "is a symbolic link; entries must be regular files"))
                    continue
                case .other:
                    errors.append(EntryParseError(file: shown, line: 0, message: "is not a regular file"))
                    continue
                case .file:
                    break
                }
                let bytes = try entriesDir.readFile(fileName, limit: maximumFileSize)
                let entry = try BootEntry.parse(bytes: bytes, file: shown)
                entries.append(LoadedEntry(name: name, entry: entry))
            } catch let e as EntryParseError {
                errors.append(e)
            } catch let e as SystemError {
                errors.append(EntryParseError(file: shown, line: 0, message: "cannot be read: \(e)"))
            }
        }
        return (entries, errors)
    }
}
