import Foundation
import Testing
import TestSupport

/// booted.json and staged.json are checked as strictly as deployment records, and the names
/// BootDeploy uses under bootdeploy/ cannot be taken by a stateroot.
@Suite("Run-state files checked strictly; reserved names", .serialized)
struct StrictRunStateTests {
    func twoDeployments() throws -> (Machine, String, String) {
        let m = Machine(label: "bdrs")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let b = try m.deploy(m.tree("b", kernel: "k2"))
        return (m, a, b)
    }

    @Test("status reads an attempts file as early boot does: a count is shown, anything else is a problem naming the file")
    func attemptsFileInStatus() throws {
        let (m, a, _) = try twoDeployments()
        let parts = a.split(separator: "/").map(String.init)
        let file = "\(m.root)/bootdeploy/\(parts[0])/deploy/\(parts[1]).attempts"
        func row() throws -> [String: Any] { try m.deployments().first { $0["id"] as? String == parts[1] }! }
        try "2\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try row()["softwareAttempts"] as? Int == 2)
        for garbled in ["1x2\n", "-1\n", "", String(repeating: "9", count: 100)] {
            try garbled.write(toFile: file, atomically: true, encoding: .utf8)
            let s = try m.status()
            let r = try row()
            #expect(r["softwareAttempts"] == nil || r["softwareAttempts"] is NSNull, "\(garbled): \(r)")
            #expect((s["problems"] as! [String]).contains { $0.contains("\(parts[1]).attempts") }, "\(garbled): \(s["problems"] ?? "")")
        }
    }

    @Test("a booted.json with a hostile or malformed name, schema or size is an error naming the file; undeploy and cleanup refuse")
    func hostileBootedJSON() throws {
        let (m, a, _) = try twoDeployments()
        let aid = String(a.split(separator: "/")[1])
        let hostile = [
            #"{"schema":1,"stateroot":"os","id":"../../../etc"}"#,
            #"{"schema":1,"stateroot":"../os","id":"\#(aid)"}"#,
            #"{"schema":2,"stateroot":"os","id":"\#(aid)"}"#,
            #"{"stateroot":"os","id":"\#(aid)"}"#,
            #"{"schema":1,"stateroot":"os","id":"\#(aid)","loaderEntry":"../../x.conf"}"#,
            #"{"schema":1,"stateroot":"os","id":"\#(aid)","softwareAttempts":-1}"#,
            #"{"schema":1,"stateroot":"os","id":"\#(aid)","pad":""# + String(repeating: "x", count: 100_000) + #""}"#,
        ]
        for text in hostile {
            try text.write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
            let shown = String(text.prefix(70))
            let before = try treeDigest(m.root) + treeDigest(m.boot)
            let s = try m.bd("status", ["--json"])
            #expect(s.ok && s.stdout.contains("booted.json") && !s.stdout.contains("\"booted\" : \"os/.."), "status with \(shown): \(s.stdout.prefix(300))")
            for args in [["undeploy", a], ["cleanup"]] {
                let r = try m.bd(args[0], Array(args.dropFirst()))
                #expect(r.status == 1 && r.stderr.contains("booted.json"), "\(args[0]) with \(shown): \(r.status) \(r.stderr)")
            }
            #expect(try treeDigest(m.root) + treeDigest(m.boot) == before, "\(shown): something changed")
        }
        // The real file prepare-root writes passes.
        try #"{"schema":1,"stateroot":"os","id":"\#(aid)","deployment":"bootdeploy/os/deploy/\#(aid)","loaderEntry":"bd-os-1+2-1.conf","softwareAttempts":null,"bootedAt":1}"#
            .write(toFile: m.run + "/booted.json", atomically: true, encoding: .utf8)
        let r = try m.bd("undeploy", [a])
        #expect(r.status == 1 && r.stderr.contains("booted deployment"), "\(r.stderr)")
    }

    @Test("a staged.json with a hostile name or out-of-range value is an error naming the file")
    func hostileStagedJSON() throws {
        let (m, _, b) = try twoDeployments()
        let bid = String(b.split(separator: "/")[1])
        for text in [#"{"schema":1,"stateroot":"os","id":"../\#(bid)","tries":3,"locked":false,"staged":"t"}"#,
                     #"{"schema":1,"stateroot":"os","id":"\#(bid)","tries":99,"locked":false,"staged":"t"}"#,
                     #"{"schema":7,"stateroot":"os","id":"\#(bid)","tries":3,"locked":false,"staged":"t"}"#] {
            try text.write(toFile: m.run + "/staged.json", atomically: true, encoding: .utf8)
            for args in [["finalize"], ["cleanup"]] {
                let r = try m.bd(args[0])
                #expect(r.status == 1 && r.stderr.contains("staged.json"), "\(args[0]) with \(text): \(r.status) \(r.stderr)")
            }
        }
    }

    @Test("BootDeploy's own names under bootdeploy/ cannot be stateroots")
    func reservedStaterootNames() throws {
        let m = Machine(label: "bdrn")
        try m.initOS()
        for name in ["health", "early-boot", "finalize-failed.json", "staged.json", "lock", "tmp", "x.json", "x.tmp", "x.lock", ".boot-frozen", ".lock"] {
            let r = try m.bd("init", ["--stateroot", name])
            #expect(r.status == 1 && r.stderr.contains(name), "init --stateroot \(name): \(r.status) \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: m.root + "/bootdeploy/" + name), "\(name) was created")
        }
    }
}
