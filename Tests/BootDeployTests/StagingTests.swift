import Foundation
import Testing
import TestSupport

@Suite("Staged updates and finalize", .serialized)
struct StagingTests {
    /// A machine with one deployment that is "booted", whose /etc the administrator changed.
    func bootedMachine() throws -> (Machine, String) {
        let m = Machine(label: "bdstage")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let id = String(a.split(separator: "/")[1])
        try #"{"schema":1,"stateroot":"os","id":"\#(id)"}"#.write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
        let etc = m.root + "/bootdeploy/os/deploy/\(id)/etc"
        try "admin-host\n".write(toFile: etc + "/hostname", atomically: true, encoding: .utf8)
        try "added by admin\n".write(toFile: etc + "/local.conf", atomically: true, encoding: .utf8)
        return (m, a)
    }

    @Test("stage prepares the tree and kernels but leaves the entries; finalize makes it the default with the merged /etc")
    func stageThenFinalize() throws {
        let (m, a) = try bootedMachine()
        let entriesBefore = try treeDigest(m.entriesDir)
        let t = m.tree("b", kernel: "k2", version: "2")
        m.tmp.write("trees/b/etc/vendor-new.conf", "new in 2\n")
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x", "--stage", "--no-start-unit"])
        #expect(try treeDigest(m.entriesDir) == entriesBefore, "stage must not touch the entries")
        let ds = try m.deployments()
        #expect(ds.first { "\($0["stateroot"]!)/\($0["id"]!)" == b }?["staged"] as? Bool == true)
        #expect(try m.status()["staged"] as? String == b)
        // Its kernel is already in /boot's store.
        #expect(try FileManager.default.contentsOfDirectory(atPath: m.boot + "/bootdeploy/os").count == 2)
        // Finalize, as the unit's ExecStop runs it.
        let out = try m.ok("finalize")
        #expect(out.contains("finalized \(b)"), "\(out)")
        #expect(try m.order() == [b, a])
        let etc = m.root + "/bootdeploy/os/deploy/\(b.split(separator: "/")[1])/etc"
        #expect(try String(contentsOfFile: etc + "/hostname", encoding: .utf8) == "admin-host\n")
        #expect(try String(contentsOfFile: etc + "/local.conf", encoding: .utf8) == "added by admin\n")
        #expect(try String(contentsOfFile: etc + "/vendor-new.conf", encoding: .utf8) == "new in 2\n")
        #expect(!FileManager.default.fileExists(atPath: m.run + "/staged.json"))
        #expect(!FileManager.default.fileExists(atPath: m.root + "/bootdeploy/staged.json"))
        #expect(try m.ok("finalize") == "nothing staged")
        try m.ok("validate")
    }

