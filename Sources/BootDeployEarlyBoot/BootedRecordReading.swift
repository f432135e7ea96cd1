/// Reading booted.json back, as strictly as a deployment record: undeploy and cleanup keep the
/// deployment it names, so a file that names `../../../etc`, has another schema or is of absurd
/// size must be an error naming the file, never a deployment. boot-deploy reads the file with this
/// too (`DeploymentManager.booted()`): one type and one rule set for it.
extension BootedRecord {
    /// Larger than any booted.json prepare-root writes, by far.
    public static let maxBytes = 64 << 10

    public static func parse(_ bytes: [UInt8], file: String) throws(PrepareRootError) -> BootedRecord {
        func bad(_ why: String) -> PrepareRootError { PrepareRootError("\(file): \(why)") }
        if bytes.count > maxBytes { throw bad("larger than \(maxBytes) bytes; not a booted.json") }
        let v: JSONValue
        do { v = try JSONValue.parse(bytes) } catch { throw bad("not JSON: \(error)") }
        guard let o = v.object else { throw bad("not a JSON object") }
        guard let schema = o["schema"], schema.int == 1 else { throw bad("schema must be 1") }
        guard let sr = o["stateroot"]?.string else { throw bad("missing string \"stateroot\"") }
        guard let id = o["id"]?.string else { throw bad("missing string \"id\"") }
        if let why = DeploymentName.problem(sr) { throw bad("stateroot \(PrepareRootError.printable(sr)) \(why)") }
        if let why = DeploymentName.problem(id) { throw bad("id \(PrepareRootError.printable(id)) \(why)") }
        let name = DeploymentName(stateroot: sr, id: id)
        if let d = o["deployment"], d != .null, d.string != name.deploymentPath {
            throw bad("\"deployment\" does not match stateroot and id")
        }
        var entry: String?
        if let e = o["loaderEntry"], e != .null {
            guard let s = e.string else { throw bad("\"loaderEntry\" must be a string or null") }
            if let why = loaderEntryProblem(s) { throw bad("loaderEntry \(PrepareRootError.printable(s)) \(why)") }
            entry = s
        }
        var attempts: Int?
        if let a = o["softwareAttempts"], a != .null {
            guard let n = a.int, n >= 0, n <= 1_000_000 else { throw bad("\"softwareAttempts\" must be a small non-negative integer or null") }
            attempts = n
        }
        var at = 0
        if let t = o["bootedAt"], t != .null {
            guard let n = t.int, n >= 0 else { throw bad("\"bootedAt\" must be a non-negative integer") }
            at = n
        }
        return BootedRecord(name: name, loaderEntry: entry, softwareAttempts: attempts, bootedAt: at)
    }

    /// Why `name` cannot be the file name of a boot loader entry, or nil.
    public static func loaderEntryProblem(_ name: String) -> String? {
        if name.isEmpty || name == "." || name == ".." { return "is not a file name" }
        if name.utf8.count > 255 { return "is longer than 255 bytes" }
        if name.contains("/") || name.contains("\\") { return "contains a path separator" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }) {
            return "contains a control character"
        }
        return nil
    }
}
