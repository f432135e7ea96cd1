import BootDeployEarlyBoot

/// The run-state files (booted.json, staged.json, the finalize stamp) are checked after decoding
/// as strictly as deployment records: every name, the schema, the ranges. `readStateFile` calls
/// `check` and also bounds the size.
protocol RunStateFile {
    func check(_ bytes: [UInt8], file: String) throws(BootDeployError)
}

func checkName(_ value: String, _ what: String, file: String) throws(BootDeployError) {
    if let why = DeploymentName.problem(value) {
        throw .badInput(file: file, line: 0, message: "\(what) \(quoted(value)) \(why); refusing to act on this file")
    }
}

func checkSchema(_ schema: Int?, file: String) throws(BootDeployError) {
    guard schema == 1 else {
        throw .badInput(file: file, line: 0, message: "schema \(schema.map(String.init) ?? "missing"), expected 1; refusing to act on this file")
    }
}

extension StagedDeployment: RunStateFile {
    func check(_ bytes: [UInt8], file: String) throws(BootDeployError) {
        try checkSchema(schema, file: file)
        try checkName(stateroot, "stateroot", file: file)
        try checkName(id, "deployment id", file: file)
        guard (0...9).contains(tries) else {
            throw .badInput(file: file, line: 0, message: "tries \(tries) is not 0...9; refusing to act on this file")
        }
        if let why = DisplayText.problem(staged) {
            throw .badInput(file: file, line: 0, message: "staged time \(quoted(staged)): \(why)")
        }
    }
}

extension FinalizeFailure: RunStateFile {
    func check(_ bytes: [UInt8], file: String) throws(BootDeployError) {
        try checkSchema(schema, file: file)
        try checkName(stateroot, "stateroot", file: file)
        try checkName(id, "deployment id", file: file)
    }
}
