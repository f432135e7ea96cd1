/// The part of a deployment record (`<id>.json`, docs/ON-DISK.md) that early boot needs; boot-deploy's
/// `DeploymentRecord` writes the whole record. The other keys are ignored here, so the record can grow without breaking boot.
public struct EarlyBootRecord: Sendable, Equatable {
    public var stateroot: String
    public var id: String
    public var layout: MountLayout

    public init(stateroot: String, id: String, layout: MountLayout) {
        self.stateroot = stateroot
        self.id = id
        self.layout = layout
    }

    /// Reads and checks a record. `file` names it in errors; `expected` is the deployment the
    /// command line asked for, which the record must describe (a record copied from another
    /// deployment must not make us mount that one). Only `schema`, `stateroot`, `id` and `layout`
    /// are read, through `DeploymentRecord`'s own decoders; every other key is left alone, so the
    /// record can grow without breaking boot.
    public static func parse(_ bytes: [UInt8], file: String, expected: DeploymentName) throws(PrepareRootError) -> EarlyBootRecord {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw PrepareRootError("\(file): \(error)")
        }
        guard let object = json.object else { throw PrepareRootError("\(file): not a JSON object") }
        let f = RecordFields(object: object, file: file, bytes: bytes, path: "", offset: 0)
        do {
            _ = try DeploymentRecord.schema(of: f)
            let (stateroot, id) = try DeploymentRecord.identity(of: f)
            guard stateroot == expected.stateroot, id == expected.id else {
                throw PrepareRootError("\(file): describes \(PrepareRootError.printable(stateroot))/\(PrepareRootError.printable(id)), not \(expected)")
            }
            guard let layoutFields = try f.object(DeploymentRecord.Key.layout) else { throw PrepareRootError("\(file): no layout") }
            let layout = try MountLayout(fields: layoutFields)
            try layout.validate(for: expected, file: file)
            return EarlyBootRecord(stateroot: stateroot, id: id, layout: layout)
        } catch let e as RecordError {
            throw PrepareRootError(e.description)
        } catch let e as PrepareRootError {
            throw e
        } catch {
            throw PrepareRootError("\(file): \(error)")
        }
    }
}

extension MountLayout {
    /// A layout on its own (what `status --json` shows), read with the record's own decoder.
    public init(json: JSONValue, file: String) throws(PrepareRootError) {
        guard let o = json.object else { throw PrepareRootError("\(file): layout is not an object") }
        do { self = try MountLayout(fields: RecordFields(object: o, file: file, bytes: [], path: "layout.", offset: 0)) } catch {
            throw PrepareRootError(error.description)
        }
    }

    /// Refuses a layout that would mount anything outside the physical root or the deployment:
    /// paths with `..`, `.`, empty components, control characters, absolute sources, relative
    /// targets, a target of `/` itself, or a root other than the deployment's own directory.
    public func validate(for name: DeploymentName, file: String) throws(PrepareRootError) {
        guard root == name.deploymentPath else {
            throw PrepareRootError("\(file): layout root \"\(PrepareRootError.printable(root))\" is not \(name.deploymentPath)")
        }
        for (n, m) in mounts.enumerated() {
            let at = "layout mounts[\(n)]"
            if let why = MountLayout.relativePathProblem(m.source, allowEmpty: true) {
                throw PrepareRootError("\(file): \(at).source \"\(PrepareRootError.printable(m.source))\" \(why)")
            }
            guard m.target.hasPrefix("/"), m.target != "/" else {
                throw PrepareRootError("\(file): \(at).target \"\(PrepareRootError.printable(m.target))\" must be an absolute path below /")
            }
            if let why = MountLayout.relativePathProblem(String(m.target.dropFirst()), allowEmpty: false) {
                throw PrepareRootError("\(file): \(at).target \"\(PrepareRootError.printable(m.target))\" \(why)")
            }
        }
    }

    /// Why a relative path is unsafe to join below a root, or nil.
    static func relativePathProblem(_ p: String, allowEmpty: Bool) -> String? {
        if p.isEmpty { return allowEmpty ? nil : "is empty" }
        if p.hasPrefix("/") { return "must be relative" }
        for u in p.unicodeScalars where u.value < 0x20 || u.value == 0x7f { return "contains a control character" }
        for c in p.split(separator: "/", omittingEmptySubsequences: false) {
            if c.isEmpty { return "has an empty component" }
            if c == "." || c == ".." { return "has a '\(c)' component" }
        }
        return nil
    }
}
