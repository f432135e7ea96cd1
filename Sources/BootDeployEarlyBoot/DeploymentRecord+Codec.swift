/// The deployment record's JSON form, written on `JSONValue` (no Foundation): the key names, the
/// decoders of each part and the encoder. `EarlyBootRecord` reads through the same `Key`s,
/// `schema(of:)`, `identity(of:)` and `MountLayout(fields:)`, so the format has one definition.
extension DeploymentRecord {
    /// The record's keys (docs/ON-DISK.md).
    public enum Key {
        public static let schema = "schema", stateroot = "stateroot", id = "id", version = "version", title = "title"
        public static let digest = "digest", kernelVersion = "kernelVersion", kernelDir = "kernelDir"
        public static let hasDevicetree = "hasDevicetree", kargs = "kargs", pinned = "pinned", created = "created"
        public static let layout = "layout", mergedFrom = "mergedFrom", earlyBoot = "earlyBoot", uki = "uki"
    }

    /// The schema this code reads and writes.
    public static let currentSchema = 1

    /// Decodes a record file. Errors name `file`, the line and the key; keys this version does not
    /// know are ignored (a newer record must not break an older reader).
    public static func decode(_ bytes: [UInt8], file: String) throws(RecordError) -> DeploymentRecord {
        let f = try RecordFields(parsing: bytes, file: file, what: "not a deployment record")
        _ = try schema(of: f)
        let (stateroot, id) = try identity(of: f)
        for (key, value) in [(Key.stateroot, stateroot), (Key.id, id)] {
            if let why = DeploymentName.problem(value) { throw f.fail(key, "\(quotedForRecord(value)) \(why)") }
        }
        var mergedFrom: DeploymentName?
        if let m = try f.optionalString(Key.mergedFrom) {
            guard let slash = m.firstIndex(of: "/"),
                  DeploymentName.problem(String(m[..<slash])) == nil, DeploymentName.problem(String(m[m.index(after: slash)...])) == nil
            else { throw f.fail(Key.mergedFrom, "\(quotedForRecord(m)) is not STATEROOT/ID") }
            mergedFrom = DeploymentName(stateroot: String(m[..<slash]), id: String(m[m.index(after: slash)...]))
        }
        var r = DeploymentRecord(
            stateroot: stateroot, id: id, version: try f.string(Key.version), title: try f.string(Key.title),
            digest: try f.string(Key.digest), kernelVersion: try f.string(Key.kernelVersion), kernelDir: try f.string(Key.kernelDir),
            hasDevicetree: try f.bool(Key.hasDevicetree), kargs: try f.strings(Key.kargs), pinned: try f.bool(Key.pinned),
            created: try f.string(Key.created), layout: try MountLayout(fields: try f.object(Key.layout)!), mergedFrom: mergedFrom)
        if let e = try f.object(Key.earlyBoot, optional: true) {
            r.earlyBoot = EarlyBootRef(path: try e.string("path"), libraries: try e.strings("libraries"))
        }
        if let u = try f.object(Key.uki, optional: true) {
            r.uki = UKIRef(path: try u.string("path"), signed: try u.bool("signed"), source: try u.string("source"))
        }
        return r
    }

    /// `schema`, which must be 1.
    public static func schema(of f: RecordFields) throws(RecordError) -> Int {
        let schema = try f.int(Key.schema)
        guard schema == currentSchema else {
            throw RecordError(file: f.file, line: f.line(of: Key.schema), message: "schema \(schema) is not supported (this reader knows schema \(currentSchema))")
        }
        return schema
    }

    /// `stateroot` and `id` as written (not yet checked against the name rule).
    public static func identity(of f: RecordFields) throws(RecordError) -> (stateroot: String, id: String) {
        (try f.string(Key.stateroot), try f.string(Key.id))
    }

    /// The record as JSON; `encoded()` gives the file's bytes.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            Key.schema: .number(String(schema)), Key.stateroot: .string(stateroot), Key.id: .string(id),
            Key.version: .string(version), Key.title: .string(title), Key.digest: .string(digest),
            Key.kernelVersion: .string(kernelVersion), Key.kernelDir: .string(kernelDir),
            Key.hasDevicetree: .bool(hasDevicetree), Key.kargs: .array(kargs.map { .string($0) }),
            Key.pinned: .bool(pinned), Key.created: .string(created), Key.layout: layout.json,
        ]
        if let mergedFrom { o[Key.mergedFrom] = .string(mergedFrom.description) }
        if let earlyBoot {
            o[Key.earlyBoot] = .object(["path": .string(earlyBoot.path), "libraries": .array(earlyBoot.libraries.map { .string($0) })])
        }
        if let uki { o[Key.uki] = .object(["path": .string(uki.path), "signed": .bool(uki.signed), "source": .string(uki.source)]) }
        return .object(o)
    }

    /// The file's bytes: pretty, keys sorted, one trailing newline (`JSONValue.document`).
    public func encoded() -> [UInt8] { json.document() }
}

extension MountLayout {
    /// Decodes a layout (`layout` of a record). The mount's `purpose` may be absent (early boot
    /// never needed it); everything else is required.
    public init(fields f: RecordFields) throws(RecordError) {
        let version = try f.int("version")
        guard version == 1 else { throw f.fail("version", "\(version) is not supported") }
        let root = try f.string("root")
        var mounts: [BindMount] = []
        for m in try f.objects("mounts") {
            let originText = try m.string("origin")
            guard let origin = BindMount.Origin(rawValue: originText) else {
                throw m.fail("origin", "\(quotedForRecord(originText)) is neither \"deployment\" nor \"physical\"")
            }
            mounts.append(BindMount(origin: origin, source: try m.string("source"), target: try m.string("target"),
                                    readOnly: try m.bool("readOnly"), purpose: try m.optionalString("purpose") ?? ""))
        }
        self.init(version: version, root: root, mounts: mounts)
    }

    public var json: JSONValue {
        .object([
            "version": .number(String(version)), "root": .string(root),
            "mounts": .array(mounts.map { m in
                .object(["origin": .string(m.origin.rawValue), "source": .string(m.source), "target": .string(m.target),
                         "readOnly": .bool(m.readOnly), "purpose": .string(m.purpose)])
            }),
        ])
    }
}

/// A value from a record, quoted for a message: control characters escaped, one line.
func quotedForRecord(_ s: String) -> String { "\"" + PrepareRootError.printable(s) + "\"" }
