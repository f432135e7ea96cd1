import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// The real bootctl 252 reads our UKIs (`EFI/Linux/*.efi`) next to our Type #1 entries and lists
/// them in the plan's order, counters included.
@Suite("UKI bootctl", .serialized)
struct UKIBootctlTests {
    static func bootctlList(_ dir: String) throws -> [[String: Any]] {
        let script = """
        mount --bind '\(dir)' '\(dir)' || exit 90
        SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 bootctl --esp-path='\(dir)' --boot-path='\(dir)' --no-variables --no-pager list --json=short
        """
        let r = try inMountNamespace(script)
        #expect(r.ok, "bootctl list: \(r.stderr)")
        return try r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    @Test("bootctl lists our UKIs and Type #1 entries in rank order, exhausted last, with counters and command line")
    func order() throws {
        try UKIBuildTests.requireTools("order")
        if !TestEnv.isRoot { try TestEnv.skip("order", because: "needs root for a private mount namespace") }
        if !TestEnv.have("bootctl") { try TestEnv.skip("order", because: "bootctl (package systemd-boot) is not installed") }
        let t = TempDir("ukiesp")
        let esp = t.sub("esp")
        try FileManager.default.createDirectory(atPath: esp + "/EFI/Linux", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: esp + "/loader/entries", withIntermediateDirectories: true)
        let scratch = TempDir("ukiscratch")
        // Name order (docs/UKI.md): ranks 4, 2, 1 are UKIs; 3 is a Type #1 entry; none has a
        // version. Rank 1 is exhausted, rank 4 is on trial.
        let ukis: [(Int, BootCounter?)] = [(4, BootCounter(left: 2, done: 1)), (2, nil), (1, BootCounter(left: 0, done: 3))]
        for (rank, counter) in ukis {
            let name = UKIFileName(id: NameOrder.fileID(stateroot: "os", rank: rank), counter: counter)
            _ = try UKIBuildTests.build(scratch, rank: nil, output: esp + "/EFI/Linux/" + name.fileName,
                                        cmdline: "root=UUID=1 rw bootdeploy=os/d\(rank).0")
        }
        var e = BootEntry()
        e.title = "Type 1 (os/d3.0)"
        e.sortKey = EntryRenderer.sortKey
        e.linux = "/bootdeploy/os/k/vmlinuz"
        e.options = ["root=UUID=1 bootdeploy=os/d3.0"]
        try e.render().write(toFile: esp + "/loader/entries/\(NameOrder.fileID(stateroot: "os", rank: 3)).conf", atomically: false, encoding: .utf8)
        // A rank past 999 still sorts as a number, not as text.
        _ = try UKIBuildTests.build(scratch, rank: nil, output: esp + "/EFI/Linux/" + NameOrder.fileID(stateroot: "os", rank: 1000) + ".efi",
                                    cmdline: "root=UUID=1 rw bootdeploy=os/d1000.0")

        let listed = try Self.bootctlList(esp)
        let files = listed.map { (($0["path"] as? String) ?? "").split(separator: "/").last.map(String.init) ?? "?" }
        #expect(files == ["bootdeploy-1000-os.efi", "bootdeploy-004-os+2-1.efi", "bootdeploy-003-os.conf", "bootdeploy-002-os.efi", "bootdeploy-001-os+0-3.efi"], "bootctl order: \(files)")
        let first = try #require(listed.dropFirst().first)
        #expect(first["triesLeft"] as? Int == 2 && first["triesDone"] as? Int == 1)
        #expect(first["version"] == nil, "no version: \(first)")
        #expect(first["sortKey"] as? String == EntryRenderer.sortKey)
        #expect((first["options"] as? String ?? "").contains("bootdeploy=os/d4.0"), "options: \(first["options"] ?? "nil")")
        #expect((first["title"] as? String ?? "").contains("os/abc"))
        // Our own reading of the same files agrees with bootctl.
        let loaded = files.map { f -> LoadedEntry in
            let n = EntryFileName(entryOrImage: f)!
            var b = BootEntry()
            b.sortKey = EntryRenderer.sortKey
            b.linux = "/x"
            return LoadedEntry(name: n, entry: b)
        }
        #expect(BootOrder.systemdBoot(loaded.reversed()).map(\.name.fileName) == files)
    }
}
