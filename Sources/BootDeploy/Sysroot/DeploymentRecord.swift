import BootDeployEarlyBoot
import BootDeploySystem
import FoundationEssentials

/// The record kept beside each deployment tree (`deploy/<id>.json`, schema 1, docs/ON-DISK.md):
/// what it is, how it boots, and the mount layout early boot performs for it.
public struct DeploymentRecord: Codable, Sendable, Equatable {
    public var schema: Int = 1
    public var stateroot: String
    public var id: String
    public var version: String
    public var title: String
    /// Identity of the OS content: the updater's `--digest`, else the boot artifacts' digest.
    public var digest: String
    public var kernelVersion: String
    /// Content-addressed kernel directory, relative to the boot partition.
    public var kernelDir: String
    public var hasDevicetree: Bool
    /// Kernel arguments of the entry, except `bootdeploy=`, which is derived from the id.
    public var kargs: [String]
    public var pinned: Bool
    public var created: String
    public var layout: MountLayout
    /// The deployment whose kernel arguments and /etc changes this one carried over (the merge
    /// deployment, `STATEROOT/ID`); nil when there was none or nothing was taken from it.
    public var mergedFrom: String? = nil
    /// Set when the deployment boots without an initramfs: its early-boot binary in the physical root.
    public var earlyBoot: EarlyBootRef? = nil
    /// Set when the deployment boots as a unified kernel image (UKI/, docs/UKI.md).
    public var uki: UKIRef? = nil

    /// The parameter that names this deployment on the kernel command line.
    public var bootParameter: String { "bootdeploy=\(stateroot)/\(id)" }
    public var qualifiedID: String { "\(stateroot)/\(id)" }

    public static func decode(_ bytes: [UInt8], file: String) throws(BootDeployError) -> DeploymentRecord {
        do {
            let r = try JSONDecoder().decode(DeploymentRecord.self, from: Data(bytes))
            if r.schema != 1 { throw BootDeployError.badInput(file: file, line: 0, message: "unsupported schema \(r.schema)") }
            return r
        } catch let e as BootDeployError {
            throw e
        } catch {
            throw .badInput(file: file, line: lineOf(error, in: bytes), message: "not a deployment record: \(describe(error))")
        }
    }

    public func encoded() -> [UInt8] { jsonDocument(self) }
}

/// Every JSON file BootDeploy writes: pretty, keys sorted, slashes unescaped, one trailing newline.
/// Encoding our own plain value types cannot fail, so there is no error to report.
func jsonDocument<T: Encodable>(_ value: T) -> [UInt8] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array((try? enc.encode(value)) ?? Data()) + [0x0a]
}

/// Reads a JSON state file: nil when it (or its directory) does not exist, an error naming the
/// file and line when it exists but cannot be read or decoded. A malformed state file is never
/// taken for an absent one: that would let cleanup remove the booted deployment or finalize drop
/// a staged update as "nothing staged".
func readStateFile<T: Decodable>(_ type: T.Type, _ name: String, in dirPath: String) throws(BootDeployError) -> T? {
    let file = dirPath.hasSuffix("/") ? dirPath + name : dirPath + "/" + name
    guard let bytes = try readStateBytes(name, in: dirPath) else { return nil }
    let value: T
    do {
        value = try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
        throw .badInput(file: file, line: lineOf(error, in: bytes), message: "cannot be read: \(describe(error))")
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

/// Best-effort line number of a JSON decoding error, for messages that name file and line.
func lineOf(_ error: Error, in bytes: [UInt8]) -> Int {
    let text = "\(error)"
    // JSONDecoder reports "around line N, column M" for syntax errors.
    let parts = text.split(separator: " ")
    for (i, w) in parts.enumerated() where w == "line" && i + 1 < parts.count {
        if let n = Int(parts[i + 1].prefix { $0.isNumber }) { return n }
    }
    return 1
}

func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing key \"\(key.stringValue)\""
    case DecodingError.typeMismatch(_, let ctx): return "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.valueNotFound(_, let ctx): return "missing value at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.dataCorrupted(let ctx): return ctx.debugDescription
    default: return "\(error)"
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
