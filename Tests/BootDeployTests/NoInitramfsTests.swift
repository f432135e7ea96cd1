import Foundation
import TestSupport
import Testing

/// A tree as Debian lays it out (usr-merged, `/lib64/ld-linux-x86-64.so.2` an absolute symlink) that
/// carries the project's early-boot binary and exactly the libraries `ldd` finds for it.
/// The release binary when `make check` names it (smaller, so the digests are quicker), else the debug one.
private var earlyBootBinary: String {
    ProcessInfo.processInfo.environment["BOOTDEPLOY_PREPARE_ROOT_BINARY"] ?? TestEnv.tool("bd-prepare-root")
}

private func addEarlyBoot(_ m: Machine, tree name: String, binary: String = earlyBootBinary) throws {
    let t = m.tmp.sub("trees/\(name)")
    let fm = FileManager.default
    let libDir = t + "/usr/lib/x86_64-linux-gnu"
    try fm.createDirectory(atPath: libDir, withIntermediateDirectories: true)
    try fm.createDirectory(atPath: t + "/usr/lib64", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: t + "/usr/lib/bootdeploy", withIntermediateDirectories: true)
    try fm.copyItem(atPath: binary, toPath: t + "/usr/lib/bootdeploy/bd-prepare-root")
    try fm.createSymbolicLink(atPath: t + "/lib", withDestinationPath: "usr/lib")
    try fm.createSymbolicLink(atPath: t + "/lib64", withDestinationPath: "usr/lib64")
    let ldd = try run("/usr/bin/ldd", [binary])
    guard ldd.ok else { throw Failure("ldd \(binary): \(ldd.stderr)") }
    for line in ldd.stdout.split(separator: "\n") {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if words.count >= 3, words[1] == "=>", words[2].hasPrefix("/") {
            // The library file itself under its needed name, behind a version symlink as packages do.
            try fm.copyItem(atPath: URL(fileURLWithPath: words[2]).resolvingSymlinksInPath().path, toPath: libDir + "/" + words[0] + ".real")
            try fm.createSymbolicLink(atPath: libDir + "/" + words[0], withDestinationPath: words[0] + ".real")
        } else if let loader = words.first, loader.hasPrefix("/") {
            let base = (loader as NSString).lastPathComponent
            try fm.copyItem(atPath: URL(fileURLWithPath: loader).resolvingSymlinksInPath().path, toPath: libDir + "/" + base)
            try fm.createSymbolicLink(atPath: t + "/usr/lib64/" + base, withDestinationPath: "/lib/x86_64-linux-gnu/" + base)
        }
    }
}

