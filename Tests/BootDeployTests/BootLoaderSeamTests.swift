import BootDeployEarlyBoot
import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// The boot-loader seam: a backend's generated files travel inside the entry set, so every swap
/// strategy replaces them in the same step as the entries, and they are never carried over as
/// foreign files.
@Suite("Boot-loader seam: generated files swapped with the entries")
struct BootLoaderSeamTests {
    func entry(_ id: String) -> RenderedEntry {
        RenderedEntry(fileName: "bd-os-\(id).conf", text: "title \(id)\nlinux /k\ninitrd /i\noptions bootdeploy=os/\(id)\n", deployment: DeploymentName(stateroot: "os", id: id))
    }

    func apply(_ boot: String, _ strategy: EntryStrategy, entries: [RenderedEntry], generated: [GeneratedFile]) throws -> BootEntriesState {
        let p = try BootPartition(Roots(sysroot: boot, boot: boot, strategy: strategy, freeze: false))
        var tx = EntryTransaction(boot: p, state: try p.load())
        tx.generated = generated
        try tx.apply { (_: Int?) throws(BootDeployError) -> [RenderedEntry] in entries }
        return try p.load()
    }

    @Test("symlink, exchange and per-file: the menu is replaced with the entries, stale ones removed, foreign files kept",
          arguments: [EntryStrategy.symlink, .exchange, .perFile])
    func generatedFilesFollowTheSet(strategy: EntryStrategy) throws {
        let t = TempDir("seam")
        let boot = t.sub("boot")
        t.mkdir("boot")
        var s = try apply(boot, strategy, entries: [entry("001")], generated: [GeneratedFile(name: "bootdeploy.menu", text: "one\n")])
        let dir = boot + "/" + (s.entriesPath ?? "?")
        try String("mine\n").write(toFile: dir + "/foreign.txt", atomically: false, encoding: .utf8)
        s = try apply(boot, strategy, entries: [entry("001")], generated: [GeneratedFile(name: "bootdeploy.menu", text: "one\n")])
        #expect(s.generated == ["bootdeploy.menu"])
        #expect(!s.foreignFiles.contains("bootdeploy.menu"))
        #expect(s.foreignFiles.contains("foreign.txt"))

        s = try apply(boot, strategy, entries: [entry("002"), entry("001")], generated: [GeneratedFile(name: "bootdeploy.menu", text: "two\n")])
        let live = boot + "/" + (s.entriesPath ?? "?")
        #expect(try String(contentsOfFile: live + "/bootdeploy.menu", encoding: .utf8) == "two\n")
        #expect(try String(contentsOfFile: live + "/foreign.txt", encoding: .utf8) == "mine\n")
        #expect(s.ours.count == 2)

        s = try apply(boot, strategy, entries: [entry("002")], generated: [])
        #expect(s.generated.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: boot + "/" + (s.entriesPath ?? "?") + "/bootdeploy.menu"))
        // Nothing temporary is left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: boot + "/" + (s.entriesPath ?? "?"))
        #expect(names.filter { $0.hasPrefix(".") }.isEmpty, "\(names)")
    }

    @Test("detection: what /boot holds chooses the backend; systemd-boot wins over a stray grub/ or extlinux/")
    func detection() throws {
        let cases: [([String], BootLoaderKind)] = [
            ([], .systemdBoot),
            (["EFI/systemd"], .systemdBoot),
            (["grub"], .grub),
            (["grub2"], .grub),
            (["grub", "EFI/systemd"], .systemdBoot),
            (["extlinux"], .uBoot),
            (["extlinux", "EFI/systemd"], .systemdBoot),
        ]
        for (dirs, want) in cases {
            let t = TempDir("detect")
            t.mkdir("boot")
            for d in dirs { t.mkdir("boot/" + d) }
            let roots = Roots(sysroot: t.sub("boot"), boot: t.sub("boot"), strategy: .perFile, freeze: false)
            let got = BootLoaders.backend(for: roots, boot: try BootPartition(roots)).kind
            #expect(got == want, "/boot with \(dirs): \(got), expected \(want)")
        }
    }

    @Test("generated names: bootdeploy.* but never a .conf entry")
    func names() {
        #expect(GeneratedFile.isGeneratedName("bootdeploy.grub"))
        #expect(!GeneratedFile.isGeneratedName("bootdeploy.conf"))
        #expect(!GeneratedFile.isGeneratedName("bootdeploy."))
        #expect(!GeneratedFile.isGeneratedName("bd-os-001.conf"))
    }

    @Test("status names the boot loader; --boot-loader takes only a known one and names a wrong value")
    func statusAndOption() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"))
        #expect(try m.status()["bootLoader"] as? String == "systemd-boot")
        #expect(try m.ok("status", ["--boot-loader", "systemd-boot"]).contains("boot loader: systemd-boot"))
        let r = try m.bd("status", ["--boot-loader", "lilo"])
        #expect(!r.ok)
        #expect(r.stderr.contains("'lilo'"))
    }
}
