import ArgumentParser
import BootDeploy
import BootDeployHealth
import FoundationEssentials
import Glibc

/// The roots and config locations every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The physical root (on a booted system it is at /sysroot inside the deployment).")
    var sysroot = "/sysroot"
    @Option(help: "The partition holding loader/entries (XBOOTLDR, ESP or /boot).")
    var boot = "/boot"
    @Option(name: .customLong("cmdline-file"), help: "Where to read the kernel command line (bootdeploy=).")
    var cmdlineFile = "/proc/cmdline"
    @Option(name: .customLong("run-dir"), help: "Per-boot state written by prepare-root.")
    var runDir = "/run/bootdeploy"
    @Option(name: .customLong("config"), help: "The administrator's config directory (boot-health.conf, check/...).")
    var config = "/etc/boot-health"
    @Option(name: .customLong("vendor-config"), help: "The vendor's defaults, overridden by --config.")
    var vendorConfig = "/usr/lib/boot-health"
    @Option(help: "efivarfs, for LoaderBootCountPath.")
    var efivars = "/sys/firmware/efi/efivars"
    @Option(name: .customLong("greenboot-dir"), help: "A greenboot root whose check/, green.d/, red.d/ are honoured (repeatable; default /etc/greenboot and /usr/lib/greenboot).")
    var greenbootDirs: [String] = []
    @Flag(name: .customLong("no-kmsg"), help: .hidden)
    var noKmsg = false

    var roots: HealthRoots {
        var r = HealthRoots()
        r.sysroot = sysroot
        r.boot = boot
        r.cmdlineFile = cmdlineFile
        r.runDir = runDir
        r.configDirs = [config, vendorConfig]
        r.efivars = efivars
        if !greenbootDirs.isEmpty { r.greenbootDirs = greenbootDirs }
        return r
    }

    func service() throws -> HealthService {
        let entries = EntryDirectoryOrdering(boot: boot)
        let ordering: any DeploymentOrdering
        if let m = try? DeploymentManager(Roots(sysroot: sysroot, boot: boot, runDir: runDir)) {
            ordering = PreferringOrdering(primary: ManagerOrdering(m), fallback: entries)
        } else {
            ordering = entries
        }
        return try HealthService(roots: roots, ordering: ordering, log: HealthLog(useKmsg: !noKmsg))
    }
}

/// The deployment layer's order when it knows the deployments (they have records); the entries'
/// own order otherwise (entries written by hand or by an older tool), so that status and the
/// "is there anything better to boot" question never come out empty while entries exist.
struct PreferringOrdering: DeploymentOrdering {
    var primary: any DeploymentOrdering
    var fallback: any DeploymentOrdering

    func orderedDeployments() throws -> [OrderedDeployment] {
        if let p = try? primary.orderedDeployments(), !p.isEmpty { return p }
        return try fallback.orderedDeployments()
    }

    func demote(stateroot: String, id: String) throws { try primary.demote(stateroot: stateroot, id: id) }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

func printError(_ s: String) { _ = SafeText.escape(s, .multiLine).withCString { write(2, $0, strlen($0)) } }

/// Reports an error the way a person at the console wants it: one line naming what failed, exit 2.
func failing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ExitCode { throw e } catch {
        printError("boot-health: \(error)\n")
        throw ExitCode(2)
    }
}

