/// Secure Boot signing of UKIs with `sbsign` (package sbsigntool).
///
/// A signed UKI's command line cannot be changed at the boot menu, and the firmware refuses an
/// image whose signature does not chain to an enrolled key: that is the point of UKIs. So when the
/// configuration says signing is required, an image is never written unsigned, not even as a
/// fallback: no key means the deployment is refused.
public struct UKISigningPolicy: Sendable, Equatable {
    /// PEM private key and certificate paths; both or neither.
    public var keyPath: String?
    public var certificatePath: String?
    /// Refuse to write an unsigned UKI.
    public var required: Bool

    public init(keyPath: String? = nil, certificatePath: String? = nil, required: Bool = false) {
        self.keyPath = keyPath
        self.certificatePath = certificatePath
        self.required = required
    }

    /// What to do with a freshly built image.
    public enum Decision: Sendable, Equatable {
        case sign(key: String, certificate: String)
        case leaveUnsigned
    }

    public func decide() throws(BootDeployError) -> Decision {
        switch (keyPath, certificatePath) {
        case let (k?, c?): return .sign(key: k, certificate: c)
        case (nil, nil):
            if required {
                throw .refused("UKI signing is required (uki-sign required) but no key and certificate are configured (uki-sign-key, uki-sign-cert); refusing to write an unsigned UKI")
            }
            return .leaveUnsigned
        case (_?, nil): throw .refused("uki-sign-key is set but uki-sign-cert is not: both are needed to sign UKIs")
        case (nil, _?): throw .refused("uki-sign-cert is set but uki-sign-key is not: both are needed to sign UKIs")
        }
    }
}

public enum UKISigner {
    /// Signs `input` into `output` when the policy says so; returns whether it signed. With
    /// `.leaveUnsigned` nothing is written and the caller keeps `input`.
    @discardableResult
    public static func apply(_ policy: UKISigningPolicy, input: String, output: String) throws(BootDeployError) -> Bool {
        switch try policy.decide() {
        case .leaveUnsigned:
            return false
        case let .sign(key, certificate):
            try ExternalTool.run("sbsign", ["--key", key, "--cert", certificate, "--output", output, input])
            // Check what was written: a corrupt or missing signature must not reach the ESP.
            try ExternalTool.run("sbverify", ["--cert", certificate, output])
            try UKIBuilder.syncFile(output)
            return true
        }
    }
}
