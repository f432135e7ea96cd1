import Foundation
import Testing
import TestSupport

/// Stops an operation at every mutating system call it makes — by an injected error and by
/// SIGKILL on the spot — and checks after each stop that /boot still boots: bootctl parses it, at
/// least one complete entry boots a complete deployment, the default is the old or the new one,
/// and the next command recovers.
@Suite("Crash consistency at every mutating syscall", .serialized, .enabled(if: TestEnv.isRoot && Bootctl.available))
struct CrashTests {
    struct Outcome { var points = 0; var runs = 0 }

    /// `prepare` builds the starting state; `op` is the command under test.
    func sweep(_ label: String, strategy: String = "auto", prepare: (Machine) throws -> Void,
               op: (Machine) -> [String]) throws -> Outcome {
        let base = Machine(label: "bdcrash")
        base.strategy = strategy
        try prepare(base)
        let oldDefault = try base.order().first
        let work = Machine(root: base.tmp.sub("w/root"), boot: base.tmp.sub("w/boot"), label: "bdcrashw")
        work.strategy = strategy
        func reset() throws {
            try sh("rm -rf '\(base.tmp.sub("w"))' && mkdir -p '\(base.tmp.sub("w"))' && cp -a '\(base.root)' '\(base.tmp.sub("w/root"))' && cp -a '\(base.boot)' '\(base.tmp.sub("w/boot"))' && rm -rf '\(work.run)' && cp -a '\(base.run)' '\(work.run)'")
        }
        // Count the crash points with a traced, successful run.
        try reset()
        let trace = base.tmp.sub("trace")
        let args = op(work)
        let ok = try work.bd(args[0], Array(args.dropFirst()), env: ["BOOTDEPLOY_FAULT_TRACE": trace])
        #expect(ok.ok, "\(label): the untraced operation must succeed: \(ok.stderr)")
        let newDefault = try work.order().first
        let points = (try String(contentsOfFile: trace, encoding: .utf8)).split(separator: "\n").count
        #expect(points > 3, "\(label): too few mutating calls seen (\(points))")
        var outcome = Outcome(points: points)
        for n in 1...points {
            for mode in ["error", "kill"] {
                try reset()
                let r = try work.bd(args[0], Array(args.dropFirst()), env: ["BOOTDEPLOY_FAULT_AT": String(n), "BOOTDEPLOY_FAULT_MODE": mode])
                outcome.runs += 1
                let what = "\(label): stopped at call \(n)/\(points) (\(mode))"
                if mode == "kill" { #expect(r.status == 137, "\(what): must die by SIGKILL, got \(r.status)") } else { #expect(r.status == 1, "\(what): must fail, got \(r.status)") }
                try checkBootable(work, what: what, allowedDefaults: [oldDefault, newDefault])
            }
        }
        return outcome
    }

    func checkBootable(_ m: Machine, what: String, allowedDefaults: [String?]) throws {
        let list = try Bootctl.list(m.boot)
        #expect(!list.isEmpty, "\(what): bootctl sees no entry")
        var complete = 0
        for e in list {
            guard let qid = bootParameter(e) else { continue }
            let filesOK: Bool
            if let linux = e["linux"] as? String, ("/" + linux).lowercased().hasPrefix("/efi/linux/") {
                // A Type #2 entry (docs/UKI.md): bootctl shows the image (relative, without a
                // leading slash) as its kernel, and its .cmdline as the options.
                filesOK = ukiComplete(m.boot + "/" + linux, commandLine: e["options"] as? String)
            } else if let efi = e["efi"] as? String {
                // A UKI entry (docs/UKI.md): its image complete, with the entry's command line inside.
                filesOK = ukiComplete(m.boot + efi, commandLine: e["options"] as? String)
            } else {
                guard let linux = e["linux"] as? String else { continue }
                let initrds = (e["initrd"] as? [String]) ?? []
                let files = [linux] + initrds
                filesOK = files.allSatisfy { FileManager.default.fileExists(atPath: m.boot + $0) } && !initrds.isEmpty
            }
            let parts = qid.split(separator: "/")
            let dep = m.root + "/bootdeploy/\(parts[0])/deploy/\(parts[1])"
            let depOK = FileManager.default.fileExists(atPath: dep + "/usr/bin/hello") && FileManager.default.fileExists(atPath: dep + ".json")
            #expect(filesOK && depOK, "\(what): entry \(e["path"] ?? "?") is incomplete (files \(filesOK), deployment \(depOK)): \(e)")
            if filesOK && depOK { complete += 1 }
        }
        #expect(complete >= 1, "\(what): no complete entry")
        let first = list.first.flatMap(bootParameter)
        #expect(allowedDefaults.contains(first), "\(what): default \(first ?? "none") is neither the old nor the new one")
        // The next commands recover: status reads it, cleanup removes leftovers, validate is clean.
        let s = try m.bd("status", ["--json"])
        #expect(s.ok, "\(what): status fails: \(s.stderr)")
        let c = try m.bd("cleanup")
        #expect(c.ok, "\(what): cleanup fails: \(c.stderr)")
        #expect(ukiTemporaries(m).isEmpty, "\(what): cleanup left UKI temporaries \(ukiTemporaries(m))")
        let v = try m.bd("validate")
        #expect(v.ok, "\(what): validate after cleanup: \(v.stdout) \(v.stderr)")
    }

    static func twoDeployments(_ m: Machine) throws {
        try m.initOS()
        try m.deploy(m.tree("a", kernel: "k1"))
        try m.deploy(m.tree("b", kernel: "k2"), ["--karg", "quiet"])
    }

    @Test("deploy, symlink strategy")
    func deploySymlink() throws {
        let o = try sweep("deploy/symlink", prepare: Self.twoDeployments) { m in
            ["deploy", "--stateroot", "os", "--tree", m.tree("new", kernel: "k3"), "--karg", "root=x"]
        }
        print("crash points: deploy/symlink \(o.points) calls, \(o.runs) stops")
    }

    @Test("deploy, exchange strategy (vfat's)")
    func deployExchange() throws {
        let o = try sweep("deploy/exchange", strategy: "exchange", prepare: Self.twoDeployments) { m in
            ["deploy", "--stateroot", "os", "--tree", m.tree("new", kernel: "k3"), "--karg", "root=x"]
        }
        print("crash points: deploy/exchange \(o.points) calls, \(o.runs) stops")
    }

    @Test("deploy, per-file strategy")
    func deployPerFile() throws {
        let o = try sweep("deploy/per-file", strategy: "per-file", prepare: Self.twoDeployments) { m in
            ["deploy", "--stateroot", "os", "--tree", m.tree("new", kernel: "k3"), "--karg", "root=x"]
        }
        print("crash points: deploy/per-file \(o.points) calls, \(o.runs) stops")
    }

    @Test("rollback")
    func rollback() throws {
        let o = try sweep("rollback", prepare: Self.twoDeployments) { _ in ["rollback"] }
        print("crash points: rollback \(o.points) calls, \(o.runs) stops")
    }

    @Test("kargs")
    func kargs() throws {
        let o = try sweep("kargs", prepare: Self.twoDeployments) { _ in ["kargs", "--append", "console=ttyS0"] }
        print("crash points: kargs \(o.points) calls, \(o.runs) stops")
    }

    @Test("cleanup")
    func cleanup() throws {
        let o = try sweep("cleanup", prepare: { m in
            try Self.twoDeployments(m)
            try m.deploy(m.tree("c", kernel: "k3"))
            // c's entry vanishes: cleanup has a deployment and a kernel to remove.
            let files = m.entryFiles()
            try FileManager.default.removeItem(atPath: m.entriesDir + "/" + files.last!)
        }) { _ in ["cleanup"] }
        print("crash points: cleanup \(o.points) calls, \(o.runs) stops")
    }
}

extension CrashTests {
    /// GRUB mode: the menu and the grubenv are written too; after every stop `validate` (inside
    /// `checkBootable`) runs grub-script-check on the menu and the stub and parses the grubenv.
    @Test("deploy, GRUB backend (menu, stub, grubenv)", .enabled(if: TestEnv.have("grub-script-check")))
    func deployGrub() throws {
        let o = try sweep("deploy/grub", prepare: { m in
            try FileManager.default.createDirectory(atPath: m.boot + "/grub", withIntermediateDirectories: true)
            try Self.twoDeployments(m)
        }) { m in
            ["deploy", "--stateroot", "os", "--tree", m.tree("new", kernel: "k3"), "--karg", "root=x", "--tries", "3"]
        }
        print("crash points: deploy/grub \(o.points) calls, \(o.runs) stops")
    }
}
