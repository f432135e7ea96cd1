/// A deployment waiting for finalize (`/run/bootdeploy/staged.json`, and its persistent marker
/// `$SYSROOT/bootdeploy/staged.json`, docs/STAGING.md). Written by boot-deploy, read by
/// boot-deploy (finalize, status, cleanup) and by boot-health (a staged update never finalized):
/// one definition of the file for both, on `JSONValue`. boot-deploy checks it strictly after
/// decoding (`RunStateValidation`); decoding alone ignores unknown keys.
public struct StagedDeployment: Sendable, Equatable {
    public var schema: Int = 1
    public var stateroot: String
    public var id: String
    public var tries: Int
    public var locked: Bool
    /// When it was staged, ISO 8601 UTC.
    public var staged: String
    /// False when staged with `--no-etc-merge`: finalize then leaves the tree's /etc as it is.
    public var mergeEtc: Bool? = nil

    public init(stateroot: String, id: String, tries: Int, locked: Bool, staged: String, mergeEtc: Bool? = nil) {
        self.stateroot = stateroot
        self.id = id
        self.tries = tries
        self.locked = locked
        self.staged = staged
        self.mergeEtc = mergeEtc
    }

    public var name: DeploymentName { DeploymentName(stateroot: stateroot, id: id) }

    public static func decode(_ bytes: [UInt8], file: String) throws(RecordError) -> StagedDeployment {
        let f = try RecordFields(parsing: bytes, file: file, what: "not a staged deployment")
        var s = StagedDeployment(stateroot: try f.string("stateroot"), id: try f.string("id"), tries: try f.int("tries"),
                                 locked: try f.bool("locked"), staged: try f.string("staged"),
                                 mergeEtc: try f.optional("mergeEtc", "a boolean") { $0.bool })
        s.schema = try f.int("schema")
        return s
    }

    /// The file's bytes, laid out as every JSON file of ours (`JSONValue.document`).
    public func encoded() -> [UInt8] {
        var o: [String: JSONValue] = [
            "schema": .number(String(schema)), "stateroot": .string(stateroot), "id": .string(id),
            "tries": .number(String(tries)), "locked": .bool(locked), "staged": .string(staged),
        ]
        if let mergeEtc { o["mergeEtc"] = .bool(mergeEtc) }
        return JSONValue.object(o).document()
    }
}

/// `$SYSROOT/bootdeploy/finalize-failed.json`: why the last finalize failed. Written by
/// boot-deploy, read by boot-deploy (status) and boot-health (the failure becomes history).
public struct FinalizeFailure: Sendable, Equatable {
    public var schema: Int = 1
    public var stateroot: String
    public var id: String
    public var error: String
    /// When it failed, ISO 8601 UTC.
    public var time: String

    public init(stateroot: String, id: String, error: String, time: String) {
        self.stateroot = stateroot
        self.id = id
        self.error = error
        self.time = time
    }

    public var name: DeploymentName { DeploymentName(stateroot: stateroot, id: id) }

    public static func decode(_ bytes: [UInt8], file: String) throws(RecordError) -> FinalizeFailure {
        let f = try RecordFields(parsing: bytes, file: file, what: "not a finalize failure stamp")
        var r = FinalizeFailure(stateroot: try f.string("stateroot"), id: try f.string("id"), error: try f.string("error"),
                                time: try f.string("time"))
        r.schema = try f.int("schema")
        return r
    }

    public func encoded() -> [UInt8] {
        JSONValue.object([
            "schema": .number(String(schema)), "stateroot": .string(stateroot), "id": .string(id),
            "error": .string(error), "time": .string(time),
        ]).document()
    }
}
