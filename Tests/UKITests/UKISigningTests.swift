import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// Signing with the real sbsign, checked with the real sbverify; refusal without a key.
@Suite("UKI signing", .serialized)
struct UKISigningTests {
    /// A throwaway Secure Boot key pair made with openssl.
    static func keyPair(_ t: TempDir, name: String) throws -> (String, String) {
        let r = try run("/usr/bin/openssl", ["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=bootdeploy test \(name)/",
                                             "-keyout", t.sub("\(name).key"), "-out", t.sub("\(name).crt")])
        #expect(r.ok, "openssl: \(r.stderr)")
        return (t.sub("\(name).key"), t.sub("\(name).crt"))
    }

    @Test("a signed UKI verifies with its certificate and not with another; its sections survive signing")
    func signs() throws {
        try UKIBuildTests.requireTools("signs")
        if !TestEnv.have("sbsign") || !TestEnv.have("sbverify") { try TestEnv.skip("signs", because: "sbsigntool missing (scripts/install-deps.sh)") }
        if !TestEnv.have("openssl") { try TestEnv.skip("signs", because: "openssl missing") }
        let t = TempDir("ukisign")
        let c = try UKIBuildTests.build(t, rank: 2, output: t.sub("unsigned.efi"))
        let (key, cert) = try Self.keyPair(t, name: "db")
        let (_, otherCert) = try Self.keyPair(t, name: "other")
        let unsignedCheck = try run("/usr/bin/sbverify", ["--cert", cert, t.sub("unsigned.efi")])
        #expect(!unsignedCheck.ok, "sbverify accepted an unsigned image")
        let signed = try UKISigner.apply(UKISigningPolicy(keyPath: key, certificatePath: cert, required: true),
                                         input: t.sub("unsigned.efi"), output: t.sub("signed.efi"))
        #expect(signed)
        #expect(try run("/usr/bin/sbverify", ["--cert", cert, t.sub("signed.efi")]).ok)
        #expect(!(try run("/usr/bin/sbverify", ["--cert", otherCert, t.sub("signed.efi")]).ok))
        let pe = try PEImage(Array(try Data(contentsOf: URL(fileURLWithPath: t.sub("signed.efi")))), file: "signed.efi")
        #expect(pe.contents(".cmdline") == Array(c.commandLine.utf8))
        #expect(pe.contents(".linux") == Array(try Data(contentsOf: URL(fileURLWithPath: c.kernelPath))))
    }

    @Test("signing required without a key refuses and writes nothing; half a key pair is refused")
    func refuses() throws {
        let t = TempDir("ukisign")
        t.write("in.efi", "x")
        #expect(throws: BootDeployError.self) {
            try UKISigner.apply(UKISigningPolicy(required: true), input: t.sub("in.efi"), output: t.sub("out.efi"))
        }
        #expect(!FileManager.default.fileExists(atPath: t.sub("out.efi")))
        #expect(throws: BootDeployError.self) { try UKISigningPolicy(keyPath: "/k").decide() }
        #expect(throws: BootDeployError.self) { try UKISigningPolicy(certificatePath: "/c", required: false).decide() }
        #expect(try UKISigningPolicy().decide() == .leaveUnsigned)
        #expect(try !UKISigner.apply(UKISigningPolicy(), input: t.sub("in.efi"), output: t.sub("out.efi")))
    }

    @Test("a failing sbsign is reported with its own words")
    func sbsignFailure() throws {
        if !TestEnv.have("sbsign") { try TestEnv.skip("sbsignFailure", because: "sbsigntool missing") }
        let t = TempDir("ukisign")
        t.write("in.efi", "not a PE image")
        do {
            try UKISigner.apply(UKISigningPolicy(keyPath: t.sub("nokey"), certificatePath: t.sub("nocert")), input: t.sub("in.efi"), output: t.sub("out.efi"))
            Issue.record("sbsign on garbage succeeded")
        } catch {
            #expect("\(error)".contains("sbsign"), "\(error)")
        }
    }
}
