import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// `deploy --uki`, `kargs`, `validate`, `status` and `cleanup` of UKI deployments, through the real
/// boot-deploy binary, with the real objcopy, sbsign and sbverify.
@Suite("UKI deployments", .serialized)
struct UKIDeployTests {
    static func requireTools(_ test: String) throws {
        if !FileManager.default.fileExists(atPath: UKIBuilder.defaultStub) { try TestEnv.skip(test, because: "systemd-boot-efi's stub missing") }
        if !TestEnv.have("objcopy") { try TestEnv.skip(test, because: "objcopy missing") }
    }

    static func pe(_ path: String) throws -> PEImage {
        try PEImage(Array(try Data(contentsOf: URL(fileURLWithPath: path))), file: path)
    }

    static func text(_ pe: PEImage, _ s: String) -> String? { pe.contents(s).map { String(decoding: $0, as: UTF8.self) } }

    static func ukiFiles(_ m: Machine) -> [String] {
        let d = m.boot + "/bootdeploy/os/uki"
        return ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).sorted()
    }

    static func entryText(_ m: Machine) throws -> String {
        let f = try #require(m.entryFiles().first { $0.hasPrefix("bd-") && $0.hasSuffix(".conf") })
        return try String(contentsOfFile: m.entriesDir + "/" + f, encoding: .utf8)
    }

    @Test("deploy --uki: the entry starts a built UKI with the deployment's command line, kernel and initramfs")
    func deployBuilds() throws {
        try Self.requireTools("deployBuilds")
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"), ["--uki"])
        let entry = try Self.entryText(m)
        let efiLine = try #require(entry.split(separator: "\n").first { $0.hasPrefix("efi ") }, "entry: \(entry)")
        #expect(!entry.contains("\nlinux "), "a UKI entry names no separate kernel: \(entry)")
        let path = m.boot + String(efiLine.dropFirst(4))
        let pe = try Self.pe(path)
        #expect(Self.text(pe, ".cmdline") == "root=LABEL=testroot bootdeploy=\(qid)")
        #expect(Self.text(pe, ".linux") == "kernel-1" && Self.text(pe, ".initrd") == "initrd-1")
        #expect(Self.text(pe, ".uname") == "6.1.0-test")
        #expect(Self.text(pe, ".osrel")?.contains("PRETTY_NAME=\"Test OS 1 (\(qid))\"") == true)
        let row = try #require(m.deployments().first)
        let uki = try #require(row["uki"] as? [String: Any], "status has no uki: \(row)")
        #expect(uki["signed"] as? Bool == false && uki["source"] as? String == "built")
        #expect("/" + (uki["path"] as? String ?? "") == String(efiLine.dropFirst(4)))
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
        #expect(Self.ukiFiles(m).allSatisfy { !$0.hasSuffix(".tmp") }, "\(Self.ukiFiles(m))")
    }

    @Test("kargs of a UKI deployment rebuilds the image; cleanup removes the old one and any .tmp leftovers")
    func kargsRebuilds() throws {
        try Self.requireTools("kargsRebuilds")
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"), ["--uki"])
        let before = Self.ukiFiles(m)
        #expect(before.count == 1)
        try m.ok("kargs", ["--append", "quiet"])
        let entry = try Self.entryText(m)
        let efi = try #require(entry.split(separator: "\n").first { $0.hasPrefix("efi ") }).dropFirst(4)
        let pe = try Self.pe(m.boot + efi)
        #expect(Self.text(pe, ".cmdline") == "root=LABEL=testroot quiet bootdeploy=\(qid)")
        #expect(Self.text(pe, ".linux") == "kernel-1" && Self.text(pe, ".initrd") == "initrd-1")
        #expect(!efi.hasSuffix(before[0]), "the image was not rebuilt")
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
        // A crash mid-build leaves a .tmp image; cleanup removes it with the replaced image.
        try Data("partial".utf8).write(to: URL(fileURLWithPath: m.boot + "/bootdeploy/os/uki/.os.build.tmp"))
        try m.ok("cleanup")
        #expect(Self.ukiFiles(m) == [String(efi.split(separator: "/").last!)], "after cleanup: \(Self.ukiFiles(m))")
        #expect(FileManager.default.fileExists(atPath: m.boot + efi))
        // A uki.conf validate cannot read is a problem naming it, not a signing check skipped in silence.
        try "signing maybe\n".write(toFile: m.root + "/bootdeploy/os/uki.conf", atomically: true, encoding: .utf8)
        let broken = try m.bd("validate")
        #expect(!broken.ok && (broken.stdout + broken.stderr).contains("uki.conf:1"), "validate: \(broken.stdout) \(broken.stderr)")
    }

    @Test("validate notices a UKI whose command line is not the deployment's")
    func validateCatchesStaleImage() throws {
        try Self.requireTools("validateCatchesStaleImage")
        let m = Machine()
        try m.initOS()
        _ = try m.deploy(m.tree("a"), ["--uki"])
        let efi = try #require(try Self.entryText(m).split(separator: "\n").first { $0.hasPrefix("efi ") }).dropFirst(4)
        // Replace the image by one built for another command line.
        let t = TempDir("ukistale")
        t.write("k", "kernel-1")
        try UKIBuilder.build(UKIContents(osRelease: "NAME=x\n", commandLine: "root=LABEL=other", kernelRelease: "6.1.0-test",
                                         kernelPath: t.sub("k"), initrdPath: nil), scratch: t.path, output: m.boot + efi)
        let v = try m.bd("validate")
        #expect(!v.ok && (v.stdout + v.stderr).contains("command line"), "validate: \(v.stdout) \(v.stderr)")
    }

    @Test("signing required without a key refuses the deployment and leaves /boot as it was")
    func requiredSigningRefuses() throws {
        try Self.requireTools("requiredSigningRefuses")
        let m = Machine()
        try m.initOS()
        let first = try m.deploy(m.tree("a"))
        let entriesBefore = m.entryFiles()
        try "signing required\n".write(toFile: m.root + "/bootdeploy/os/uki.conf", atomically: true, encoding: .utf8)
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "kernel-2"), "--uki"])
        #expect(!r.ok && r.stderr.contains("unsigned"), "deploy: \(r.stderr)")
        #expect(m.entryFiles() == entriesBefore)
        #expect(Self.ukiFiles(m).isEmpty, "\(Self.ukiFiles(m))")
        #expect(try m.order() == [first])
        // A bad line in uki.conf is named with file and line.
        try "signing maybe\n".write(toFile: m.root + "/bootdeploy/os/uki.conf", atomically: true, encoding: .utf8)
        let bad = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("c", kernel: "kernel-3"), "--uki"])
        #expect(!bad.ok && bad.stderr.contains("uki.conf:1"), "deploy: \(bad.stderr)")
    }

    @Test("uki.conf with a key signs; the image verifies; the tree's own UKI is taken and its command line replaced")
    func signedAndTreeUKI() throws {
        try Self.requireTools("signedAndTreeUKI")
        if !TestEnv.have("sbsign") || !TestEnv.have("openssl") { try TestEnv.skip("signedAndTreeUKI", because: "sbsigntool or openssl missing") }
        let m = Machine()
        try m.initOS()
        let keys = TempDir("ukikeys")
        let g = try run("/usr/bin/openssl", ["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=bd test/",
                                             "-keyout", keys.sub("db.key"), "-out", keys.sub("db.crt")])
        #expect(g.ok, "\(g.stderr)")
        try "uki yes\nsign-key \(keys.sub("db.key"))\nsign-cert \(keys.sub("db.crt"))\nsigning required\n"
            .write(toFile: m.root + "/bootdeploy/os/uki.conf", atomically: true, encoding: .utf8)
        // The tree ships its own UKI (kernel-install layout) with a command line of its own.
        let tree = m.tree("a")
        let t = TempDir("ukitree")
        t.write("k", "tree-kernel")
        t.write("i", "tree-initrd")
        try UKIBuilder.build(UKIContents(osRelease: "NAME=Tree\n", commandLine: "root=LABEL=vendor", kernelRelease: "6.1.0-test",
                                         kernelPath: t.sub("k"), initrdPath: t.sub("i")),
                             scratch: t.path, output: tree + "/usr/lib/modules/6.1.0-test/vendor.efi")
        let qid = try m.deploy(tree)   // no --uki: uki.conf says yes
        let efi = try #require(try Self.entryText(m).split(separator: "\n").first { $0.hasPrefix("efi ") }).dropFirst(4)
        #expect(try run("/usr/bin/sbverify", ["--cert", keys.sub("db.crt"), m.boot + efi]).ok)
        let pe = try Self.pe(m.boot + efi)
        #expect(Self.text(pe, ".linux") == "tree-kernel" && Self.text(pe, ".initrd") == "tree-initrd")
        #expect(Self.text(pe, ".cmdline") == "root=LABEL=testroot bootdeploy=\(qid)")
        #expect(Self.text(pe, ".osrel") == "NAME=Tree\n")
        let uki = try #require(try m.deployments().first?["uki"] as? [String: Any])
        #expect(uki["signed"] as? Bool == true && uki["source"] as? String == "tree:vendor.efi")
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
    }

    @Test("deploy --uki --stage builds the image at once; finalize names it; cleanup keeps the images, drops unused kernel directories")
    func stagedUKI() throws {
        try Self.requireTools("stagedUKI")
        let m = Machine()
        try m.initOS()
        let first = try m.deploy(m.tree("a"), ["--uki"])
        let staged = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "kernel-2"), "--karg", "root=LABEL=testroot",
                                         "--uki", "--stage", "--no-start-unit"])
        #expect(Self.ukiFiles(m).count == 2, "the staged image is built at stage time: \(Self.ukiFiles(m))")
        try m.ok("cleanup")
        #expect(Self.ukiFiles(m).count == 2, "cleanup keeps the staged deployment's image: \(Self.ukiFiles(m))")
        try m.ok("finalize")
        #expect(try m.order() == [staged, first])
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
        try m.ok("cleanup")
        #expect(Self.ukiFiles(m).count == 2)
        // Nothing boots the kernel directories of UKI deployments: cleanup removes them.
        let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: m.boot + "/bootdeploy/os")) ?? []).filter { $0 != "uki" }
        #expect(kernels.isEmpty, "\(kernels)")
        #expect(try m.bd("validate").ok)
    }
}
