import Foundation
import Testing
import TestSupport
@testable import BootDeploy
import BootDeployEarlyBoot

/// The GRUB backend against the real grub tools: grub-script-check on the menu and the stub,
/// grub-editenv on the counter block.
@Suite("GRUB backend: menu, stub, grubenv counter")
struct GrubTests {
    static var scriptCheck: String? { ["/usr/bin/grub-script-check", "/usr/sbin/grub-script-check"].first { FileManager.default.isExecutableFile(atPath: $0) } }
    static var editenv: String? { ["/usr/bin/grub-editenv", "/usr/sbin/grub-editenv"].first { FileManager.default.isExecutableFile(atPath: $0) } }

    func tools(_ test: String) throws -> (check: String, editenv: String) {
        guard let c = Self.scriptCheck, let e = Self.editenv else { try TestEnv.skip(test, because: "grub-script-check / grub-editenv missing (package grub-common)") }
        return (c, e)
    }

    func grubMachine() throws -> Machine {
        let m = Machine(label: "bdgrub")
        try FileManager.default.createDirectory(atPath: m.boot + "/grub", withIntermediateDirectories: true)
        try m.initOS()
        return m
    }

    func menu(_ m: Machine) throws -> String { try String(contentsOfFile: m.entriesDir + "/bootdeploy.grub.cfg", encoding: .utf8) }
    func env(_ m: Machine, _ tool: String) throws -> String { try run(tool, [m.boot + "/grub/grubenv", "list"]).stdout }

    @Test("deploy: detected by /boot/grub; menu in boot order, first default, previous as fallback; stub and menu pass grub-script-check; trial armed")
    func deployWritesMenu() throws {
        let t = try tools("deployWritesMenu")
        let m = try grubMachine()
        let a = try m.deploy(m.tree("a", kernel: "k1"), ["--tries", "0"])
        let b = try m.deploy(m.tree("b", kernel: "k2"), ["--karg", "quiet", "--tries", "3"])
        #expect(try m.status()["bootLoader"] as? String == "grub")
        let text = try menu(m)
        let titles = text.split(separator: "\n").filter { $0.hasPrefix("menuentry ") }
        #expect(titles.count == 2)
        #expect(titles.first?.contains("(\(b))") == true && titles.last?.contains("(\(a))") == true, "\(titles)")
        #expect(text.contains("set default='bootdeploy-0'") && text.contains("set fallback='bootdeploy-1'"))
        #expect(text.contains("'bootdeploy=\(b)'") && text.contains("'quiet'"))
        #expect(text.contains("if [ \"${bootdeploy_trial}\" = '\(b)' ]; then"))
        // Paths as GRUB sees them: the test's /boot is a directory of the root filesystem, and
        // the script looks for itself under /boot first, then at the top.
        #expect(text.contains("set bootdeploy_boot='/boot'\nif [ ! -f \"${bootdeploy_boot}/loader/entries/bootdeploy.grub.cfg\" ]; then"))
        let kernelLine = text.split(separator: "\n").first { $0.contains("linux \"${bootdeploy_boot}\"'/bootdeploy/") }
        #expect(kernelLine != nil, "\(text)")
        if let k = kernelLine, let path = k.split(separator: "'").dropFirst().first {
            #expect(FileManager.default.fileExists(atPath: m.boot + String(path)), "\(path)")
        }
        #expect(try run(t.check, [m.entriesDir + "/bootdeploy.grub.cfg"]).status == 0)
        let stub = try String(contentsOfFile: m.boot + "/grub/grub.cfg", encoding: .utf8)
        #expect(stub.hasPrefix(GrubMenu.stubMarker) && stub.contains("source \"${bootdeploy_menu}\""))
        #expect(try run(t.check, [m.boot + "/grub/grub.cfg"]).status == 0)
        #expect(try env(m, t.editenv) == "bootdeploy_trial=\(b)\nboot_counter=3\nboot_success=0\n")
        let v = try m.bd("validate")
        #expect(v.ok, "\(v.stdout)\(v.stderr)")
    }

    @Test("a spent trial is never re-armed by a later commit; a rollback to a blessed deployment ends counting; other variables stay")
    func counterLifecycle() throws {
        let t = try tools("counterLifecycle")
        let m = try grubMachine()
        let a = try m.deploy(m.tree("a", kernel: "k1"), ["--tries", "0"])
        let b = try m.deploy(m.tree("b", kernel: "k2"), ["--tries", "3"])
        _ = a
        // GRUB counted down to 1 (as its menu script does); greenboot's saved_entry is foreign.
        try run(t.editenv, [m.boot + "/grub/grubenv", "set", "boot_counter=1", "saved_entry=x"])
        _ = try m.ok("kargs", ["--append", "console=ttyS0"])
        #expect(try env(m, t.editenv) == "bootdeploy_trial=\(b)\nboot_counter=1\nboot_success=0\nsaved_entry=x\n")
        _ = try m.ok("rollback")
        #expect(try env(m, t.editenv) == "boot_success=0\nsaved_entry=x\n")
        #expect(!(try menu(m)).contains("bootdeploy_trial}\" ="), "a blessed default is not counted")
        // Deploying again arms a fresh trial for the new deployment.
        let c = try m.deploy(m.tree("c", kernel: "k3"), ["--tries", "2"])
        #expect(try env(m, t.editenv) == "boot_success=0\nsaved_entry=x\nbootdeploy_trial=\(c)\nboot_counter=2\n")
    }

