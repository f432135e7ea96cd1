import BootDeployEarlyBoot
import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// A deployment's identity is read in one place per entry point and refused there, with the value
/// named: a command-line reference, a record file, an entry's `bootdeploy=`, a run-state file.
@Suite("Deployment names: a bad stateroot or id is refused where it enters, naming the value", .serialized)
struct DeploymentNameEntryTests {
    @Test("parsing STATEROOT/ID on the deploy side: one rule, the part and the value named")
    func parsing() throws {
        #expect(try DeploymentName(parsing: "os/3f2a.0") == DeploymentName(stateroot: "os", id: "3f2a.0"))
        let refused: [(String, String)] = [
            ("os", "invalid deployment \"os\": expected STATEROOT/ID"),
            ("os/", "invalid deployment id \"\": is empty"),
            ("/a", "invalid stateroot \"\": is empty"),
            ("os/a b", "invalid deployment id \"a b\": contains a character outside [A-Za-z0-9._-]"),
            ("os/a/b", "invalid deployment id \"a/b\": contains '/'"),
            ("../x/a", "invalid stateroot \"..\": must not start with '.' or '-'"),
            ("os/a\u{1}b", "invalid deployment id \"a\\x1b\": contains a character outside [A-Za-z0-9._-] (a control character)"),
            ("os/" + String(repeating: "x", count: 65), "is longer than 64 characters"),
        ]
        for (text, message) in refused {
            do {
                let n = try DeploymentName(parsing: text)
                Issue.record("accepted \(text.debugDescription) as \(n)")
            } catch {
                #expect(error.description.contains(message), "\(text.debugDescription): \(error)")
            }
        }
        // Names and prepare-root's reader agree on every one of them.
        for text in ["os/a b", "os/.x", "-os/a", "os/é", "os/a\u{7f}"] {
            #expect((try? DeploymentName(parsing: text)) == nil)
            #expect((try? DeploymentName(argument: text)) == nil)
        }
        #expect(DeploymentName(stateroot: "os", id: "b") < DeploymentName(stateroot: "os", id: "c"))
        #expect(DeploymentName(stateroot: "os-2", id: "z") < DeploymentName(stateroot: "os", id: "a"), "ordered as written: '-' sorts before '/'")
    }

    @Test("a command-line reference with a bad name is refused with the value before anything is read or written")
    func commandLine() throws {
        let m = Machine(label: "bdname")
        try m.initOS()
        try m.deploy(m.tree("a"))
        let before = try treeDigest(m.root) + treeDigest(m.boot)
        let cases: [([String], String)] = [
            (["set-default", "os/a b"], "invalid deployment id \"a b\""),
            (["undeploy", "os/.hidden"], "invalid deployment id \".hidden\": must not start"),
            (["pin", "../os/x"], "invalid stateroot \"..\""),
            (["kargs", "--deployment", "os/x\u{1}", "--append", "quiet"], "invalid deployment id \"x\\x1\""),
            (["install-init", "os/x y"], "invalid deployment id \"x y\""),
        ]
        for (args, message) in cases {
            let r = try m.bd(args[0], Array(args.dropFirst()))
            #expect(r.status == 1 && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
        }
        #expect(try treeDigest(m.root) + treeDigest(m.boot) == before)
    }

    @Test("a record file whose stateroot or id breaks the name rule is a problem naming the file and the value, never a deployment")
    func recordFile() throws {
        let m = Machine(label: "bdname")
        try m.initOS()
        let a = try m.deploy(m.tree("a"))
        let id = String(a.split(separator: "/")[1])
        let dir = "\(m.root)/bootdeploy/os/deploy"
        let good = try String(contentsOfFile: "\(dir)/\(id).json", encoding: .utf8)
        let bad = good.replacingOccurrences(of: "\"id\" : \"\(id)\"", with: "\"id\" : \"x y\"")
        #expect(bad != good)
        try bad.write(toFile: "\(dir)/x y.json", atomically: true, encoding: .utf8)
        let s = try m.status()
        let problems = s["problems"] as! [String]
        #expect(problems.contains { $0.contains("\(dir)/x y.json:") && $0.contains("\"id\" \"x y\" contains a character outside") }, "\(problems)")
        #expect(try m.deployments().map { $0["id"] as! String } == [id])
    }
}
