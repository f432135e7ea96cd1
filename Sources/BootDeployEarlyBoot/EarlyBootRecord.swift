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
    /// deployment must not make us mount that one).
    public static func parse(_ bytes: [UInt8], file: String, expected: DeploymentName) throws(PrepareRootError) -> EarlyBootRecord {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw PrepareRootError("\(file): \(error)")
        }
        func need<T>(_ key: String, _ value: T?, _ kind: String) throws(PrepareRootError) -> T {
            guard let value else { throw PrepareRootError("\(file): \"\(key)\" is missing or not \(kind)") }
            return value
        }
        guard json.object != nil else { throw PrepareRootError("\(file): not a JSON object") }
        let schema = try need("schema", json["schema"]?.int, "an integer")
        guard schema == 1 else { throw PrepareRootError("\(file): schema \(schema) is not supported (this prepare-root reads schema 1)") }
        let stateroot = try need("stateroot", json["stateroot"]?.string, "a string")
        let id = try need("id", json["id"]?.string, "a string")
        guard stateroot == expected.stateroot, id == expected.id else {
            throw PrepareRootError("\(file): describes \(PrepareRootError.printable(stateroot))/\(PrepareRootError.printable(id)), not \(expected)")
        }
        let layoutJSON = try need("layout", json["layout"]?.object != nil ? json["layout"] : nil, "an object")
        let layout = try MountLayout(json: layoutJSON, file: file)
        try layout.validate(for: expected, file: file)
        return EarlyBootRecord(stateroot: stateroot, id: id, layout: layout)
    }
}

extension MountLayout {
    /// Decodes the keys `JSONEncoder` writes for `MountLayout` (docs/ON-DISK.md).
    public init(json: JSONValue, file: String) throws(PrepareRootError) {
        func need<T>(_ what: String, _ value: T?, _ kind: String) throws(PrepareRootError) -> T {
            guard let value else { throw PrepareRootError("\(file): layout \(what) is missing or not \(kind)") }
            return value
        }
        let version = try need("\"version\"", json["version"]?.int, "an integer")
        guard version == 1 else { throw PrepareRootError("\(file): layout version \(version) is not supported") }
        let root = try need("\"root\"", json["root"]?.string, "a string")
        let list = try need("\"mounts\"", json["mounts"]?.array, "an array")
        var mounts: [BindMount] = []
        for (n, m) in list.enumerated() {
            let at = "mounts[\(n)]"
            guard m.object != nil else { throw PrepareRootError("\(file): layout \(at) is not an object") }
            let originText = try need("\(at).origin", m["origin"]?.string, "a string")
            guard let origin = BindMount.Origin(rawValue: originText) else {
                throw PrepareRootError("\(file): layout \(at).origin \"\(PrepareRootError.printable(originText))\" is neither \"deployment\" nor \"physical\"")
            }
            mounts.append(BindMount(
                origin: origin,
                source: try need("\(at).source", m["source"]?.string, "a string"),
                target: try need("\(at).target", m["target"]?.string, "a string"),
                readOnly: try need("\(at).readOnly", m["readOnly"]?.bool, "a boolean"),
                purpose: m["purpose"]?.string ?? ""))
        }
        self.init(version: version, root: root, mounts: mounts)
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