private func record(_ m: Machine, _ qid: String) throws -> [String: Any] {
    let id = qid.split(separator: "/")[1]
    let data = try Data(contentsOf: URL(fileURLWithPath: m.root + "/bootdeploy/os/deploy/\(id).json"))
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

@Suite("deploy without an initramfs (init= from the physical root)", .serialized)
struct NoInitramfsTests {
    @Test("a tree without initramfs.img is refused unless --no-initramfs is given, and the message says so")
    func missingInitramfsNeedsTheFlag() throws {
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        try FileManager.default.removeItem(atPath: t + "/usr/lib/modules/6.1.0-test/initramfs.img")
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=LABEL=x"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("initramfs.img") && r.stderr.contains("--no-initramfs"), "\(r.stderr)")
        #expect(m.entryFiles().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: m.root + "/bootdeploy/os/deploy").isEmpty)
    }

    @Test("--no-initramfs on a tree without the early-boot binary is refused, naming the path; nothing is changed")
    func noBinaryRefused() throws {
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=LABEL=x", "--no-initramfs"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("usr/lib/bootdeploy/bd-prepare-root"), "\(r.stderr)")
        #expect(m.entryFiles().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: m.root + "/bootdeploy/early-boot"))
    }

    @Test("an early-boot binary that is not a 64-bit ELF file, or needs a library the tree lacks, is refused, naming the file")
    func badBinaryRefused() throws {
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        m.tmp.write("trees/a/usr/lib/bootdeploy/bd-prepare-root", "#!/bin/sh\n", mode: 0o755)
        var r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=LABEL=x", "--no-initramfs"])
        #expect(r.status == 1 && r.stderr.contains("\(t)/usr/lib/bootdeploy/bd-prepare-root: not an ELF file"), "\(r.stderr)")
        let u = m.tree("b")
        try addEarlyBoot(m, tree: "b")
        try FileManager.default.removeItem(atPath: u + "/usr/lib/x86_64-linux-gnu/libmount.so.1")
        r = try m.bd("deploy", ["--stateroot", "os", "--tree", u, "--karg", "root=LABEL=x", "--no-initramfs"])
        #expect(r.status == 1 && r.stderr.contains("needs libmount.so.1"), "\(r.stderr)")
        #expect(m.entryFiles().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: m.root + "/bootdeploy/early-boot"))
    }

    @Test("deploy --no-initramfs: entry without initrd, with init= and LD_LIBRARY_PATH=; binary, libraries and loader installed; no initramfs on /boot")
    func deployWritesInitEntry() throws {
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        try FileManager.default.removeItem(atPath: t + "/usr/lib/modules/6.1.0-test/initramfs.img")
        try addEarlyBoot(m, tree: "a")
        let qid = try m.deploy(t, ["--no-initramfs"])
        let rec = try record(m, qid)
        let eb = try #require(rec["earlyBoot"] as? [String: Any])
        let path = try #require(eb["path"] as? String)
        #expect(path.hasPrefix("bootdeploy/early-boot/") && path.count == "bootdeploy/early-boot/".count + 64)
        let libs = try #require(eb["libraries"] as? [String])
        #expect(libs.contains("ld-linux-x86-64.so.2") && libs.contains("libmount.so.1") && libs.contains("libselinux.so.1"), "\(libs)")
        let files = m.entryFiles()
        #expect(files.count == 1)
        let text = try String(contentsOfFile: m.entriesDir + "/" + files[0], encoding: .utf8)
        #expect(!text.contains("initrd"), "\(text)")
        #expect(text.contains("options root=LABEL=testroot init=/\(path)/bd-prepare-root LD_LIBRARY_PATH=/\(path)/lib bootdeploy=\(qid)"), "\(text)")
        // The kernel directory holds the kernel only.
        let kdir = try #require(rec["kernelDir"] as? String)
        #expect(try FileManager.default.contentsOfDirectory(atPath: m.boot + "/" + kdir) == ["vmlinuz"])
        // The installed binary's interpreter is the loader copied beside it.
        let installed = m.root + "/" + path
        let interp = try run("/usr/bin/readelf", ["-l", installed + "/bd-prepare-root"])
        #expect(interp.stdout.contains("[Requesting program interpreter: /\(path)/lib/ld-linux-x86-64.so.2]"), "\(interp.stdout)")
        for l in libs { #expect(FileManager.default.fileExists(atPath: installed + "/lib/" + l), "\(l)") }
        // Validate is content; status shows the install.
        let v = try m.bd("validate")
        #expect(v.ok, "\(v.stdout)\(v.stderr)")
        let dep = try #require(try m.deployments().first)
        #expect((dep["earlyBoot"] as? [String: Any])?["path"] as? String == path)
        #expect(dep["earlyBootProblem"] == nil)
    }

    @Test("the installed early-boot binary runs in a root that holds nothing but bootdeploy/ and empty mount points (chroot)")
    func installedBinaryIsSelfContained() throws {
        if !TestEnv.isRoot { try TestEnv.skip("installedBinaryIsSelfContained", because: "chroot needs root") }
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        try addEarlyBoot(m, tree: "a")
        let qid = try m.deploy(t, ["--no-initramfs"])
        let path = try #require((try record(m, qid)["earlyBoot"] as? [String: Any])?["path"] as? String)
        // The physical root as the kernel sees it before init: bootdeploy/ and the empty mount points
        // of the API filesystems (the deployment's own tree is below bootdeploy/, but nothing
        // resolves there).
        let r = try run("/usr/sbin/chroot", [m.root, "/\(path)/bd-prepare-root", "--help"],
                        env: ["LD_LIBRARY_PATH": "/\(path)/lib"])
        #expect(r.ok, "\(r.status): \(r.stderr)")
        #expect(r.stdout.contains("usage: bd-prepare-root"), "\(r.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: m.root).sorted() == ["bootdeploy", "dev", "proc", "run", "sys"])
        for d in ["dev", "proc", "run", "sys"] { #expect(try FileManager.default.contentsOfDirectory(atPath: m.root + "/" + d).isEmpty) }
    }

    @Test("validate and status name a missing, damaged or stale install; install-init repairs and refreshes it; cleanup removes the old one")
    func staleAndMissingInstalls() throws {
        let m = Machine()
        try m.initOS()
        let t = m.tree("a")
        try addEarlyBoot(m, tree: "a")
        let qid = try m.deploy(t, ["--no-initramfs"])
        let path = try #require((try record(m, qid)["earlyBoot"] as? [String: Any])?["path"] as? String)
        let installed = m.root + "/" + path
        let fm = FileManager.default

        // Missing.
        try fm.removeItem(atPath: installed)
        var v = try m.bd("validate")
        #expect(v.status == 1 && v.stdout.contains("\(path) is missing") && v.stdout.contains("boot-deploy install-init \(qid)"), "\(v.stdout)")
        #expect((try m.deployments().first?["earlyBootProblem"] as? String)?.contains("missing") == true)
        var r = try m.bd("install-init")
        #expect(r.ok && r.stdout.contains("\(qid): installed /\(path)/bd-prepare-root"), "\(r.stdout)\(r.stderr)")
        #expect(try m.bd("validate").ok)

        // Damaged.
        try Data("x".utf8).write(to: URL(fileURLWithPath: installed + "/lib/libmount.so.1"))
        v = try m.bd("validate")
        #expect(v.status == 1 && v.stdout.contains("libmount.so.1 differs"), "\(v.stdout)")
        r = try m.bd("install-init", [qid])
        #expect(r.ok && r.stdout.contains("\(qid): installed /\(path)/bd-prepare-root") && !r.stdout.contains("entry updated"), "\(r.stdout)\(r.stderr)")
        #expect(try m.bd("validate").ok, "the damaged install is replaced in place")
        #expect(try m.ok("install-init").contains("already installed"))

        // Stale: the deployment's tree now carries another binary.
        let deployed = m.root + "/bootdeploy/os/deploy/" + qid.split(separator: "/")[1] + "/usr/lib/bootdeploy/bd-prepare-root"
        var bin = try Data(contentsOf: URL(fileURLWithPath: deployed))
        bin.append(contentsOf: [0, 1, 2, 3])
        try fm.removeItem(atPath: deployed)   // a hard link into the tree we deployed from
        try bin.write(to: URL(fileURLWithPath: deployed))
        v = try m.bd("validate")
        #expect(v.status == 1 && v.stdout.contains("is stale"), "\(v.stdout)")
        r = try m.bd("install-init", [qid])
        #expect(r.ok && r.stdout.contains("(entry updated)"), "\(r.stdout)\(r.stderr)")
        let newPath = try #require((try record(m, qid)["earlyBoot"] as? [String: Any])?["path"] as? String)
        #expect(newPath != path)
        let text = try String(contentsOfFile: m.entriesDir + "/" + m.entryFiles()[0], encoding: .utf8)
        #expect(text.contains("init=/\(newPath)/bd-prepare-root"), "\(text)")
        #expect(try m.bd("validate").ok)
        // The old install stays until cleanup finds no record naming it.
        #expect(fm.fileExists(atPath: installed))
        let c = try m.ok("cleanup")
        #expect(c.contains("removed early-boot install \(path)"), "\(c)")
        #expect(!fm.fileExists(atPath: installed) && fm.fileExists(atPath: m.root + "/" + newPath))
    }

    @Test("install-init refuses a deployment that boots with its initramfs; 'early-boot' is no stateroot name")
    func refusals() throws {
        let m = Machine()
        try m.initOS()
        let qid = try m.deploy(m.tree("a"))
        let r = try m.bd("install-init", [qid])
        #expect(r.status == 1 && r.stderr.contains("--no-initramfs"), "\(r.stderr)")
        let i = try m.bd("init", ["--stateroot", "early-boot"])
        #expect(i.status == 1 && i.stderr.contains("reserved"), "\(i.stderr)")
    }
}
