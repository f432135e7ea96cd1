import Foundation
import Testing
import TestSupport

/// The crash sweep over the steps a plain update adds (issue 18): the merge deployment's kernel
/// arguments inherited and its /etc three-way merged into the new deployment before /boot is
/// touched. Kept apart from CrashTests.swift, whose sweep it reuses.
@Suite("Crash consistency of an update that merges /etc and inherits kernel arguments", .serialized,
       .enabled(if: TestEnv.isRoot && Bootctl.available))
struct MergeCrashTests {
    /// Two deployments, the older one booted; the administrator appended a kernel argument and
    /// edited, added and removed files in the booted /etc.
    static func configured(_ m: Machine) throws {
        try CrashTests.twoDeployments(m)
        let a = try m.order()[1]
        try #"{"schema":1,"stateroot":"os","id":"\#(a.split(separator: "/")[1])"}"#
            .write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
        try m.ok("kargs", ["--deployment", a, "--append", "console=ttyS0,115200"])
        let etc = m.root + "/bootdeploy/os/deploy/\(a.split(separator: "/")[1])/etc"
        try "admin-host\n".write(toFile: etc + "/hostname", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: etc + "/admin.d", withIntermediateDirectories: true)
        try "added\n".write(toFile: etc + "/admin.d/local.conf", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: etc + "/localtime", withDestinationPath: "/usr/share/zoneinfo/UTC")
    }

    @Test("a plain deploy of an update, stopped at every mutating call, leaves /boot bootable and every new entry complete")
    func plainUpdate() throws {
        let crash = CrashTests()
        var newTree = ""
        let o = try crash.sweep("deploy/merge", prepare: Self.configured) { m in
            if newTree.isEmpty {
                newTree = m.tree("new", kernel: "k3", version: "3")
                m.tmp.write("trees/new/etc/vendor-3.conf", "3\n")
            }
            return ["deploy", "--stateroot", "os", "--tree", newTree]
        }
        print("crash points: deploy/merge \(o.points) calls, \(o.runs) stops")
        #expect(o.points > 20, "the merge's own calls are in the sweep (\(o.points))")
    }

    @Test("the update the sweep's clean run makes carries the configuration")
    func cleanRunCarries() throws {
        let m = Machine(label: "bdmergecrash")
        try Self.configured(m)
        let a = try m.order()[1]
        let t = m.tree("new", kernel: "k3", version: "3")
        let n = try m.ok("deploy", ["--stateroot", "os", "--tree", t])
        let row = try #require(try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == n })
        #expect(row["mergedFrom"] as? String == a)
        #expect((row["kargs"] as? [String])?.contains("console=ttyS0,115200") == true)
        let etc = m.root + "/bootdeploy/os/deploy/\(n.split(separator: "/")[1])/etc"
        #expect(try String(contentsOfFile: etc + "/hostname", encoding: .utf8) == "admin-host\n")
        #expect(try String(contentsOfFile: etc + "/admin.d/local.conf", encoding: .utf8) == "added\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: etc + "/localtime") == "/usr/share/zoneinfo/UTC")
    }
}
