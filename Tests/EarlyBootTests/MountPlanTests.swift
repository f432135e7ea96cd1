import BootDeployEarlyBoot
import BootDeploySystem
import Foundation
import TestSupport
import Testing

/// The layout `boot-deploy deploy` writes for a deployment (docs/ON-DISK.md).
func standardLayout(_ id: String = "3f2a9c01b7de.0", stateroot: String = "os") -> MountLayout {
    MountLayout(root: "bootdeploy/\(stateroot)/deploy/\(id)", mounts: [
        BindMount(origin: .physical, source: "", target: "/sysroot", readOnly: false, purpose: "sysroot"),
        BindMount(origin: .physical, source: "bootdeploy/\(stateroot)/var", target: "/var", readOnly: false, purpose: "var"),
        BindMount(origin: .deployment, source: "usr", target: "/usr", readOnly: true, purpose: "usr"),
    ])
}

@Suite("prepare-root planning (pure)")
struct MountPlanTests {
    @Test("the initramfs plan binds inside the deployment and ends by moving it onto /sysroot")
    func initramfsPlan() {
        let plan = MountPlan(layout: standardLayout(), sysroot: "/sysroot/")
        let d = "/sysroot/bootdeploy/os/deploy/3f2a9c01b7de.0"
        #expect(plan.deployment == d)
        #expect(plan.steps == [
            .makePrivate("/sysroot"),
            .bind(source: d, target: d, purpose: "deployment"),
            .bind(source: "/sysroot", target: d + "/sysroot", purpose: "sysroot"),
            .bind(source: "/sysroot/bootdeploy/os/var", target: d + "/var", purpose: "var"),
            .bind(source: d + "/usr", target: d + "/usr", purpose: "usr"),
            .remountReadOnly(d + "/usr", purpose: "usr"),
            .move(source: d, target: "/sysroot"),
        ])
        #expect(plan.newRoot == "/sysroot")
    }

    @Test("as init the physical root is /, API mounts are carried over and the root is switched")
    func initPlan() {
        let table = [
            MountEntry(source: "/dev/vda2", target: "/", fstype: "ext4", options: "ro", readOnly: true),
            MountEntry(source: "devtmpfs", target: "/dev", fstype: "devtmpfs", options: "rw", readOnly: false),
            MountEntry(source: "proc", target: "/proc", fstype: "proc", options: "rw", readOnly: false),
            MountEntry(source: "tmpfs", target: "/run", fstype: "tmpfs", options: "rw", readOnly: false),
            MountEntry(source: "tmpfs", target: "/srv", fstype: "tmpfs", options: "rw", readOnly: false),
        ]
        let api = PrepareRoot.apiMounts(sysroot: "/", table: table)
        #expect(api == ["/dev", "/proc", "/run"], "sys is not mounted, /srv is not an API filesystem")
        let plan = MountPlan(layout: standardLayout("a.1"), sysroot: "/", mode: .initProcess(apiMounts: api))
        let d = "/bootdeploy/os/deploy/a.1"
        #expect(plan.steps == [
            .makePrivate("/"),
            .bind(source: d, target: d, purpose: "deployment"),
            .bind(source: "/", target: d + "/sysroot", purpose: "sysroot"),
            .bind(source: "/bootdeploy/os/var", target: d + "/var", purpose: "var"),
            .bind(source: d + "/usr", target: d + "/usr", purpose: "usr"),
            .remountReadOnly(d + "/usr", purpose: "usr"),
            .move(source: "/dev", target: d + "/dev"),
            .move(source: "/proc", target: d + "/proc"),
            .move(source: "/run", target: d + "/run"),
            .switchRoot(newRoot: d, over: "/"),
        ])
        #expect(plan.newRoot == "/")
    }

    @Test("as init with a test sysroot the API mounts are those below it")
    func initPlanBelowSysroot() {
        let table = [MountEntry(source: "proc", target: "/t/root/proc", fstype: "proc", options: "rw", readOnly: false),
                     MountEntry(source: "proc", target: "/proc", fstype: "proc", options: "rw", readOnly: false)]
        let api = PrepareRoot.apiMounts(sysroot: "/t/root", table: table)
        #expect(api == ["/t/root/proc"])
        let plan = MountPlan(layout: standardLayout("a.1"), sysroot: "/t/root", mode: .initProcess(apiMounts: api))
        #expect(plan.steps.suffix(2) == [.move(source: "/t/root/proc", target: "/t/root/bootdeploy/os/deploy/a.1/proc"),
                                         .switchRoot(newRoot: "/t/root/bootdeploy/os/deploy/a.1", over: "/t/root")])
    }

    @Test("the real init is bootdeploy.init= when absolute, else /sbin/init; init arguments pass through")
    func initProgramAndArguments() throws {
        #expect(PrepareRoot.initProgram(KernelCommandLine("bootdeploy=os/a.0 bootdeploy.init=/usr/lib/systemd/systemd")) == "/usr/lib/systemd/systemd")
        #expect(PrepareRoot.initProgram(KernelCommandLine("bootdeploy.init=relative")) == "/sbin/init")
        #expect(PrepareRoot.initProgram(KernelCommandLine("quiet")) == "/sbin/init")
        let o = try PrepareRoot.parse(["/sbin/init", "single", "--", "x"])
        #expect(o.initMode && o.initArguments == ["single", "x"] && o.effectiveSysroot == "/")
        let p = try PrepareRoot.parse(["bd-prepare-root", "--sysroot", "/mnt/", "--run-dir", "/r"])
        #expect(!p.initMode && p.effectiveSysroot == "/mnt" && p.runDir == "/r")
        let pid1 = try PrepareRoot.parse(["/usr/lib/bootdeploy/bd-prepare-root", "single", "3"], isInit: true)
        #expect(pid1.initMode && pid1.initArguments == ["single", "3"], "as PID 1 the kernel's words for init are passed on")
        let q = try PrepareRoot.parse(["--init", "--sysroot", "/x"])
        #expect(q.initMode && q.effectiveSysroot == "/x")
        let rel = try PrepareRoot.parse(["bd-prepare-root", "--sysroot", "mnt/root/"])
        #expect(rel.effectiveSysroot == FileManager.default.currentDirectoryPath + "/mnt/root", "a relative sysroot is made absolute")
        #expect(throws: PrepareRootError.self) { try PrepareRoot.parse(["bd-prepare-root", "--bogus"]) }
        #expect(throws: PrepareRootError.self) { try PrepareRoot.parse(["bd-prepare-root", "--sysroot"]) }
    }

    @Test("the kernel command line is split like the kernel does, the last bootdeploy= wins")
    func commandLine() {
        let c = KernelCommandLine("BOOT_IMAGE=/vmlinuz root=UUID=1 ro  quiet \"dyndbg=file a.c +p\" x=\"a b\" bootdeploy=os/a.0 bootdeploy=os/b.1\n")
        #expect(c.values("bootdeploy") == ["os/a.0", "os/b.1"])
        #expect(c.last("bootdeploy") == "os/b.1")
        #expect(c.last("x") == "a b")
        #expect(c.last("dyndbg") == "file a.c +p")
        #expect(c.last("ro") == "")
        #expect(c.last("missing") == nil)
        #expect(KernelCommandLine("bootdeploy").last("bootdeploy") == "")
    }

    @Test("bootdeploy= values with tricks are refused with a reason")
    func refusesGarbageNames() {
        let bad: [(String, String)] = [
            ("", "empty"), ("os", "exactly one '/'"), ("os/a/b", "exactly one '/'"), ("../x", "stateroot"),
            ("os/..", "must not start"), ("os/.hidden", "must not start"), ("/os/a", "exactly one"), ("/a", "stateroot is empty"),
            ("os/", "id is empty"), ("os/a\u{1}b", "outside"), ("os/a b", "outside"), ("os/-a", "must not start"),
            ("os/" + String(repeating: "a", count: 65), "longer than 64"), ("ös/a", "outside"),
        ]
        for (value, reason) in bad {
            do {
                _ = try DeploymentName(argument: value)
                Issue.record("accepted \(value.debugDescription)")
            } catch {
                #expect(error.message.contains(reason), "\(value.debugDescription): \(error.message)")
                #expect(!error.message.contains("\u{1}"), "control characters are shown escaped")
            }
        }
        let ok = try? DeploymentName(argument: "os_2/3f2a9c01b7de.12")
        #expect(ok == DeploymentName(stateroot: "os_2", id: "3f2a9c01b7de.12"))
        #expect(ok?.deploymentPath == "bootdeploy/os_2/deploy/3f2a9c01b7de.12")
    }

    func record(_ layout: String, stateroot: String = "os", id: String = "a.0", schema: String = "1") -> [UInt8] {
        Array(#"{"schema": \#(schema), "stateroot": "\#(stateroot)", "id": "\#(id)", "version": "1.0", "kargs": ["rw"], "pinned": false, "layout": \#(layout)}"#.utf8)
    }

    @Test("a record is read for its layout and must describe the deployment asked for")
    func recordParsing() throws {
        let name = DeploymentName(stateroot: "os", id: "a.0")
        let layout = #"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "deployment", "source": "usr", "target": "/usr", "readOnly": true, "purpose": "usr"}]}"#
        let r = try EarlyBootRecord.parse(record(layout), file: "a.0.json", expected: name)
        #expect(r.layout.mounts == [BindMount(origin: .deployment, source: "usr", target: "/usr", readOnly: true, purpose: "usr")])

        let refused: [([UInt8], String)] = [
            (record(layout, id: "b.0"), "describes os/b.0, not os/a.0"),
            (record(layout, schema: "2"), "schema 2"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/b.0", "mounts": []}"#), "layout root"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "../etc", "target": "/x", "readOnly": false}]}"#), "'..' component"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "/etc", "target": "/x", "readOnly": false}]}"#), "must be relative"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "v", "target": "x", "readOnly": false}]}"#), "absolute path"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "v", "target": "/", "readOnly": false}]}"#), "absolute path below /"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "v", "target": "/a/../../b", "readOnly": false}]}"#), "'..' component"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "elsewhere", "source": "v", "target": "/b", "readOnly": false}]}"#), "neither"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0", "mounts": [{"origin": "physical", "source": "v", "target": "/b"}]}"#), "readOnly is missing"),
            (record(#"{"version": 1, "root": "bootdeploy/os/deploy/a.0"}"#), "\"mounts\" is missing"),
            (Array("{\"schema\": 1,\n \"stateroot\": \"os\" \"id\": 1}".utf8), "a.0.json: line 2, column 20"),
            (Array("[]".utf8), "not a JSON object"),
        ]
        for (bytes, fragment) in refused {
            do {
                _ = try EarlyBootRecord.parse(bytes, file: "a.0.json", expected: name)
                Issue.record("accepted \(String(decoding: bytes, as: UTF8.self))")
            } catch {
                #expect(error.message.contains(fragment), "\(error.message)")
                #expect(error.message.hasPrefix("a.0.json"), "the error names the file: \(error.message)")
            }
        }
    }

    @Test("booted.json has the documented keys and LoaderBootCountPath is decoded from UTF-16LE")
    func bootedRecordAndLoaderVariable() throws {
        var bytes: [UInt8] = [7, 0, 0, 0]
        for u in "\\loader\\entries\\bd-os-002+2-1.conf".utf16 { bytes += [UInt8(u & 0xff), UInt8(u >> 8)] }
        bytes += [0, 0]
        #expect(LoaderVariables.decodeString(bytes) == "\\loader\\entries\\bd-os-002+2-1.conf")
        #expect(LoaderVariables.basename("\\loader\\entries\\bd-os-002+2-1.conf") == "bd-os-002+2-1.conf")
        #expect(LoaderVariables.decodeString([7, 0, 0]) == nil)
        #expect(LoaderVariables.decodeString([7, 0, 0, 0, 0x00, 0xD8, 0x41, 0x00]) == nil, "a lone surrogate is not a path")

        let r = BootedRecord(name: DeploymentName(stateroot: "os", id: "a.0"), loaderEntry: nil, softwareAttempts: 3, bootedAt: 1764612000)
        let v = try JSONValue.parse(r.json.renderedPretty())
        #expect(v["schema"]?.int == 1 && v["stateroot"]?.string == "os" && v["id"]?.string == "a.0")
        #expect(v["deployment"]?.string == "bootdeploy/os/deploy/a.0")
        #expect(v["loaderEntry"] == .null && v["softwareAttempts"]?.int == 3 && v["bootedAt"]?.int == 1764612000)
    }

    @Test("the attempts file holds a decimal count; anything else is refused")
    func counterParsing() {
        #expect(AttemptsFile.parse(Array("0\n".utf8)) == 0)
        #expect(AttemptsFile.parse(Array("12".utf8)) == 12)
        #expect(AttemptsFile.parse(Array("".utf8)) == nil)
        #expect(AttemptsFile.parse(Array("-1\n".utf8)) == nil)
        #expect(AttemptsFile.parse(Array("1x".utf8)) == nil)
        #expect(AttemptsFile.parse(Array("9999999999".utf8)) == nil)
    }

    @Test("the mount holding a path is the longest mount point above it")
    func mountContaining() {
        let t = [MountEntry(source: "a", target: "/", fstype: "ext4", options: "", readOnly: false),
                 MountEntry(source: "b", target: "/boot", fstype: "ext4", options: "", readOnly: false),
                 MountEntry(source: "c", target: "/boot/efi", fstype: "vfat", options: "", readOnly: false)]
        #expect(MountTable.containing("/boot/loader/entries", in: t)?.source == "b")
        #expect(MountTable.containing("/boot/efi", in: t)?.source == "c")
        #expect(MountTable.containing("/bootx", in: t)?.source == "a")
    }

    @Test("MountTable reads a mountinfo file with libmount: sources, binds, read-only, propagation")
    func mountTableParsing() throws {
        let tmp = TempDir("bd-mountinfo")
        let dir = tmp.path
        let text = """
            22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
            23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
            40 22 254:1 /bootdeploy/os/deploy/a.0/usr /usr ro,relatime master:1 - ext4 /dev/vda1 rw
            41 22 254:2 / /boot rw,relatime - ext4 /dev/vda2 ro

            """
        try text.write(toFile: dir + "/mountinfo", atomically: true, encoding: .utf8)
        let t = try MountTable.current(path: dir + "/mountinfo")
        #expect(t.map(\.target) == ["/", "/proc", "/usr", "/boot"])
        #expect(t[0].propagation == .shared && t[0].source == "/dev/vda1" && !t[0].readOnly && t[0].id == 22)
        #expect(t[2].root == "/bootdeploy/os/deploy/a.0/usr" && t[2].readOnly && t[2].propagation == .slave && t[2].parentID == 22)
        #expect(t[3].readOnly, "a read-only superblock makes the mount read-only")
        #expect(try MountTable.find(target: "/boot/", path: dir + "/mountinfo")?.source == "/dev/vda2")
        #expect(throws: SystemError.self) { try MountTable.current(path: dir + "/missing") }
    }
}