    @Test("distribution mode: a grub.cfg of update-grub is never touched; validate says when it does not read our menu")
    func distributionMode() throws {
        _ = try tools("distributionMode")
        let m = try grubMachine()
        let theirs = "# DO NOT EDIT THIS FILE\n# It is automatically generated by grub-mkconfig\nset default=0\n"
        try theirs.write(toFile: m.boot + "/grub/grub.cfg", atomically: false, encoding: .utf8)
        try m.deploy(m.tree("a"))
        #expect(try String(contentsOfFile: m.boot + "/grub/grub.cfg", encoding: .utf8) == theirs)
        let v = try m.bd("validate")
        #expect(!v.ok)
        #expect(v.stdout.contains("grub.cfg: does not read bootdeploy.grub.cfg"), "\(v.stdout)")
        try (theirs + "source /boot/loader/entries/bootdeploy.grub.cfg\n").write(toFile: m.boot + "/grub/grub.cfg", atomically: false, encoding: .utf8)
        let v2 = try m.bd("validate")
        #expect(v2.ok, "\(v2.stdout)")
    }

    @Test("validate runs grub-script-check: a broken menu and a broken grubenv are named")
    func validateCatchesBrokenScript() throws {
        _ = try tools("validateCatchesBrokenScript")
        let m = try grubMachine()
        try m.deploy(m.tree("a"))
        let path = m.entriesDir + "/bootdeploy.grub.cfg"
        try (try String(contentsOfFile: path, encoding: .utf8) + "if [ x = y ]; then\n").write(toFile: path, atomically: false, encoding: .utf8)
        let v = try m.bd("validate")
        #expect(!v.ok)
        #expect(v.stdout.contains("bootdeploy.grub.cfg: grub-script-check failed"), "\(v.stdout)")
        try "not a grubenv".write(toFile: m.boot + "/grub/grubenv", atomically: false, encoding: .utf8)
        let v2 = try m.bd("validate")
        #expect(v2.stdout.contains("grubenv: not a GRUB environment block"), "\(v2.stdout)")
        // Deploy refuses to overwrite a grubenv it cannot read, naming it.
        let d = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg", "root=x"])
        #expect(!d.ok && d.stderr.contains("/grub/grubenv"), "\(d.stderr)")
    }

    @Test("quoting: kernel arguments and titles with quotes and $ stay literal and the script still parses")
    func quoting() throws {
        let t = try tools("quoting")
        let rec = DeploymentRecord(stateroot: "os", id: "x.0", version: "1", title: "It's $HOME", digest: "d", kernelVersion: "6",
                                   kernelDir: "bootdeploy/os/abc", hasDevicetree: false,
                                   kargs: ["root=LABEL=r", "foo=\"a b\"", "x='y'", "v=$root"], pinned: false, created: "now", layout: MountLayout(root: "/", mounts: []))
        let plan = BootPlan([PlannedEntry(stateroot: "os", id: "x.0", counter: BootCounter(left: 3, done: 0))])
        let text = try GrubMenu.render(plan, records: [rec.name: rec], bootPrefix: "", envPath: "/grub/grubenv")
        #expect(text.contains("set bootdeploy_boot=''\nif [ ! -f"))
        #expect(text.contains("'x='\\''y'\\'''") && text.contains("'v=$root'") && text.contains("'It'\\''s $HOME (os/x.0)'"), "\(text)")
        let tmp = TempDir("grubq")
        tmp.write("m.cfg", "\(text)")
        let r = try run(t.check, [tmp.sub("m.cfg")])
        #expect(r.status == 0, "\(r.stderr)")
        // The only deployment on trial has no previous one: spent tries boot it anyway.
        #expect(!text.contains("set fallback"))
    }

    @Test("etc/grub.d/15_bootdeploy: update-grub gets a search for /boot's filesystem and a source of our menu, and it parses")
    func grubDScript() throws {
        let t = try tools("grubDScript")
        guard FileManager.default.fileExists(atPath: "/usr/share/grub/grub-mkconfig_lib") else {
            try TestEnv.skip("grubDScript", because: "/usr/share/grub/grub-mkconfig_lib missing (package grub-common)")
        }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let tmp = TempDir("grubd")
        // grub-probe needs a real device: a stand-in answers for a FAT partition on a GPT disk.
        tmp.write("probe", """
            #!/bin/sh
            case "$*" in
            *target=device*) echo /dev/vda1;; *target=partmap*) echo gpt;; *target=abstraction*) ;;
            *target=fs_uuid*) echo 1234-ABCD;; *target=fs*) echo fat;; *target=compatibility_hint*) echo hd0,gpt1;;
            *) exit 1;;
            esac
            """, mode: 0o755)
        let script = repo + "/etc/grub.d/15_bootdeploy"
        let env = ["grub_probe": tmp.sub("probe"), "BOOTDEPLOY_GRUB_BOOT": tmp.sub("boot")]
        // Nothing deployed: nothing added.
        tmp.mkdir("boot")
        let none = try run("/bin/sh", [script], env: env)
        #expect(none.status == 0 && none.stdout.isEmpty, "\(none.stdout)\(none.stderr)")
        tmp.write("boot/loader/entries/bootdeploy.grub.cfg", "true\n")
        let r = try run("/bin/sh", [script], env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("search --no-floppy --fs-uuid --set=root 1234-ABCD"), "\(r.stdout)")
        #expect(r.stdout.contains("source \"\(tmp.sub("boot"))/loader/entries/bootdeploy.grub.cfg\""), "\(r.stdout)")
        tmp.write("out.cfg", r.stdout)
        #expect(try run(t.check, [tmp.sub("out.cfg")]).status == 0)
    }
}
