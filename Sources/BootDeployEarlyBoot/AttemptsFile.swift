import BootDeploySystem

/// The software boot counter `<id>.attempts` (docs/ON-DISK.md), for boot loaders that count nothing.
///
/// Counted before anything is mounted, so that a boot that hangs or crashes later still used its
/// try. The file is replaced atomically (`.<id>.attempts.tmp`, fsync, rename, fsync of the
/// directory): a power cut leaves the old count or the new one, never an empty file.
public enum AttemptsFile {
    /// The attempts file's name for a deployment id.
    public static func fileName(_ id: String) -> String { id + ".attempts" }

    /// The count stored in an attempts file: decimal digits, optional final newline.
    public static func parse(_ bytes: [UInt8]) -> Int? {
        var b = bytes[...]
        while let last = b.last, last == 0x0A || last == 0x20 { b = b.dropLast() }
        guard !b.isEmpty, b.count <= 9, b.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: b, as: UTF8.self))
    }

    /// Increments the counter in `deployDir` (the stateroot's `deploy/` directory) if it exists.
    /// Returns the new count, or nil when the deployment is not counted.
    public static func increment(in deployDir: Directory, id: String) throws(PrepareRootError) -> Int? {
        let name = fileName(id)
        let path = "\(deployDir.path)/\(name)"
        switch (try? deployDir.kind(name)) ?? .missing {
        case .missing: return nil
        case .file: break
        default: throw PrepareRootError("boot counter \(path) is not a regular file")
        }
        do {
            let bytes = try deployDir.readFile(name, limit: 64)
            guard let n = parse(bytes) else {
                throw PrepareRootError("boot counter \(path): \"\(PrepareRootError.printable(String(decoding: bytes.prefix(20), as: UTF8.self)))\" is not a count")
            }
            try deployDir.replaceFile(name, Array("\(n + 1)\n".utf8))
            return n + 1
        } catch let e as PrepareRootError {
            throw e
        } catch {
            throw PrepareRootError("boot counter: \(error)")
        }
    }
}
