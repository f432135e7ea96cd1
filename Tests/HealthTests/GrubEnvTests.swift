@testable import BootDeployHealth
import BootDeploy
import Foundation
import Testing
import TestSupport

@Suite("GRUB environment block")
struct GrubEnvTests {
    static var editenv: String? {
        ["/usr/bin/grub-editenv", "/usr/sbin/grub-editenv"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    @Test("a block we write is byte-identical to grub-editenv's for the same edits")
    func weWriteLikeGrub() throws {
        guard let tool = Self.editenv else { try TestEnv.skip("weWriteLikeGrub", because: "grub-editenv is not installed") }
        let t = TempDir("grubenv")
        try run(tool, [t.sub("theirs"), "create"])
        try run(tool, [t.sub("theirs"), "set", "boot_counter=3", "boot_success=0", "saved_entry=bd-os-002"])
        var env = GrubEnvironment()
        env.set("boot_counter", "3")
        env.set("boot_success", "0")
        env.set("saved_entry", "bd-os-002")
        let ours = try env.render()
        #expect(ours.count == 1024)
        #expect(ours == bytes(t.sub("theirs")))
        // The greenboot bless edit, both ways.
        try run(tool, [t.sub("theirs"), "set", "boot_success=1"])
        try run(tool, [t.sub("theirs"), "unset", "boot_counter"])
        env.set("boot_success", "1")
        env.unset("boot_counter")
        #expect(try env.render() == bytes(t.sub("theirs")))
    }

    @Test("we read what grub-editenv wrote, and it reads what we wrote, escapes included")
    func bothWays() throws {
        guard let tool = Self.editenv else { try TestEnv.skip("bothWays", because: "grub-editenv is not installed") }
        let t = TempDir("grubenv")
        try run(tool, [t.sub("g"), "create"])
        try run(tool, [t.sub("g"), "set", "kernelopts=root=/dev/sda1 ro", "odd=back\\slash"])
        let parsed = try GrubEnvironment(parsing: bytes(t.sub("g")))
        #expect(parsed["kernelopts"] == "root=/dev/sda1 ro")
        #expect(parsed["odd"] == "back\\slash")
        var env = parsed
        env.set("boot_counter", "2")
        _ = FileManager.default.createFile(atPath: t.sub("ours"), contents: Data(try env.render()))
        let listed = try run(tool, [t.sub("ours"), "list"])
        #expect(listed.ok)
        #expect(listed.stdout == "kernelopts=root=/dev/sda1 ro\nodd=back\\slash\nboot_counter=2\n")
    }

    @Test("a file without the header is refused, not overwritten")
    func refusesGarbage() {
        #expect(throws: GrubEnvironment.FormatError.self) { try GrubEnvironment(parsing: Array("boot_counter=1\n".utf8)) }
        var env = GrubEnvironment()
        env.set("x", String(repeating: "y", count: 2000))
        #expect(throws: GrubEnvironment.FormatError.self) { try env.render() }
    }

    @Test("mark-good on a grubenv-counted boot sets boot_success=1 and drops boot_counter (greenboot semantics)")
    func blessThroughGrubenv() throws {
        guard let tool = Self.editenv else { try TestEnv.skip("blessThroughGrubenv", because: "grub-editenv is not installed") }
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.tmp.mkdir("boot/grub2")
        let env = f.boot + "/grub2/grubenv"
        try run(tool, [env, "create"])
        try run(tool, [env, "set", "boot_counter=2", "boot_success=0"])
        let status = try f.cli(["status", "--json"])
        #expect(status.stdout.contains("\"counter\" : \"grubenv\""), "\(status.stdout)")
        let r = try f.cli(["mark-good"])
        #expect(r.ok, "\(r.stderr)")
        #expect(try run(tool, [env, "list"]).stdout == "boot_success=1\n")
        let bad = try f.cli(["mark-bad", "--reason", "test"])
        #expect(bad.ok, "\(bad.stderr)")
        #expect(try run(tool, [env, "list"]).stdout == "boot_success=0\nboot_counter=0\n")
    }

    @Test("GRUB backend trial: mark-good ends it (and blesses the entry), mark-bad spends it; another deployment's trial is untouched")
    func grubTrial() throws {
        guard let tool = Self.editenv else { try TestEnv.skip("grubTrial", because: "grub-editenv is not installed") }
        let f = HealthFixture()
        f.entry("bd-os-002+3.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.tmp.mkdir("boot/grub")
        let env = f.boot + "/grub/grubenv"
        try run(tool, [env, "create"])
        try run(tool, [env, "set", "saved_entry=x", "bootdeploy_trial=os/new.1", "boot_counter=2", "boot_success=0"])
        let r = try f.cli(["mark-good"])
        #expect(r.ok, "\(r.stderr)")
        #expect(try run(tool, [env, "list"]).stdout == "saved_entry=x\nboot_success=1\n")
        #expect(f.entries() == ["bd-os-001.conf", "bd-os-002.conf"])

        try run(tool, [env, "set", "bootdeploy_trial=os/new.1", "boot_counter=1", "boot_success=0"])
        let bad = try f.cli(["mark-bad", "--reason", "test"])
        #expect(bad.ok, "\(bad.stderr)")
        #expect(try run(tool, [env, "list"]).stdout == "saved_entry=x\nboot_success=0\nbootdeploy_trial=os/new.1\nboot_counter=0\n")

        // A fallback boot (a fresh machine state: the status file remembers this boot's counter):
        // GRUB spent another deployment's trial and booted this one, whose entry is blessed. Its
        // judgement must leave the spent trial alone, else GRUB would boot the broken one again.
        let g = HealthFixture()
        g.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        g.entry("bd-os-001+1-0.conf", deployment: "os/other.2", rank: "001")
        g.tmp.mkdir("boot/grub")
        let genv = g.boot + "/grub/grubenv"
        try run(tool, [genv, "create"])
        try run(tool, [genv, "set", "bootdeploy_trial=os/other.2", "boot_counter=0", "boot_success=0"])
        let status = try g.cli(["status", "--json"])
        #expect(!status.stdout.contains("\"counter\" : \"grubenv\""), "\(status.stdout)")
        let good = try g.cli(["mark-good"])
        #expect(good.ok, "\(good.stderr)")
        #expect(try run(tool, [genv, "list"]).stdout == "bootdeploy_trial=os/other.2\nboot_counter=0\nboot_success=0\n")
    }
}