    @Test("a locked staged deployment is not finalized until unlocked")
    func lockUnlock() throws {
        let (m, a) = try bootedMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg", "root=x", "--stage", "--no-start-unit", "--lock-finalization"])
        #expect(try m.ok("finalize").contains("locked"))
        #expect(try m.order() == [a])
        // Shutdown with a locked deployment is not a failure to report.
        #expect(try m.bd("finalize", ["--check"]).ok)
        let b2 = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("c", kernel: "k3"), "--karg", "root=x", "--stage", "--no-start-unit", "--lock-finalization"])
        try m.ok("finalize", ["--unlock"])
        try m.ok("finalize")
        #expect(try m.order() == [b2, a])
        _ = b
    }

    @Test("a failed finalize leaves a stamp the next boot reports; a staged update lost to a power cut is reported too")
    func failureReported() throws {
        let (m, _) = try bootedMachine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--karg", "root=x", "--stage", "--no-start-unit"])
        // Break it: the staged deployment loses its record before shutdown.
        try FileManager.default.removeItem(atPath: m.root + "/bootdeploy/os/deploy/\(b.split(separator: "/")[1]).json")
        let r = try m.bd("finalize")
        #expect(r.status == 1)
        let check = try m.bd("finalize", ["--check"])
        #expect(check.status == 1 && check.stderr.contains("finalize of \(b) failed"), "\(check.stderr)")
        #expect((try m.status()["finalizeFailure"] as? String)?.contains(b) == true)
        try m.ok("finalize", ["--check", "--acknowledge"])
        #expect(try m.bd("finalize", ["--check"]).ok)

        // Staged, then the machine lost power: /run is gone, the persistent marker is not.
        let c = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("c", kernel: "k3"), "--karg", "root=x", "--stage", "--no-start-unit"])
        try FileManager.default.removeItem(atPath: m.run + "/staged.json")
        let lost = try m.bd("finalize", ["--check"])
        #expect(lost.status == 1 && lost.stderr.contains("\(c) was staged") && lost.stderr.contains("never finalized"), "\(lost.stderr)")
    }

    @Test("finalize stopped at every mutating call leaves a bootable /boot, old default or new", .enabled(if: TestEnv.isRoot && Bootctl.available))
    func finalizeCrash() throws {
        let (base, a) = try bootedMachine()
        let b = try base.ok("deploy", ["--stateroot", "os", "--tree", base.tree("b", kernel: "k2"), "--karg", "root=x", "--stage", "--no-start-unit"])
        let crash = CrashTests()
        // The staged state is the starting point; finalize is the operation.
        let w = Machine(root: base.tmp.sub("w/root"), boot: base.tmp.sub("w/boot"))
        func reset() throws {
            try sh("rm -rf '\(base.tmp.sub("w"))' && mkdir -p '\(base.tmp.sub("w"))' && cp -a '\(base.root)' '\(base.tmp.sub("w/root"))' && cp -a '\(base.boot)' '\(base.tmp.sub("w/boot"))' && rm -rf '\(w.run)' && cp -a '\(base.run)' '\(w.run)'")
        }
        try reset()
        let trace = base.tmp.sub("trace")
        #expect(try w.bd("finalize", [], env: ["BOOTDEPLOY_FAULT_TRACE": trace]).ok)
        let points = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").count
        #expect(points > 5)
        for n in 1...points {
            for mode in ["error", "kill"] {
                try reset()
                let r = try w.bd("finalize", [], env: ["BOOTDEPLOY_FAULT_AT": String(n), "BOOTDEPLOY_FAULT_MODE": mode])
                #expect(r.status != 0, "finalize stopped at \(n) (\(mode)) must not report success")
                try crash.checkBootable(w, what: "finalize stopped at \(n)/\(points) (\(mode))", allowedDefaults: [a, b])
            }
        }
        print("crash points: finalize \(points) calls, \(points * 2) stops")
    }
}

@Suite("Unreadable run state is never taken for absent")
struct RunStateTests {
    @Test("a malformed booted.json stops cleanup and undeploy (naming the file) and shows in status")
    func malformedBooted() throws {
        let m = Machine()
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        try m.deploy(m.tree("b", kernel: "k2"))
        try "{ \"stateroot\": \"os\", ".write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
        let before = try treeDigest(m.root + "/bootdeploy")
        let c = try m.bd("cleanup")
        #expect(c.status == 1 && c.stderr.contains("booted.json"), "\(c.stderr)")
        let u = try m.bd("undeploy", [a])
        #expect(u.status == 1 && u.stderr.contains("booted.json"), "\(u.stderr)")
        #expect(try treeDigest(m.root + "/bootdeploy") == before)
        #expect((try m.status()["problems"] as! [String]).contains { $0.contains("booted.json") })
    }

    @Test("a malformed staged.json makes finalize fail naming it, never 'nothing staged'")
    func malformedStaged() throws {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a", kernel: "k1"))
        try "not json".write(toFile: m.run + "/staged.json", atomically: true, encoding: .utf8)
        let f = try m.bd("finalize")
        #expect(f.status == 1 && f.stderr.contains("staged.json"), "\(f.stderr)")
    }
}
