import BootDeployEarlyBoot
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

    /// Files in `EFI/Linux` (our Type #2 entries).
    static func placed(_ m: Machine) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: m.boot + "/EFI/Linux")) ?? []).sorted()
    }

    /// The placed image of `qid` (found by its `.cmdline`), relative to the boot root with a
    /// leading `/`.
    static func image(_ m: Machine, _ qid: String) throws -> String {
        let hit = try placed(m).first { f in
            let pe = try Self.pe(m.boot + "/EFI/Linux/" + f)
            return Self.text(pe, ".cmdline")?.hasSuffix("bootdeploy=\(qid)") == true
        }
        return "/EFI/Linux/" + (try #require(hit, "no image of \(qid) in EFI/Linux: \(placed(m))"))
    }

    /// Our Type #1 entries (either naming scheme).
    static func ourEntries(_ m: Machine) -> [String] {
        m.entryFiles().filter { $0.hasPrefix("bd-") || $0.hasPrefix(NameOrder.prefix) }
    }

    @Test("deploy --uki: a Type #2 entry in EFI/Linux, built with the deployment's command line, kernel and initramfs; no Type #1 entry")
    func deployBuilds() throws {
        try Self.requireTools("deployBuilds")
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"), ["--uki"])
        #expect(Self.ourEntries(m).isEmpty, "a UKI deployment has no Type #1 entry: \(m.entryFiles())")
        #expect(Self.placed(m).count == 1 && Self.placed(m)[0].hasPrefix("bootdeploy-") && UKIFileName(Self.placed(m)[0])?.id.hasSuffix("-os") == true, "\(Self.placed(m))")
        let path = try Self.image(m, qid)
        let pe = try Self.pe(m.boot + path)
        #expect(Self.text(pe, ".cmdline") == "root=LABEL=testroot bootdeploy=\(qid)")
        #expect(Self.text(pe, ".linux") == "kernel-1" && Self.text(pe, ".initrd") == "initrd-1")
        #expect(Self.text(pe, ".uname") == "6.1.0-test")
        let osrel = UKIOSRelease.parse(Self.text(pe, ".osrel") ?? "")
        #expect(osrel["PRETTY_NAME"] == "Test OS 1 (\(qid))" && osrel["IMAGE_ID"] == "bootdeploy", "\(osrel)")
        #expect(UKIOSRelease.versionKeys.allSatisfy { osrel[$0] == nil }, "no version of its own: \(osrel)")
        let row = try #require(m.deployments().first)
        let uki = try #require(row["uki"] as? [String: Any], "status has no uki: \(row)")
        #expect(uki["signed"] as? Bool == false && uki["source"] as? String == "built")
        #expect("/" + (uki["path"] as? String ?? "") == path)
        #expect(row["entry"] as? String == String(path.split(separator: "/").last!))
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
        // The image moved out of the content store into place.
        #expect(Self.ukiFiles(m).isEmpty, "\(Self.ukiFiles(m))")
    }

    @Test("kargs of a UKI deployment rebuilds the image; cleanup removes the old one and any .tmp leftovers")
    func kargsRebuilds() throws {
        try Self.requireTools("kargsRebuilds")
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"), ["--uki"])
        let before = Self.placed(m)
        #expect(before.count == 1)
        let beforeDigest = try Self.digest(m.boot + "/EFI/Linux/" + before[0])
        try m.ok("kargs", ["--append", "quiet"])
        let efi = try Self.image(m, qid)
        let pe = try Self.pe(m.boot + efi)
        #expect(Self.text(pe, ".cmdline") == "root=LABEL=testroot quiet bootdeploy=\(qid)")
        #expect(Self.text(pe, ".linux") == "kernel-1" && Self.text(pe, ".initrd") == "initrd-1")
        #expect(try Self.digest(m.boot + efi) != beforeDigest, "the image was not rebuilt")
        #expect(Self.placed(m).count == 1, "the replaced image is gone: \(Self.placed(m))")
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
        // A crash mid-build leaves a .tmp image in the store; cleanup removes it.
        try FileManager.default.createDirectory(atPath: m.boot + "/bootdeploy/os/uki", withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: m.boot + "/bootdeploy/os/uki/.os.build.tmp"))
        try m.ok("cleanup")
        #expect(Self.ukiFiles(m).isEmpty, "after cleanup: \(Self.ukiFiles(m))")
        #expect(FileManager.default.fileExists(atPath: m.boot + efi))
        // A uki.conf validate cannot read is a problem naming it, not a signing check skipped in silence.
        try "signing maybe\n".write(toFile: m.root + "/bootdeploy/os/uki.conf", atomically: true, encoding: .utf8)
        let broken = try m.bd("validate")
        #expect(!broken.ok && (broken.stdout + broken.stderr).contains("uki.conf:1"), "validate: \(broken.stdout) \(broken.stderr)")
    }

    static func digest(_ path: String) throws -> [UInt8] {
        let h = SHA256()
        h.update(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        return Array(h.finalizeHex().utf8)
    }

    @Test("a Type #1 factory and UKI updates share one order by name: deploy, rollback, undeploy, back to Type #1 names; bootctl agrees")
    func mixedOrder() throws {
        try Self.requireTools("mixedOrder")
        let m = Machine()
        try m.initOS()
        let factory = try m.deploy(m.tree("a"))
        #expect(Self.ourEntries(m).allSatisfy { $0.hasPrefix("bd-os-") }, "\(m.entryFiles())")
        let u1 = try m.deploy(m.tree("b", kernel: "kernel-2"), ["--uki"])
        #expect(try m.order() == [u1, factory])
        // The factory's entry is now in name order: no version, ranked below the UKI.
        let t1 = try #require(Self.ourEntries(m).first, "\(m.entryFiles())")
        #expect(t1.hasPrefix(NameOrder.prefix), "\(t1)")
        let t1Text = try String(contentsOfFile: m.entriesDir + "/" + t1, encoding: .utf8)
        #expect(!t1Text.contains("\nversion ") && t1Text.contains("sort-key bootdeploy"), "\(t1Text)")
        let u2 = try m.deploy(m.tree("c", kernel: "kernel-3"), ["--uki", "--tries", "3"])
        #expect(try m.order() == [u2, u1, factory])
        let u2File = String(try Self.image(m, u2).split(separator: "/").last!)
        #expect(UKIFileName(u2File)?.counter == BootCounter(left: 3, done: 0), "counter in the image's name: \(u2File)")
        try Self.checkBootctl(m, [u2, u1, factory])
        try m.ok("rollback")
        #expect(try m.order() == [u1, u2, factory])
        try Self.checkBootctl(m, [u1, u2, factory])
        try m.ok("set-default", [factory])
        #expect(try m.order() == [factory, u1, u2])
        try Self.checkBootctl(m, [factory, u1, u2])
        #expect(try m.bd("validate").ok)
        try m.ok("undeploy", [u1])
        try m.ok("undeploy", [u2])
        #expect(try m.order() == [factory])
        #expect(Self.placed(m).isEmpty, "\(Self.placed(m))")
        #expect(Self.ourEntries(m).count == 1 && Self.ourEntries(m)[0].hasPrefix("bd-os-"), "back to version order: \(m.entryFiles())")
        #expect(try m.bd("validate").ok)
    }

    @Test("an image whose counter is spelled without DONE (+3) is read and named as spelled")
    func spelledCounter() throws {
        try Self.requireTools("spelledCounter")
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"), ["--uki", "--tries", "3"])
        let placed = String(try Self.image(m, qid).split(separator: "/").last!)
        let spelled = placed.replacingOccurrences(of: "+3-0.efi", with: "+3.efi")
        #expect(spelled != placed, "\(placed)")
        try FileManager.default.moveItem(atPath: m.boot + "/EFI/Linux/" + placed, toPath: m.boot + "/EFI/Linux/" + spelled)
        #expect(try m.deployments().first?["entry"] as? String == spelled)
        let next = try m.deploy(m.tree("b", kernel: "kernel-2"), ["--uki"])
        #expect(try m.order() == [next, qid])
        #expect(Self.placed(m).count == 2 && !Self.placed(m).contains(spelled), "the old name was renamed, not left: \(Self.placed(m))")
    }

    /// The real bootctl lists our entries (Type #1 and Type #2) in `order`.
    static func checkBootctl(_ m: Machine, _ order: [String]) throws {
        guard TestEnv.isRoot, Bootctl.available else { return }
        let listed = try m.bootctl()
        let ours = listed.compactMap { e -> String? in
            let opts = (e["options"] as? String) ?? ""
            guard let r = opts.range(of: "bootdeploy=") else { return nil }
            return String(opts[r.upperBound...].split(separator: " ").first ?? "")
        }
        #expect(ours == order, "bootctl order \(ours), expected \(order): \(listed.map { $0["id"] ?? "?" })")
    }

    @Test("validate notices a placed UKI with a version of its own, and one without bootdeploy= (which status also names)")
    func validateCatchesForeignImage() throws {
        try Self.requireTools("validateCatchesForeignImage")
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"), ["--uki"])
        let efi = try Self.image(m, qid)
        let t = TempDir("ukistale")
        t.write("k", "kernel-1")
        // An image rebuilt by someone else with IMAGE_VERSION: systemd-boot would sort it by version.
        try UKIBuilder.build(UKIContents(osRelease: UKIOSRelease.render(title: "x", deployment: try DeploymentName(parsing: qid), rank: 7), commandLine: "root=LABEL=other bootdeploy=\(qid)",
                                         kernelRelease: "6.1.0-test", kernelPath: t.sub("k"), initrdPath: nil), scratch: t.path, output: m.boot + efi)
        let v = try m.bd("validate")
        #expect(!v.ok && (v.stdout + v.stderr).contains("version \"7\""), "validate: \(v.stdout) \(v.stderr)")
        // An image of ours by name that does not say which deployment it boots.
        try UKIBuilder.build(UKIContents(osRelease: "NAME=x\n", commandLine: "root=LABEL=other", kernelRelease: "6.1.0-test",
                                         kernelPath: t.sub("k"), initrdPath: nil), scratch: t.path, output: m.boot + efi)
        let w = try m.bd("validate")
        #expect(!w.ok && (w.stdout + w.stderr).contains(".cmdline") && (w.stdout + w.stderr).contains(String(efi.split(separator: "/").last!)),
                "validate: \(w.stdout) \(w.stderr)")
        let d = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "kernel-2"), "--uki"])
        #expect(!d.ok && d.stderr.contains("EFI/Linux/"), "a mutating command names the image and changes nothing: \(d.stderr)")
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
        let efi = try Self.image(m, qid)
        #expect(try run("/usr/bin/sbverify", ["--cert", keys.sub("db.crt"), m.boot + efi]).ok)
        let pe = try Self.pe(m.boot + efi)
        #expect(Self.text(pe, ".linux") == "tree-kernel" && Self.text(pe, ".initrd") == "tree-initrd")
        #expect(Self.text(pe, ".cmdline") == "root=LABEL=testroot bootdeploy=\(qid)")
        // The tree's os-release is kept, without a version that would take the image out of our order.
        let osrel = UKIOSRelease.parse(Self.text(pe, ".osrel") ?? "")
        #expect(osrel["NAME"] == "Tree" && osrel["IMAGE_ID"] == "bootdeploy" && osrel["VERSION_ID"] == nil, "\(osrel)")
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
        #expect(Self.ukiFiles(m).count == 1 && Self.placed(m).count == 1, "the staged image is built at stage time: \(Self.ukiFiles(m)) \(Self.placed(m))")
        try m.ok("cleanup")
        #expect(Self.ukiFiles(m).count == 1, "cleanup keeps the staged deployment's image: \(Self.ukiFiles(m))")
        try m.ok("finalize")
        #expect(try m.order() == [staged, first])
        #expect(Self.ukiFiles(m).isEmpty && Self.placed(m).count == 2, "finalize placed it: \(Self.ukiFiles(m)) \(Self.placed(m))")
        let v = try m.bd("validate")
        #expect(v.ok, "validate: \(v.stdout) \(v.stderr)")
        try m.ok("cleanup")
        #expect(Self.placed(m).count == 2)
        // Nothing boots the kernel directories of UKI deployments: cleanup removes them.
        let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: m.boot + "/bootdeploy/os")) ?? []).filter { $0 != "uki" }
        #expect(kernels.isEmpty, "\(kernels)")
        #expect(try m.bd("validate").ok)
    }
}
