import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// Issue 11, items 9b and 9c: which file runs as a check, and from whom boot-health accepts one.
@Suite("Checks: masking and ownership")
struct CheckTrustTests {
    /// A vendor check that would fail the boot, and a marker it leaves when it runs.
    private func vendorCheck(_ f: HealthFixture, _ kind: String = "required", _ name: String = "10-vendor") {
        f.tmp.write("usr-boot-health/check/\(kind).d/\(name)", "#!/bin/sh\ntouch \(f.tmp.sub("vendor-ran"))\nexit 1\n", mode: 0o755)
    }

    @Test("a same-named non-executable file in /etc masks the vendor's check")
    func nonExecutableMasks() throws {
        let f = HealthFixture()
        vendorCheck(f)
        f.tmp.write("etc-boot-health/check/required.d/10-vendor", "disabled here\n", mode: 0o644)
        #expect(try CheckSet.discover(configDirs: [f.config, f.vendor], greenbootDirs: [f.greenboot]).checks.isEmpty)
    }

    @Test("a /dev/null link in /etc masks the vendor's check and greenboot's of the same name")
    func devNullMasks() throws {
        let f = HealthFixture()
        vendorCheck(f)
        f.tmp.write("greenboot/check/wanted.d/20-gb", "#!/bin/sh\nexit 1\n", mode: 0o755)
        try f.shell("mkdir -p etc-boot-health/check/required.d etc-boot-health/check/wanted.d"
                    + " && ln -s /dev/null etc-boot-health/check/required.d/10-vendor && ln -s /dev/null etc-boot-health/check/wanted.d/20-gb")
        #expect(try CheckSet.discover(configDirs: [f.config, f.vendor], greenbootDirs: [f.greenboot]).checks.isEmpty)
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        let r = try f.cli(["check"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("vendor-ran")))
    }

    @Test("a symlinked check is followed; a dangling one fails the boot instead of vanishing")
    func links() throws {
        let f = HealthFixture()
        f.tmp.write("libexec/real-check", "#!/bin/sh\necho real\n", mode: 0o755)
        try f.shell("mkdir -p etc-boot-health/check/required.d && ln -s ../../../libexec/real-check etc-boot-health/check/required.d/10-link"
                    + " && ln -s /nonexistent/check etc-boot-health/check/required.d/20-dangling")
        let set = try CheckSet.discover(configDirs: [f.config], greenbootDirs: [])
        #expect(set.checks.map(\.name) == ["10-link", "20-dangling"])
        let r = set.run(timeout: .seconds(10), totalTimeout: .seconds(60))
        #expect(r.map(\.result) == [.passed, .failed])
        #expect(r.first?.output == "real\n")
        #expect(r.last?.output.contains("/nonexistent") == true, "\(r.last?.output ?? "")")
    }

    /// Each way a check could be changed by someone other than root; the check leaves a marker.
    static let unsafe: [(String, String)] = [
        ("group-writable check", "chmod 0775 C"),
        ("world-writable check", "chmod 0757 C"),
        ("check owned by another user", "chown 65534 C"),
        ("check dir writable by others", "chmod 0777 $(dirname C)"),
        ("check dir owned by another user", "chown 65534 $(dirname C)"),
        ("ancestor writable by its group", "chmod 0775 etc-boot-health"),
        ("reached through a link into a world-writable dir", "mkdir -m 0777 open && mv C open/ && ln -s ../../../open/$(basename C) C"),
        ("reached through a link owned by another user", "mv C real && ln -s ../../../etc-boot-health/check/required.d/real C && chown -h 65534 C"),
    ]

    @Test("a check that someone other than root could change is refused loudly and never run", arguments: unsafe)
    func refused(_ how: String, _ make: String) throws {
        let f = HealthFixture()
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        f.check("required", "10-unsafe", "touch \(f.tmp.sub("ran"))")
        try f.shell(make.replacingOccurrences(of: "C", with: "etc-boot-health/check/required.d/10-unsafe"))
        let r = try f.cli(["check", "--json"])
        #expect(r.status == 1, "\(how): a refused required check fails the verdict: \(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("ran")), "\(how): it ran as root")
        #expect(r.stdout.contains("refused"), "\(how): \(r.stdout)")
        if !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
            #expect(r.stderr.contains("boot-health[6ce3f97c]"), "\(how): not logged with its MESSAGE_ID: \(r.stderr)")
        }
    }

    @Test("a sticky world-writable ancestor (like /tmp) is fine when the check and its dirs are root's")
    func stickyIsFine() throws {
        let f = HealthFixture()
        f.check("required", "10-ok", "echo ok")
        try f.shell("chmod 1777 etc-boot-health")
        let r = try CheckSet.discover(configDirs: [f.config], greenbootDirs: []).run(timeout: .seconds(10), totalTimeout: .seconds(60))
        #expect(r.map(\.result) == [.passed])
    }

    @Test("a refused required check marks the boot bad with the reason; a refused wanted one only warns")
    func requiredVersusWanted() throws {
        let f = HealthFixture()
        f.conf("[Boot]\nRebootOnFailure=no\n")
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.entry("bd-os-001.conf", deployment: "os/old.0", rank: "001")
        f.check("wanted", "50-w", "touch \(f.tmp.sub("ran-w"))")
        try f.shell("chmod 0777 etc-boot-health/check/wanted.d/50-w")
        let s = try f.service(order([("os/new.1", .indeterminate), ("os/old.0", .good)]))
        #expect(try s.run(phase: .check).decision == "none", "a refused wanted check does not fail the boot")
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("ran-w")))
        #expect((f.lastChecks().first?["refusal"] as? String)?.contains("writable by its group and others") == true, "\(f.lastChecks())")

        f.check("required", "10-r", "touch \(f.tmp.sub("ran-r"))")
        try f.shell("chown 65534 etc-boot-health/check/required.d/10-r")
        let d = try f.service(order([("os/new.1", .indeterminate), ("os/old.0", .good)])).run(phase: .check)
        #expect(d.decision == "marked-bad")
        #expect(d.reason?.contains("10-r") == true && d.reason?.contains("uid 65534") == true, "\(d.reason ?? "")")
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("ran-r")))
    }

    @Test("what runs is the descriptor that was judged: a script sees /dev/fd/3 and inherits nothing else")
    func execFromDescriptor() throws {
        let f = HealthFixture()
        f.check("required", "10-self", "echo \"$0\"; exec ls /proc/self/fd")
        let r = try CheckSet.discover(configDirs: [f.config], greenbootDirs: []).run(timeout: .seconds(10), totalTimeout: .seconds(60))
        #expect(r.first?.result == .passed)
        let lines = (r.first?.output.split(separator: "\n") ?? []).map(String.init)
        #expect(lines.first == "/dev/fd/3", "\(r.first?.output ?? "")")
        // 0-2 and the program's descriptor (3), plus the one ls opens: nothing of boot-health's.
        #expect(Set(lines.dropFirst()).isSubset(of: ["0", "1", "2", "3", "4"]), "\(r.first?.output ?? "")")
    }
}
