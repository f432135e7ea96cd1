import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials

extension DeploymentRecord {
    /// `decode` (BootDeployEarlyBoot, the one codec of the format) with its error as a
    /// `BootDeployError` naming the file, the line and the key.
    public static func read(_ bytes: [UInt8], file: String) throws(BootDeployError) -> DeploymentRecord {
        do { return try decode(bytes, file: file) } catch {
            throw .badInput(file: error.file, line: error.line, message: error.message)
        }
    }
}

/// Every JSON file BootDeploy writes: pretty, keys sorted, slashes unescaped, one trailing newline.
/// Encoding our own plain value types cannot fail, so there is no error to report.
func jsonDocument<T: Encodable>(_ value: T) -> [UInt8] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array((try? enc.encode(value)) ?? Data()) + [0x0a]
}

/// Reads a JSON state file with its decoder (BootDeployEarlyBoot): nil when it (or its directory)
/// does not exist, an error naming the file, line and key when it exists but cannot be read or
/// decoded. A malformed state file is never taken for an absent one: that would let cleanup
/// remove the booted deployment or finalize drop a staged update as "nothing staged".
func readStateFile<T>(_ name: String, in dirPath: String,
                      _ decode: ([UInt8], String) throws(RecordError) -> T) throws(BootDeployError) -> T? {
    let file = dirPath.hasSuffix("/") ? dirPath + name : dirPath + "/" + name
    guard let bytes = try readStateBytes(name, in: dirPath) else { return nil }
    let value: T
    do { value = try decode(bytes, file) } catch {
        throw .badInput(file: error.file, line: error.line, message: "cannot be read: \(error.message)")
    }
    if let strict = value as? any RunStateFile { try strict.check(bytes, file: file) }
    return value
}

/// The bytes of a run-state file, at most 64 KiB; nil when it (or its directory) does not exist.
func readStateBytes(_ name: String, in dirPath: String) throws(BootDeployError) -> [UInt8]? {
    let file = dirPath.hasSuffix("/") ? dirPath + name : dirPath + "/" + name
    let dir: Directory
    do { dir = try Directory.open(dirPath) } catch {
        if error.errno == .noSuchFileOrDirectory { return nil }
        throw .system(error)
    }
    if !dir.exists(name) { return nil }
    do { return try dir.readFile(name, limit: 64 << 10) } catch {
        if error.errno == .fileTooLarge { throw .badInput(file: file, line: 0, message: "larger than 64 KiB; not a state file of ours") }
        throw .system(error)
    }
}

/// Time stamps in records, ISO 8601 UTC, without Foundation's formatters.
func isoNow() -> String {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    var tmv = tm()
    var secs = t.tv_sec
    gmtime_r(&secs, &tmv)
    func p(_ v: Int32, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
    return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec))Z"
}

#if canImport(Glibc)
import Glibc
#endif
