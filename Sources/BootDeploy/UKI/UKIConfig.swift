/// The administrator's UKI settings for a stateroot (`uki.conf` beside `cmdline.conf`):
///
/// ```
/// uki yes                      # deploy as unified kernel images (as `deploy --uki`)
/// sign-key /etc/bootdeploy/db.key
/// sign-cert /etc/bootdeploy/db.crt
/// signing required             # or optional (default): refuse to write an unsigned UKI
/// stub /usr/lib/systemd/boot/efi/linuxx64.efi.stub
/// ```
public struct UKIConfig: Sendable, Equatable {
    public var enabled = false
    public var signing = UKISigningPolicy()
    public var stub = UKIBuilder.defaultStub

    public init() {}

    public static func parse(_ text: String, file: String) throws(BootDeployError) -> UKIConfig {
        var c = UKIConfig()
        for d in DirectiveLine.parse(text) {
            let w = d.words
            func bad(_ m: String) -> BootDeployError { .badInput(file: file, line: d.number, message: m) }
            guard w.count == 2 else { throw bad("expected '\(w[0]) VALUE' (one value)") }
            switch w[0] {
            case "uki":
                guard w[1] == "yes" || w[1] == "no" else { throw bad("'uki' wants yes or no, not \(quoted(w[1]))") }
                c.enabled = w[1] == "yes"
            case "sign-key", "sign-cert", "stub":
                guard w[1].hasPrefix("/") else { throw bad("\(w[0]) wants an absolute path, not \(quoted(w[1]))") }
                if w[0] == "sign-key" { c.signing.keyPath = w[1] } else if w[0] == "sign-cert" { c.signing.certificatePath = w[1] } else { c.stub = w[1] }
            case "signing":
                guard w[1] == "required" || w[1] == "optional" else { throw bad("'signing' wants required or optional, not \(quoted(w[1]))") }
                c.signing.required = w[1] == "required"
            default:
                throw bad("unknown directive \(quoted(w[0])); expected uki, sign-key, sign-cert, signing or stub")
            }
        }
        return c
    }
}

extension Sysroot {
    /// `$SYSROOT/bootdeploy/<stateroot>/uki.conf`, or the defaults (no UKI, no signing).
    public func ukiConfig(_ stateroot: String) throws(BootDeployError) -> UKIConfig {
        let b = try requireBase()
        let name = "\(stateroot)/uki.conf"
        guard b.exists(name) else { return UKIConfig() }
        let text = try sys { () throws(SystemError) in try b.readText(name) }
        return try UKIConfig.parse(text, file: "\(b.path)/\(name)")
    }
}
