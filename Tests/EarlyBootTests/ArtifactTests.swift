import BootDeployEarlyBoot
import Foundation
import Glibc
import TestSupport
import Testing

/// The repository root, found from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The bd-prepare-root the artifact tests look at: `BOOTDEPLOY_PREPARE_ROOT_BINARY` (for example
/// the stripped release build) or the one built with the tests.
var prepareRootBinary: String {
    ProcessInfo.processInfo.environment["BOOTDEPLOY_PREPARE_ROOT_BINARY"] ?? TestEnv.tool("bd-prepare-root")
}

/// The release bd-prepare-root: `BOOTDEPLOY_PREPARE_ROOT_BINARY`, else the release build next to the
/// tests' own build folder, else the Makefile's; "(none)" when there is none.
var releasePrepareRoot: String {
    let candidates = [ProcessInfo.processInfo.environment["BOOTDEPLOY_PREPARE_ROOT_BINARY"],
                      TestEnv.binDir + "/../release/bd-prepare-root", repoRoot + "/.build/release/bd-prepare-root"]
    return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "(none)"
}

@Suite("what ships: the binary, the dracut module, the /var generator", .serialized)
struct ArtifactTests {
    @Test("bd-prepare-root links no Foundation: neither its libraries nor its symbols")
    func noFoundation() throws {
        let bin = prepareRootBinary
        guard FileManager.default.isExecutableFile(atPath: bin) else { try TestEnv.skip("noFoundation", because: "\(bin) is not built") }
        guard TestEnv.have("readelf"), TestEnv.have("nm") else { try TestEnv.skip("noFoundation", because: "binutils missing") }
        let dyn = try run("readelf", ["-d", "-W", bin])
        #expect(dyn.ok, "\(dyn.stderr)")
        let needed = dyn.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }.map { String($0) }
        #expect(!needed.isEmpty)
        #expect(needed.contains { $0.contains("libmount.so") }, "libmount is linked: \(needed)")
        for lib in needed {
            #expect(!lib.contains("Foundation") && !lib.contains("libxml2") && !lib.contains("libcurl") && !lib.contains("icu"),
                    "no Foundation (or what it drags in): \(lib)")
            #expect(!lib.contains("libsystemd"), "no libsystemd in early boot: \(lib)")
        }
        let syms = try run("nm", ["-D", bin])
        #expect(syms.ok)
        let foundation = syms.stdout.split(separator: "\n").filter {
            $0.contains("10Foundation") || $0.contains("20FoundationEssentials") || $0.contains("CFRunLoop")
        }
        #expect(foundation.isEmpty, "Foundation symbols: \(foundation.prefix(5))")
        // The libraries ldd resolves are the same story (a NEEDED library could pull Foundation in).
        let ldd = try run("/usr/bin/ldd", [bin])
        #expect(!ldd.stdout.contains("Foundation"), "\(ldd.stdout)")
    }

    @Test("the release build is within budget: stripped, static Swift runtime and libstdc++, no larger than before the reshaping")
    func releaseBudget() throws {
        let bin = releasePrepareRoot
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            try TestEnv.skip("releaseBudget", because: "no release build at \(bin) (make release, or set BOOTDEPLOY_PREPARE_ROOT_BINARY)")
        }
        let size = try FileManager.default.attributesOfItem(atPath: bin)[.size] as? Int ?? .max
        // 6,951,000 bytes before #12's reshaping; 6,881,840 with the release link settings of
        // Package.swift (2026-12-05). One `String.contains(String)` (a _StringProcessing API) anywhere
        // in EarlyBoot or System links _StringProcessing and _RegexParser in: 8.35 MB. This catches that,
        // and a lost link setting (--no-export-dynamic alone is worth 200 KB).
        #expect(size <= 6_951_000, "\(size) bytes")
        let ldd = try run("/usr/bin/ldd", [bin])
        #expect(!ldd.stdout.contains("libswift"), "the Swift runtime is linked statically: \(ldd.stdout)")
        // scripts/link/libstdc++.so: one library fewer to load on every boot and to carry.
        #expect(!ldd.stdout.contains("libstdc++"), "libstdc++ is linked statically: \(ldd.stdout)")
        let help = try run(bin, ["--help"])
        #expect(help.ok && help.stdout.contains("bootdeploy=<stateroot>/<id>"))
    }

    @Test("the release bd-prepare-root carries no fault-injection seam: it runs as PID 1")
    func releaseHasNoFaultSeam() throws {
        let bin = releasePrepareRoot
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            try TestEnv.skip("releaseHasNoFaultSeam", because: "no release build at \(bin) (make release, or set BOOTDEPLOY_PREPARE_ROOT_BINARY)")
        }
        guard TestEnv.have("strings") else { try TestEnv.skip("releaseHasNoFaultSeam", because: "binutils missing") }
        let out = try run("strings", ["-a", bin])
        #expect(out.ok && !out.stdout.isEmpty)
        let seam = out.stdout.split(separator: "\n").filter { $0.contains("BOOTDEPLOY_FAULT") }
        #expect(seam.isEmpty, "fault-injection variables in \(bin): \(seam)")
        // The debug build the crash tests drive does have it: the check above can fail.
        let debug = try run("strings", ["-a", TestEnv.tool("bd-prepare-root")])
        #expect(debug.stdout.contains("BOOTDEPLOY_FAULT_AT"), "the debug build lost its fault seam")
    }

    @Test("the /var generator writes a bind of the stateroot's var only when /var is not mounted")
    func varGenerator() throws {
        let gen = repoRoot + "/units/bootdeploy-var-generator"
        let t = TempDir("bd-gen")
        t.mkdir("root/sysroot/bootdeploy/os/var")
        t.write("mi.novar", "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n23 22 254:1 / /sysroot rw - ext4 /dev/vda1 rw\n")
        t.write("mi.var", "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n24 22 254:1 /bootdeploy/os/var /var rw - ext4 /dev/vda1 rw\n")
        func generate(_ cmdline: String, _ mountinfo: String, _ out: String) throws -> RunResult {
            t.write("cmdline.\(out)", cmdline)
            t.mkdir(out + "/normal"); t.mkdir(out + "/early"); t.mkdir(out + "/late")
            return try run("/bin/sh", [gen, t.sub(out + "/normal"), t.sub(out + "/early"), t.sub(out + "/late")],
                           env: ["BOOTDEPLOY_CMDLINE": t.sub("cmdline.\(out)"), "BOOTDEPLOY_MOUNTINFO": t.sub(mountinfo),
                                 "BOOTDEPLOY_ROOT": t.sub("root")])
        }
        let a = try generate("root=UUID=1 bootdeploy=os/a.0 quiet", "mi.novar", "a")
        #expect(a.ok, "\(a.stderr)")
        let unit = t.read("a/late/var.mount") ?? ""
        #expect(unit.contains("What=/sysroot/bootdeploy/os/var") && unit.contains("Where=/var") && unit.contains("Options=bind"), "\(unit)")
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: t.sub("a/late/local-fs.target.requires/var.mount"))
        #expect(link == "../var.mount")
        #expect((try FileManager.default.contentsOfDirectory(atPath: t.sub("a/normal"))).isEmpty, "only the late directory, so fstab wins")
        if TestEnv.have("systemd-analyze") {
            let v = try run("systemd-analyze", ["verify", t.sub("a/late/var.mount")])
            #expect(v.ok && v.stderr.isEmpty, "systemd accepts the generated unit: \(v.stderr)")
        }

        for (n, (cmdline, mi)) in [("bootdeploy=os/a.0", "mi.var"), ("quiet", "mi.novar"), ("bootdeploy=../x", "mi.novar"),
                                   ("bootdeploy=os/a/b", "mi.novar"), ("bootdeploy=other/a.0", "mi.novar")].enumerated() {
            let r = try generate(cmdline, mi, "n\(n)")
            #expect(r.ok, "\(cmdline): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: t.sub("n\(n)/late/var.mount")), "\(cmdline) with \(mi): no unit")
        }
    }

    @Test("systemd accepts the initramfs unit (apart from what only exists inside an initramfs)")
    func unitVerifies() throws {
        guard TestEnv.have("systemd-analyze") else { try TestEnv.skip("unitVerifies", because: "systemd-analyze missing") }
        let t = TempDir("bd-unit")
        try FileManager.default.copyItem(atPath: repoRoot + "/dracut/50bootdeploy/bootdeploy-prepare-root.service",
                                         toPath: t.sub("bootdeploy-prepare-root.service"))
        let v = try run("systemd-analyze", ["verify", t.sub("bootdeploy-prepare-root.service")])
        // sysroot.mount is generated in the initramfs and the binary is not installed on the host.
        let unexpected = v.stderr.split(separator: "\n").filter {
            !$0.contains("Unit sysroot.mount not found") && !$0.contains("/usr/lib/bootdeploy/bd-prepare-root is not executable")
        }
        #expect(unexpected.isEmpty, "\(unexpected)")
    }

    @Test("dracut builds an initramfs with the module: binary, libraries, unit and its enablement, and the binary runs inside")
    func dracutModule() throws {
        guard TestEnv.isRoot else { try TestEnv.skip("dracutModule", because: "needs root for chroot") }
        guard TestEnv.have("dracut"), TestEnv.have("lsinitrd"), FileManager.default.fileExists(atPath: "/usr/lib/dracut/dracut-init.sh") else {
            try TestEnv.skip("dracutModule", because: "dracut is not installed")
        }
        let bin = prepareRootBinary
        guard FileManager.default.isExecutableFile(atPath: bin) else { try TestEnv.skip("dracutModule", because: "\(bin) is not built") }
        let t = TempDir("bd-dracut")
        // A private copy of dracut's module tree with ours added: the host's /usr/lib/dracut is
        // not touched.
        var r = try run("/bin/cp", ["-a", "/usr/lib/dracut", t.sub("dracut")])
        #expect(r.ok, "\(r.stderr)")
        r = try run("/bin/cp", ["-a", repoRoot + "/dracut/50bootdeploy", t.sub("dracut/modules.d/50bootdeploy")])
        #expect(r.ok, "\(r.stderr)")
        t.mkdir("confdir")
        t.write("dracut.conf", "# empty: the host's dracut configuration must not change what this test builds\n")
        t.mkdir("tmp")
        var kernel = ["--no-kernel"]
        var uname = utsname()
        uname_r: do {
            _ = Glibc.uname(&uname)
            let release = withUnsafeBytes(of: uname.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if FileManager.default.fileExists(atPath: "/lib/modules/\(release)/modules.dep") { kernel = ["--kver", release]; break uname_r }
            let installed = (try? FileManager.default.contentsOfDirectory(atPath: "/lib/modules")) ?? []
            if let k = installed.sorted().last(where: { FileManager.default.fileExists(atPath: "/lib/modules/\($0)/modules.dep") }) { kernel = ["--kver", k] }
        }
        let image = t.sub("initrd.img")
        r = try run("dracut", ["--force", "--no-hostonly", "--no-hostonly-cmdline", "--conf", t.sub("dracut.conf"), "--confdir", t.sub("confdir"),
                               "--tmpdir", t.sub("tmp"), "--modules", "bootdeploy", "--no-compress"] + kernel + [image],
                    env: ["dracutbasedir": t.sub("dracut"), "BOOTDEPLOY_PREPARE_ROOT": bin])
        #expect(r.ok, "dracut failed: \(r.stderr.suffix(2000))")
        guard r.ok else { return }
        let list = try run("lsinitrd", [image])
        #expect(list.ok)
        let lines = list.stdout.split(separator: "\n").map(String.init)
        func has(_ path: String) -> String? { lines.first { $0.hasSuffix(" " + path) || $0.contains(" " + path + " -> ") } }
        #expect(has("usr/lib/bootdeploy/bd-prepare-root") != nil, "the binary")
        #expect(has("usr/lib/systemd/system/bootdeploy-prepare-root.service") != nil, "the unit")
        let wants = has("usr/lib/systemd/system/initrd-root-fs.target.wants/bootdeploy-prepare-root.service")
        #expect(wants?.contains("-> ../bootdeploy-prepare-root.service") == true, "enabled by a wants link: \(wants ?? "missing")")
        // Every library the binary needs is in the image.
        let dyn = try run("readelf", ["-d", "-W", bin])
        for line in dyn.stdout.split(separator: "\n") where line.contains("(NEEDED)") {
            guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { continue }
            let lib = String(line[line.index(after: open)..<close])
            #expect(lines.contains { $0.hasSuffix("/" + lib) || $0.contains("/" + lib + " -> ") }, "\(lib) is in the initramfs")
        }
        // And it runs there, with nothing but what the image holds.
        t.mkdir("unpacked")
        r = try sh("cd \(t.sub("unpacked")) && cpio -id --quiet < \(image)")
        #expect(r.ok, "\(r.stderr)")
        r = try run("/usr/sbin/chroot", [t.sub("unpacked"), "/usr/lib/bootdeploy/bd-prepare-root", "--help"])
        #expect(r.ok && r.stdout.contains("bootdeploy=<stateroot>/<id>"), "runs inside the initramfs: \(r.stderr)")
        let unit = (try? String(contentsOfFile: t.sub("unpacked/usr/lib/systemd/system/bootdeploy-prepare-root.service"), encoding: .utf8)) ?? ""
        for key in ["DefaultDependencies=no", "After=sysroot.mount", "Before=initrd-root-fs.target", "OnFailure=emergency.target",
                    "ConditionKernelCommandLine=bootdeploy", "Type=oneshot", "RemainAfterExit=yes"] {
            #expect(unit.contains(key), "unit has \(key)")
        }
    }
}
