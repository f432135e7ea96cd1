/// Why a record file (a deployment record, docs/ON-DISK.md) was refused: the file, the line (0
/// when none applies) and a message that names the key.
public struct RecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// The keys of one JSON object of a record file, read with errors that name the file, the line of
/// the key (or of the object that lacks it) and the key's path (`layout.mounts[0].readOnly`).
/// Keys it is not asked for are ignored, so that a newer writer's additions do not break an older
/// reader. Shared by `DeploymentRecord` and early boot's `EarlyBootRecord`: one reading of the format.
public struct RecordFields {
    public let object: [String: JSONValue]
    let file: String
    let bytes: [UInt8]
    /// The key path of this object (`""` at the top, `layout.` inside the layout).
    let path: String
    /// Where this object's own key was found in `bytes`: searches for its keys start there.
    let offset: Int

    /// The top object of `bytes`; a syntax error names the line and column the parser stopped at.
    public init(parsing bytes: [UInt8], file: String, what: String) throws(RecordError) {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch {
            throw RecordError(file: file, line: error.line, message: "\(what): column \(error.column): \(error.message)")
        }
        guard let o = json.object else { throw RecordError(file: file, line: 1, message: "\(what): not a JSON object") }
        self.init(object: o, file: file, bytes: bytes, path: "", offset: 0)
    }

    init(object: [String: JSONValue], file: String, bytes: [UInt8], path: String, offset: Int) {
        self.object = object
        self.file = file
        self.bytes = bytes
        self.path = path
        self.offset = offset
    }

    /// An error about `key`, on its line: "`<key> <message>`".
    public func fail(_ key: String, _ message: String) -> RecordError {
        RecordError(file: file, line: line(of: key), message: "\(shown(key)) \(message)")
    }

    /// How a key is named in messages: `"id"`, `layout "mounts"`, `layout.mounts[0].readOnly`.
    func shown(_ key: String) -> String {
        if path.isEmpty { return "\"\(key)\"" }
        if path.hasSuffix("].") { return path + key }
        return "\(path.dropLast()) \"\(key)\""
    }

    func value<T>(_ key: String, _ kind: String, _ get: (JSONValue) -> T?) throws(RecordError) -> T {
        guard let v = object[key] else { throw RecordError(file: file, line: line(at: offset), message: "\(shown(key)) is missing") }
        guard let t = get(v) else { throw fail(key, "is not \(kind)") }
        return t
    }

    /// nil when the key is absent or `null`.
    func optional<T>(_ key: String, _ kind: String, _ get: (JSONValue) -> T?) throws(RecordError) -> T? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let t = get(v) else { throw fail(key, "is not \(kind)") }
        return t
    }

    public func string(_ key: String) throws(RecordError) -> String { try value(key, "a string") { $0.string } }
    public func int(_ key: String) throws(RecordError) -> Int { try value(key, "an integer") { $0.int } }
    public func bool(_ key: String) throws(RecordError) -> Bool { try value(key, "a boolean") { $0.bool } }
    public func optionalString(_ key: String) throws(RecordError) -> String? { try optional(key, "a string") { $0.string } }

    public func strings(_ key: String) throws(RecordError) -> [String] {
        let list = try value(key, "an array of strings") { $0.array }
        var out: [String] = []
        out.reserveCapacity(list.count)
        for (n, v) in list.enumerated() {
            guard let s = v.string else { throw fail(key, "has a non-string at [\(n)]") }
            out.append(s)
        }
        return out
    }

    /// The object under `key`; nil when absent or `null` and `optional`.
    public func object(_ key: String, optional: Bool = false) throws(RecordError) -> RecordFields? {
        let o = optional ? try self.optional(key, "an object") { $0.object } : try value(key, "an object") { $0.object }
        guard let o else { return nil }
        return RecordFields(object: o, file: file, bytes: bytes, path: "\(path)\(key).", offset: keyOffset(key) ?? offset)
    }

    /// The objects of the array under `key`, each named `key[n]` in errors.
    public func objects(_ key: String) throws(RecordError) -> [RecordFields] {
        let list = try value(key, "an array") { $0.array }
        let at = keyOffset(key) ?? offset
        let starts = elementStarts(from: at)
        var out: [RecordFields] = []
        for (n, v) in list.enumerated() {
            guard let o = v.object else { throw fail(key, "has a non-object at [\(n)]") }
            out.append(RecordFields(object: o, file: file, bytes: bytes, path: "\(path)\(key)[\(n)].",
                                    offset: n < starts.count ? starts[n] : at))
        }
        return out
    }

    /// Where each element of the array after `from` (a key's offset) begins: the parser keeps no
    /// positions, so a light scan over strings and brackets finds them, for messages only.
    func elementStarts(from: Int) -> [Int] {
        var i = from
        var depth = 0, inString = false, escaped = false, expecting = false
        var out: [Int] = []
        while i < bytes.count {
            let b = bytes[i]
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
            } else if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 {
            } else {
                if expecting && depth == 1 && b != UInt8(ascii: "]") { out.append(i); expecting = false }
                switch b {
                case 0x22: inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth == 1 { if b == UInt8(ascii: "[") { expecting = true } else { return out } }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    if depth == 0 { return out }
                case UInt8(ascii: ","): if depth == 1 { expecting = true }
                default: break
                }
            }
            i += 1
        }
        return out
    }

    /// Where `"key":` first appears from this object's start, best effort (the tree keeps no positions).
    func keyOffset(_ key: String) -> Int? {
        let needle = Array("\"\(key)\"".utf8)
        guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
        var i = offset
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0], bytes[i..<(i + needle.count)].elementsEqual(needle) {
                var j = i + needle.count
                while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x0A || bytes[j] == 0x0D || bytes[j] == 0x09 { j += 1 }
                if j < bytes.count, bytes[j] == UInt8(ascii: ":") { return i }
            }
            i += 1
        }
        return nil
    }

    func line(of key: String) -> Int { line(at: keyOffset(key) ?? offset) }

    func line(at offset: Int) -> Int {
        var n = 1
        for b in bytes[0..<min(offset, bytes.count)] where b == 0x0A { n += 1 }
        return n
    }
}
