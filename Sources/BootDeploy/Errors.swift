import BootDeploySystem

/// Errors of the deployment layer. Every case names what is wrong and where, so that the message
/// printed by the CLI is enough to act on at the console.
public enum BootDeployError: Error, CustomStringConvertible, Sendable {
    /// A name (stateroot, deployment id) that could escape its directory or confuse a boot loader.
    case invalidName(kind: String, value: String, reason: String)
    /// Malformed input: a file, the line (0 when not line-oriented) and what is wrong.
    case badInput(file: String, line: Int, message: String)
    case notFound(String)
    /// The request is understood but refused because it would break an invariant.
    case refused(String)
    case busy(String)
    case system(SystemError)
    /// The new entry set is live, but a step after the commit point (flush, removal of the old
    /// set) failed. Nothing is undone: what is left over is garbage `cleanup` removes.
    indirect case afterCommit(BootDeployError)

    public var description: String {
        switch self {
        case .invalidName(let kind, let value, let reason): return "invalid \(kind) \(quoted(value)): \(reason)"
        case .badInput(let file, let line, let message): return line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
        case .notFound(let what): return what
        case .refused(let why): return why
        case .busy(let why): return why
        case .system(let e): return e.description
        case .afterCommit(let e): return "the new boot entries are in place, but finishing up failed: \(e); run 'boot-deploy cleanup'"
        }
    }
}

func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        if u.value < 0x20 || u.value == 0x7f { out += "\\x" + String(u.value, radix: 16) } else if u == "\"" { out += "\\\"" } else { out.unicodeScalars.append(u) }
    }
    return out + "\""
}

/// Runs a throwing system operation, turning its typed error into a `BootDeployError`.
@inline(__always)
func sys<T>(_ body: () throws(SystemError) -> T) throws(BootDeployError) -> T {
    do { return try body() } catch { throw .system(error) }
}
