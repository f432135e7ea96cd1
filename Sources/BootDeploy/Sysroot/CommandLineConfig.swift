/// The administrator's settings for a stateroot's kernel command lines (`cmdline.conf` beside
/// `layout.conf`): today only the length limit, for kernels whose `COMMAND_LINE_SIZE` is not
/// the default 2048 (docs/ON-DISK.md).
public enum CommandLineConfig {
    /// Parses `cmdline.conf`: `limit BYTES` (COMMAND_LINE_SIZE, NUL included), `#` comments.
    /// Returns the limit, nil when the file sets none.
    public static func parse(_ text: String, file: String) throws(BootDeployError) -> Int? {
        var limit: Int? = nil
        for d in DirectiveLine.parse(text) {
            let lineNo = d.number, words = d.words
            guard words.first == "limit" else {
                throw .badInput(file: file, line: lineNo, message: "unknown directive \(quoted(words[0])); expected 'limit BYTES'")
            }
            guard words.count == 2, let n = Int(words[1]) else {
                throw .badInput(file: file, line: lineNo, message: "expected 'limit BYTES'")
            }
            limit = try checked(n, source: "\(file):\(lineNo)")
        }
        return limit
    }

    /// `n` if it is a plausible COMMAND_LINE_SIZE, else an error naming where it came from.
    public static func checked(_ n: Int, source: String) throws(BootDeployError) -> Int {
        let r = KernelCommandLineRules.limitRange
        guard r.contains(n) else {
            throw .refused("\(source): command line limit \(n) is outside \(r.lowerBound)...\(r.upperBound) bytes")
        }
        return n
    }
}

extension Sysroot {
    /// The command line limit for a stateroot's entries: `--cmdline-limit`, else `limit` in
    /// `$SYSROOT/bootdeploy/<stateroot>/cmdline.conf`, else 2048 (x86's and arm64's).
    public func commandLineLimit(_ stateroot: String) throws(BootDeployError) -> Int {
        if let n = roots.cmdlineLimit { return try CommandLineConfig.checked(n, source: "--cmdline-limit") }
        let b = try requireBase()
        let name = "\(stateroot)/cmdline.conf"
        guard b.exists(name) else { return KernelCommandLineRules.defaultLimit }
        let text = try sys { () throws(SystemError) in try b.readText(name) }
        return try CommandLineConfig.parse(text, file: "\(b.path)/\(name)") ?? KernelCommandLineRules.defaultLimit
    }
}