@main
struct BootHealth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot-health",
        abstract: "Judge whether this boot is healthy; bless it, or mark it bad and roll back.",
        subcommands: [Check.self, Run.self, MarkGood.self, MarkBad.self, Status.self, Report.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the checks and report. Changes nothing.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print the report as JSON.") var json = false

        func run() throws {
            let report = try failing { try global.service().check() }
            if json {
                try printJSON(report)
            } else {
                for c in report.checks {
                    print("\(c.result.rawValue.padded(7)) \(c.kind.rawValue.padded(8)) \(c.name) (\(c.durationMs) ms)")
                    if c.result != .passed, !c.output.isEmpty {
                        for l in c.output.split(separator: "\n").suffix(5) { print("        | \(l)") }
                    }
                }
                for u in report.units { print("\(u.result.padded(7)) unit     \(u.name) (\(u.activeState))") }
                for w in report.warnings { print("warning: \(w)") }
                print(report.healthy ? "healthy" : "UNHEALTHY")
            }
            if !report.healthy { throw ExitCode(1) }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The service: wait for startup, run the checks, bless or mark bad and roll back, watch the grace period.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "all | check | bless | watch (the units split the work around boot-complete.target).")
        var phase: String = "all"

        func validate() throws {
            guard RunPhase(rawValue: phase) != nil else { throw ValidationError("--phase must be one of all, check, bless, watch") }
        }

        func run() throws {
            let p = RunPhase(rawValue: phase)!
            let d = try failing { () throws -> Decision in
                let s = try global.service()
                if p == .bless { return try s.markGood(by: "service") }
                return try s.run(phase: p)
            }
            print("\(d.decision)\(d.reason.map { ": " + $0 } ?? "")\(d.rebootRequested ? " (reboot requested)" : "")")
            if !d.healthy { throw ExitCode(1) }
        }
    }

    struct MarkGood: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mark-good", abstract: "Bless the booted deployment by hand.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let d = try failing { try global.service().markGood() }
            print(d.decision)
        }
    }

    struct MarkBad: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mark-bad", abstract: "Mark the booted deployment bad by hand and move it out of first place.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Why, for the record.") var reason: String?
        @Flag(help: "Reboot into the next good deployment afterwards (never when there is none).") var reboot = false
        func run() throws {
            let d = try failing { try global.service().markBad(reason: reason, reboot: reboot) }
            print("\(d.decision)\(d.rebootRequested ? " (reboot requested)" : "")")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The booted deployment, its counter, the last results and the rollback history.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print the status as JSON (schema 1, docs/HEALTH.md).") var json = false
        func run() throws {
            let r = try failing { try global.service().statusReport() }
            if json { try printJSON(r); return }
            if let b = r.booted {
                var counter = b.counter
                if let l = b.triesLeft { counter += " \(l) left, \(b.triesDone ?? 0) done" }
                if let a = b.attempts { counter += " \(a) attempts" }
                print("Booted:   \(b.stateroot)/\(b.id)  [\(b.state)]  \(b.entry ?? "")  counter: \(counter)")
            }
            print("State:    \(r.record.state)\(r.record.degradedReason.map { " — " + $0 } ?? "")")
            for d in r.deployments {
                print("  \(d.isDefault ? "*" : " ") \(d.stateroot)/\(d.id)  \(d.state)  \(d.entry ?? "")")
            }
            if let last = r.record.lastRun {
                print("Last run: \(last.phase) -> \(last.decision)\(last.reason.map { ": " + $0 } ?? "")")
                for c in last.checks {
                    let why = c.result == .passed ? "" : ": " + (c.output.split(separator: "\n").last.map(String.init) ?? "")
                    print("  \(c.result.rawValue.padded(7)) \(c.name) (\(c.durationMs) ms)\(why)")
                }
                for u in last.units { print("  \(u.result.padded(7)) \(u.name) (\(u.activeState))") }
            }
            if !r.record.history.isEmpty { print("History:") }
            for h in r.record.history.suffix(20) {
                print("  \(utc(h.at)) \(h.stateroot)/\(h.id) \(h.event)\(h.reason.map { ": " + $0 } ?? "")\(h.rebootRequested ? " (reboot requested)" : "")")
            }
            if let f = r.finalizeFailed { print("FINALIZE FAILED: \(f.compact)") }
            for w in r.warnings { print("warning: \(w)") }
        }
    }
}

/// `2026-12-01 18:00:00 UTC`, for the person reading `status`.
func utc(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var tm = Glibc.tm()
    gmtime_r(&t, &tm)
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S UTC", &tm)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
