import Foundation
import Testing
import TestSupport

/// An administrator's `default` in loader.conf overrides BootDeploy's order in systemd-boot:
/// status, deploy and validate say so when it would select anything but our first entry.
@Suite("loader.conf default against our order", .serialized)
struct LoaderConfTests {
    func machine() throws -> (Machine, String, String) {
        let m = Machine(label: "bdlc")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let b = try m.deploy(m.tree("b", kernel: "k2"))
        m.tmp.write("boot/loader/entries/fedora-6.1.conf", "title Fedora\nlinux /fedora/vmlinuz\noptions root=/dev/sdb1\n")
        return (m, a, b)
    }

    func setDefault(_ m: Machine, _ value: String?) {
        m.tmp.write("boot/loader/loader.conf", "timeout 3\n" + (value.map { "# an old choice\ndefault \($0)\n" } ?? ""))
    }

    @Test("a default that selects a foreign entry, an older entry of ours, @saved or only the first entry is warned about everywhere")
    func overridingDefaults() throws {
        let (m, _, _) = try machine()
        let files = m.entryFiles().filter { $0.hasPrefix("bd-") }
        #expect(files.count == 2)
        // Ours in boot order: the first is the default.
        let ours = try m.order()
        for value in ["fedora-*", "FEDORA-*", "@saved", "bd-os-*1*", String(files.sorted().first!.prefix(while: { $0 != "+" && $0 != "." }))] {
            setDefault(m, value)
            let s = try m.status()
            let warnings = (s["warnings"] as? [String]) ?? []
            let text = try m.ok("status")
            let v = try m.bd("validate")
            let d = try m.bd("deploy", ["--stateroot", "os", "--tree", m.tree("c-\(value.filter(\.isLetter))", kernel: "k-\(value)"), "--karg", "root=x"])
            let relevant = value.hasPrefix("@") || value.lowercased().hasPrefix("fedora") || warnings.contains { $0.contains("default") }
            #expect(relevant, "default \(value): \(warnings), order \(ours)")
            #expect(warnings.contains { $0.contains("loader.conf") && $0.contains(value) }, "status --json, default \(value): \(warnings)")
            #expect(text.contains("WARNING") && text.contains("loader.conf"), "status text, default \(value)")
            #expect(v.status == 1 && v.stdout.contains("loader.conf"), "validate, default \(value): \(v.stdout)")
            #expect(d.ok && d.stderr.contains("loader.conf"), "deploy, default \(value): \(d.stderr)")
        }
    }

    @Test("no default, a comment, or a default matching every entry of ours in order gives no warning")
    func harmlessDefaults() throws {
        let (m, _, _) = try machine()
        for value in [nil, "bd-os-*", "nothing-matches-this"] as [String?] {
            setDefault(m, value)
            let s = try m.status()
            #expect((s["warnings"] as? [String]) == [], "default \(value ?? "none"): \(String(describing: s["warnings"]))")
            #expect(try m.bd("validate").ok, "validate, default \(value ?? "none")")
        }
    }

    @Test("a loader.conf that cannot be read is said, naming the file and the error, not taken as no default")
    func unreadableLoaderConf() throws {
        let (m, _, _) = try machine()
        // A directory where the file should be: read(2) fails with EISDIR, even for root.
        m.tmp.mkdir("boot/loader/loader.conf")
        let warnings = (try m.status()["warnings"] as? [String]) ?? []
        #expect(warnings.contains { $0.contains("loader/loader.conf") && $0.contains("cannot be read") }, "\(warnings)")
        let v = try m.bd("validate")
        #expect(v.status == 1 && v.stdout.contains("cannot be read"), "validate: \(v.stdout)")
    }
}
