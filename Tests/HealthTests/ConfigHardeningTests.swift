import BootDeployHealth
import Foundation
import Testing
import TestSupport

/// Issue 11, item 9a and 9e: configuration files read as systemd reads its own (links followed,
/// `/dev/null` masks), and every span and number bounded.
@Suite("Configuration: links, masks and bounds")
struct ConfigHardeningTests {
    @Test("a boot-health.conf or drop-in that is a symlink is followed, as systemd does")
    func symlinksFollowed() throws {
        let f = HealthFixture()
        f.tmp.write("shared/health.conf", "[Checks]\nTimeout=42s\n")
        f.tmp.write("shared/units.conf", "[Boot]\nMaxAttempts=7\n")
        try f.shell("ln -s ../shared/health.conf etc-boot-health/boot-health.conf && mkdir -p usr-boot-health/boot-health.conf.d"
                    + " && ln -s \(f.tmp.sub("shared/units.conf")) usr-boot-health/boot-health.conf.d/10-units.conf")
        let c = try HealthConfig.load(dirs: [f.config, f.vendor])
        #expect(c.checkTimeout == .seconds(42))
        #expect(c.maxAttempts == 7)
    }

    @Test("a drop-in linked to /dev/null masks the vendor's drop-in of the same name")
    func dropInMask() throws {
        let f = HealthFixture()
        f.conf("[Checks]\nTimeout=99s\n", dropIn: "50-x.conf", vendor: true)
        f.conf("[Boot]\nMaxAttempts=9\n", dropIn: "60-y.conf", vendor: true)
        try f.shell("mkdir -p etc-boot-health/boot-health.conf.d && ln -s /dev/null etc-boot-health/boot-health.conf.d/50-x.conf")
        let c = try HealthConfig.load(dirs: [f.config, f.vendor])
        #expect(c.checkTimeout == .seconds(300), "the masked vendor drop-in must not apply")
        #expect(c.maxAttempts == 9, "other drop-ins still apply")
        // The CLI too: no ELOOP, no error.
        f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
        let r = try f.cli(["check"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test("a main config linked to /dev/null is no config: it masks the vendor's boot-health.conf too")
    func mainMask() throws {
        let f = HealthFixture()
        f.conf("[Checks]\nTimeout=99s\n", vendor: true)
        f.conf("[Boot]\nMaxAttempts=5\n", dropIn: "10-keep.conf")
        try f.shell("ln -s /dev/null etc-boot-health/boot-health.conf")
        let c = try HealthConfig.load(dirs: [f.config, f.vendor])
        #expect(c.checkTimeout == .seconds(300))
        #expect(c.maxAttempts == 5, "drop-ins are not masked by the main file's mask")
    }

    @Test("a dangling link, a loop, a directory or a FIFO as config is an error naming the file, never a hang")
    func badLinks() throws {
        for (what, make) in [("dangling", "ln -s nowhere.conf D/50-x.conf"),
                             ("loop", "ln -s 50-x.conf D/50-x.conf"),
                             ("directory", "mkdir D/50-x.conf"),
                             ("fifo", "mkfifo D/50-x.conf")] {
            let f = HealthFixture()
            f.entry("bd-os-002.conf", deployment: "os/new.1", rank: "002")
            try f.shell("mkdir -p etc-boot-health/boot-health.conf.d && " + make.replacingOccurrences(of: "D/", with: "etc-boot-health/boot-health.conf.d/"))
            let t0 = Date()
            let r = try f.cliShell("", ["check"], seconds: 20)
            #expect(Date().timeIntervalSince(t0) < 15, "\(what): hung")
            #expect(r.status == 2, "\(what): \(r.status) \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains(f.config + "/boot-health.conf.d/50-x.conf"), "\(what): \(r.stderr)")
        }
    }

    @Test("Timeout=1000000000h and every other absurd span or number is refused with file and line")
    func bounds() throws {
        let absurd = [("Checks", "Timeout", "1000000000h"), ("Checks", "TotalTimeout", "1000000000h"),
                      ("Boot", "StartupTimeout", "1000000000h"), ("Boot", "GracePeriod", "1000000000h"),
                      ("Boot", "RebootLimitInterval", "1000000000h"), ("Boot", "UnitTimeout", "1000000000h"),
                      ("Unit:a.service", "Timeout", "1000000000h"), ("Checks", "Timeout", "2h"),
                      ("Checks", "Timeout", "99999999999999999999999s"), ("Boot", "GracePeriod", "2d"),
                      ("Boot", "MaxAttempts", "1000"), ("Boot", "RebootLimitBurst", "101"),
                      ("Checks", "Parallelism", "0"), ("Checks", "Parallelism", "100000")]
        for (section, key, value) in absurd {
            let f = HealthFixture()
            f.conf("# local\n[\(section)]\n\(key)=\(value)\n", dropIn: "10-x.conf")
            do {
                let c = try HealthConfig.load(dirs: [f.config, f.vendor])
                Issue.record("[\(section)] \(key)=\(value) accepted: \(c.checkTimeout) \(c.gracePeriod) \(c.maxAttempts)")
            } catch let e as ConfigError {
                #expect(e.line == 3, "\(key)=\(value): \(e)")
                #expect(e.description.contains("10-x.conf:3:") && e.description.contains("\(key)="), "\(e)")
            }
        }
        // The documented maxima themselves are fine.
        let f = HealthFixture()
        f.conf("[Checks]\nTimeout=1h\nTotalTimeout=4h\nParallelism=256\n[Boot]\nStartupTimeout=1h\nGracePeriod=1d\nRebootLimitInterval=7d\n"
               + "UnitTimeout=1h\nMaxAttempts=100\nRebootLimitBurst=100\n")
        let c = try HealthConfig.load(dirs: [f.config, f.vendor])
        #expect(c.gracePeriod == .seconds(86_400))
        #expect(c.parallelism == 256)
    }

    @Test("the CLI refuses an absurd timeout and names file:line, changing nothing")
    func cliBound() throws {
        let f = HealthFixture()
        f.entry("bd-os-002+2-1.conf", deployment: "os/new.1", rank: "002")
        f.conf("[Checks]\nTimeout=1000000000h\n")
        let r = try f.cli(["mark-good"])
        #expect(r.status == 2)
        #expect(r.stderr.contains(f.config + "/boot-health.conf:2:"), "\(r.stderr)")
        #expect(f.entries() == ["bd-os-002+2-1.conf"])
    }
}
