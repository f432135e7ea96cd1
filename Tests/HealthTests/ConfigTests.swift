import BootDeployHealth
import Foundation
import Testing
import TestSupport

@Suite("Configuration")
struct ConfigTests {
    @Test("time spans are read in systemd's notation")
    func timeSpans() {
        #expect(TimeSpan(parsing: "30s")?.microseconds == 30_000_000)
        #expect(TimeSpan(parsing: "5min")?.microseconds == 300_000_000)
        #expect(TimeSpan(parsing: "1h 30s")?.microseconds == 3_630_000_000)
        #expect(TimeSpan(parsing: "1h30s")?.microseconds == 3_630_000_000)
        #expect(TimeSpan(parsing: "250ms")?.microseconds == 250_000)
        #expect(TimeSpan(parsing: "90")?.microseconds == 90_000_000)
        #expect(TimeSpan(parsing: "2 min 5 s")?.microseconds == 125_000_000)
        #expect(TimeSpan(parsing: "infinity") == nil)
        #expect(TimeSpan(parsing: "5 parsecs") == nil)
        #expect(TimeSpan(parsing: "") == nil)
        #expect(TimeSpan(parsing: "-5s") == nil)
    }

    @Test("a bad value is an error naming file, line and key")
    func badValue() throws {
        let f = HealthFixture()
        f.conf("[Checks]\nTimeout=30s\n")
        f.conf("# local\n\n[Checks]\nTimeout=forever\n", dropIn: "10-local.conf")
        #expect(throws: ConfigError.self) { try HealthConfig.load(dirs: [f.config, f.vendor]) }
        do {
            _ = try HealthConfig.load(dirs: [f.config, f.vendor])
        } catch let e as ConfigError {
            #expect(e.file == f.config + "/boot-health.conf.d/10-local.conf")
            #expect(e.line == 4)
            #expect(e.description.contains("10-local.conf:4:"))
            #expect(e.description.contains("Timeout="))
        }
    }

    @Test("the CLI refuses a malformed config line and names file:line")
    func cliBadLine() throws {
        let f = HealthFixture()
        f.conf("[Boot]\nMaxAttempts 3\n")
        let r = try f.cli(["check"])
        #expect(r.status == 2)
        #expect(r.stderr.contains(f.config + "/boot-health.conf:2:"), "stderr: \(r.stderr)")
        #expect(r.stderr.contains("MaxAttempts"))
    }

    @Test("unknown keys warn and the rest still applies; drop-ins override, /etc masks /usr/lib")
    func layering() throws {
        let f = HealthFixture()
        f.conf("[Checks]\nTimeout=10s\nTotalTimeout=1min\n[Boot]\nMaxAttempts=5\nColour=blue\n", vendor: true)
        f.conf("[Boot]\nGracePeriod=2min\nRequiredUnits=a.service b.service\nRebootOnFailure=no\n")
        f.conf("[Checks]\nTimeout=99s\n", dropIn: "50-x.conf", vendor: true)
        f.conf("[Checks]\nTimeout=20s\n", dropIn: "50-x.conf")
        f.conf("[Unit:b.service]\nTimeout=45s\n", dropIn: "60-units.conf", vendor: true)
        let c = try HealthConfig.load(dirs: [f.config, f.vendor])
        #expect(c.checkTimeout == .seconds(20))       // /etc's 50-x.conf masks the vendor's
        #expect(c.totalTimeout == .seconds(60))
        #expect(c.maxAttempts == 5)
        #expect(c.gracePeriod == .seconds(120))
        #expect(c.rebootOnFailure == false)
        #expect(c.units.map(\.name) == ["a.service", "b.service"])
        #expect(c.units.first { $0.name == "b.service" }?.timeout == .seconds(45))
        #expect(c.warnings.count == 1)
        #expect(c.warnings.first?.contains("Colour=") == true)
        #expect(c.warnings.first?.contains("usr-boot-health/boot-health.conf:6") == true)
    }

    @Test("defaults hold without any file")
    func defaults() throws {
        let f = HealthFixture()
        let c = try HealthConfig.load(dirs: [f.config, f.vendor])
        #expect(c.checkTimeout == .seconds(300))
        #expect(c.maxAttempts == 3)
        #expect(c.rebootOnFailure)
        #expect(c.units.isEmpty)
    }
}
