import BootDeployHealth
import Foundation
import Testing
import TestSupport

@Suite("Check runner")
struct CheckRunnerTests {
    @Test("required checks fail fast: after the first failure the rest are skipped, wanted ones too")
    func failFast() throws {
        let f = HealthFixture()
        f.check("required", "10-ok", "echo first")
        f.check("required", "20-bad", "echo 'disk is full' >&2; exit 3")
        f.check("required", "30-never", "touch \(f.tmp.sub("ran-30"))")
        f.check("wanted", "50-w", "touch \(f.tmp.sub("ran-w"))")
        let set = try CheckSet.discover(configDirs: [f.config, f.vendor], greenbootDirs: [f.greenboot])
        let r = set.run(timeout: .seconds(10), totalTimeout: .seconds(60))
        #expect(r.map(\.name) == ["10-ok", "20-bad", "30-never", "50-w"])
        #expect(r.map(\.result) == [.passed, .failed, .skipped, .skipped])
        #expect(r[1].exitStatus == 3)
        #expect(r[1].output == "disk is full\n")
        #expect(r[0].output == "first\n")
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("ran-30")))
        #expect(!FileManager.default.fileExists(atPath: f.tmp.sub("ran-w")))
    }

    @Test("a hung check is killed with its whole process group at its timeout")
    func hungCheck() throws {
        let f = HealthFixture()
        // The check's child would outlive a kill of the check alone.
        f.check("required", "10-hang", "sleep 313.7 & echo started; wait")
        let set = try CheckSet.discover(configDirs: [f.config], greenbootDirs: [])
        var r: [CheckResult] = []
        let t = elapsed { r = set.run(timeout: TimeSpan(microseconds: 700_000), totalTimeout: .seconds(60)) }
        #expect(r.first?.result == .timeout)
        #expect(r.first?.output == "started\n")
        #expect(t >= 0.69 && t < 2.0, "took \(t) s")
        let left = try sh("pgrep -f 'sleep 31[3].7' | wc -l")
        #expect(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the check's child survived")
    }

    @Test("TotalTimeout bounds the whole run even when each check is within its own timeout")
    func totalTimeout() throws {
        let f = HealthFixture()
        f.check("required", "10-quick", "sleep 0.3")
        f.check("required", "20-slow", "sleep 10")
        f.check("required", "30-slow", "sleep 10")
        let set = try CheckSet.discover(configDirs: [f.config], greenbootDirs: [])
        var r: [CheckResult] = []
        let t = elapsed { r = set.run(timeout: .seconds(20), totalTimeout: TimeSpan(microseconds: 2_500_000)) }
        #expect(r.map(\.result) == [.passed, .timeout, .skipped])
        #expect(t >= 2.4 && t < 4.0, "took \(t) s")
    }

    @Test("wanted checks run side by side and only warn")
    func wantedParallel() throws {
        let f = HealthFixture()
        f.check("wanted", "a", "sleep 1")
        f.check("wanted", "b", "sleep 1")
        f.check("wanted", "c", "sleep 1; exit 1")
        let set = try CheckSet.discover(configDirs: [f.config], greenbootDirs: [])
        var r: [CheckResult] = []
        let t = elapsed { r = set.run(timeout: .seconds(10), totalTimeout: .seconds(60)) }
        #expect(r.map(\.result) == [.passed, .passed, .failed])
        #expect(t < 2.6, "three 1 s checks took \(t) s: not parallel")
    }

    @Test("greenboot's check directories are honoured; /etc/boot-health masks a same-named one")
    func greenbootDirs() throws {
        let f = HealthFixture()
        f.check("required", "01-gb-fails", "echo from greenboot; exit 1", greenboot: true)
        f.check("required", "02-shadowed", "exit 1", greenboot: true)
        f.check("required", "02-shadowed", "exit 0")
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        let set = try CheckSet.discover(configDirs: [f.config, f.vendor], greenbootDirs: [f.greenboot])
        #expect(set.checks.map(\.path) == [f.greenboot + "/check/required.d/01-gb-fails", f.config + "/check/required.d/02-shadowed"])
        let r = try f.cli(["check", "--json"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("from greenboot"))
        #expect(f.entries() == ["bd-os-002+2-1.conf"], "check must change nothing")
    }

    @Test("non-executable files and dotfiles in check dirs are not checks")
    func onlyExecutables() throws {
        let f = HealthFixture()
        f.check("required", "10-ok", "exit 0")
        f.tmp.write("etc-boot-health/check/required.d/README", "not a check", mode: 0o644)
        f.tmp.write("etc-boot-health/check/required.d/.hidden", "#!/bin/sh\nexit 1\n", mode: 0o755)
        #expect(try CheckSet.discover(configDirs: [f.config], greenbootDirs: []).checks.map(\.name) == ["10-ok"])
    }
}
