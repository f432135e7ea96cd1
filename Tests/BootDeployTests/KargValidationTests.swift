@testable import BootDeploy
import Foundation
import Testing
import TestSupport

/// Issue 11, item 1: every kernel argument is checked as the kernel splits it, and a command line
/// the kernel would cut is refused, before anything is written.
@Suite("Kernel argument validation", .serialized)
struct KargValidationTests {
    func machine() throws -> (Machine, String) {
        let m = Machine(label: "bdkarg")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        return (m, a)
    }

    func snapshot(_ m: Machine) throws -> String { try treeDigest(m.root + "/bootdeploy") + treeDigest(m.boot) }

    /// Runs a command that must be refused with a message containing every one of `needles`, and
    /// checks that nothing on the sysroot or /boot changed.
    func refused(_ m: Machine, _ command: String, _ args: [String], _ needles: [String]) throws {
        let before = try snapshot(m)
        let r = try m.bd(command, args)
        #expect(r.status == 1, "\(command) \(args) must be refused: \(r.stdout) \(r.stderr)")
        for n in needles { #expect(r.stderr.contains(n), "\(command) \(args): '\(n)' not in: \(r.stderr)") }
        #expect(try snapshot(m) == before, "\(command) \(args) changed something")
    }

    @Test("an unbalanced quote is refused by deploy and kargs, naming the argument")
    func unbalancedQuote() throws {
        let (m, _) = try machine()
        let t = m.tree("b", kernel: "k2")
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t, "--karg", "a=\"b"], ["a=\\\"b", "unbalanced double quote"])
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t, "--karg-append", "x\"y"], ["x\\\"y", "unbalanced"])
        try refused(m, "kargs", ["--append", "a=\"b"], ["a=\\\"b", "unbalanced double quote"])
        try refused(m, "kargs", ["--replace", "root=\"x"], ["unbalanced"])
    }

    @Test("control characters, empty and whitespace-only arguments, '--' and kernel whitespace are refused")
    func malformedArguments() throws {
        let (m, _) = try machine()
        let t = m.tree("b", kernel: "k2")
        let cases: [(String, String)] = [
            ("a=b\u{1}", "control character 0x01"),
            ("a=b\u{7f}", "control character 0x7F"),
            ("tab=a\tb", "control character 0x09"),
            ("   ", "empty or only whitespace"),
            ("--", "'--' ends the kernel's parameters"),
            // U+0120 is C4 A0 in UTF-8: 0xA0 is whitespace to the kernel.
            ("name=a\u{120}b", "byte 0xA0"),
            ("\"a\" \"b\"", "split it into 2 arguments"),
            ("\"\"", "empty or only whitespace"),
            ("opt=\"x bootdeploy=os/evil\"", "holds bootdeploy= inside quotes"),
        ]
        for (arg, why) in cases {
            try refused(m, "deploy", ["--stateroot", "os", "--tree", t, "--karg=\(arg)"], [why])
            try refused(m, "kargs", ["--append=\(arg)"], [why])
        }
        // Quoted, the same characters are one argument.
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x", "--karg", "name=\"a\u{120}b c\""])
        #expect(try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == b }?["kargs"] as? [String] == ["root=x", "name=\"a\u{120}b c\""])
    }

    @Test("a 100 KB argument and a command line over 2048 bytes are refused, naming the argument that crosses the limit")
    func tooLong() throws {
        let (m, _) = try machine()
        let t = m.tree("b", kernel: "k2")
        let huge = "big=" + String(repeating: "x", count: 100_000)
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t, "--karg", huge], ["big=xxxx", "100004 bytes", "COMMAND_LINE_SIZE 2048"])
        try refused(m, "kargs", ["--append", huge], ["big=xxxx", "COMMAND_LINE_SIZE 2048"])
        // Many ordinary arguments: the one that crosses 2047 bytes is named.
        var many: [String] = []
        for i in 0..<150 { many += ["--karg-append", "opt\(i)=0123456789"] }
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t] + many, ["opt1", "crosses the limit at kernel argument \"opt1"])
    }

    @Test("the limit is set with --cmdline-limit or in cmdline.conf; a bad cmdline.conf names its file and line")
    func configurableLimit() throws {
        let (m, _) = try machine()
        let t = m.tree("b", kernel: "k2")
        let long = "long=" + String(repeating: "y", count: 2500)
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t, "--karg-append", long], ["COMMAND_LINE_SIZE 2048"])
        try m.ok("deploy", ["--stateroot", "os", "--tree", t, "--karg-append", long, "--cmdline-limit", "4096"])
        // The next update inherits the long argument: refused at 2048, accepted with cmdline.conf.
        let t2 = m.tree("c", kernel: "k3")
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t2], ["crosses the limit at kernel argument \"long=yyy"])
        let conf = m.root + "/bootdeploy/os/cmdline.conf"
        try "# this kernel has COMMAND_LINE_SIZE 4096\nlimit 4096\n".write(toFile: conf, atomically: true, encoding: .utf8)
        try m.ok("deploy", ["--stateroot", "os", "--tree", t2])
        try "limit lots\n".write(toFile: conf, atomically: true, encoding: .utf8)
        try refused(m, "kargs", ["--append", "z"], ["\(conf):1", "limit BYTES"])
        try "limit 10\n".write(toFile: conf, atomically: true, encoding: .utf8)
        try refused(m, "kargs", ["--append", "z"], ["\(conf):1", "outside 256...65536"])
    }

    @Test("an invalid argument inherited from the merge deployment is named; --karg-delete lets the update through")
    func inheritedInvalid() throws {
        let (m, a) = try machine()
        // A record written by an older boot-deploy that accepted anything.
        let rec = m.root + "/bootdeploy/os/deploy/\(a.split(separator: "/")[1]).json"
        let text = try String(contentsOfFile: rec, encoding: .utf8)
        try text.replacingOccurrences(of: "\"root=LABEL=testroot\"", with: "\"root=LABEL=testroot\", \"a=\\\"b\"")
            .write(toFile: rec, atomically: true, encoding: .utf8)
        let t = m.tree("b", kernel: "k2")
        try refused(m, "deploy", ["--stateroot", "os", "--tree", t], ["a=\\\"b", "unbalanced", "start from \(a)", "--karg-delete"])
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", t, "--karg-delete", "a"])
        #expect(try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == b }?["kargs"] as? [String] == ["root=LABEL=testroot"])
    }

    @Test("finalize refuses a staged deployment whose kernel arguments became invalid, before writing anything")
    func finalizeChecks() throws {
        let (m, _) = try machine()
        let b = try m.ok("deploy", ["--stateroot", "os", "--tree", m.tree("b", kernel: "k2"), "--stage", "--no-start-unit"])
        let rec = m.root + "/bootdeploy/os/deploy/\(b.split(separator: "/")[1]).json"
        let text = try String(contentsOfFile: rec, encoding: .utf8)
        try text.replacingOccurrences(of: "\"root=LABEL=testroot\"", with: "\"root=LABEL=testroot\", \"big=\(String(repeating: "z", count: 3000))\"")
            .write(toFile: rec, atomically: true, encoding: .utf8)
        let before = try treeDigest(m.boot) + treeDigest(m.root + "/bootdeploy/os")
        let r = try m.bd("finalize")
        #expect(r.status == 1 && r.stderr.contains("crosses the limit at kernel argument \"big=zzz"), "\(r.stderr)")
        #expect(try treeDigest(m.boot) + treeDigest(m.root + "/bootdeploy/os") == before)
        let check = try m.bd("finalize", ["--check"])
        #expect(check.status == 1 && check.stderr.contains("big=zzz"), "the next boot reports it: \(check.stderr)")
    }

    @Test("the splitter follows the kernel's next_arg(): quotes group and are kept, 0xA0 separates, a leading quote opens quoting")
    func kernelSplitting() {
        func split(_ s: String) -> [String] { KernelCommandLineRules.split(s) }
        #expect(split("  root=/dev/vda1   rw\tquiet\n") == ["root=/dev/vda1", "rw", "quiet"])
        #expect(split("opt=\"a b\" x") == ["opt=\"a b\"", "x"])
        #expect(split("\"opt=a b\" x") == ["\"opt=a b\"", "x"])
        #expect(split("a=\"b c bootdeploy=os/x") == ["a=\"b c bootdeploy=os/x"], "an unbalanced quote swallows the rest")
        #expect(split("a\u{0B}b\u{0C}c") == ["a", "b", "c"])
        #expect(split("x=a\u{120}b") == ["x=a\u{FFFD}", "b"], "0xA0 ends an argument outside quotes")
        #expect(KernelCommandLineRules.problem(with: "root=UUID=1234-5678") == nil)
        // The CLI's parser already refuses an empty option value; records are checked here.
        #expect(KernelCommandLineRules.problem(with: "")?.contains("empty") == true)
        #expect(KernelCommandLineRules.problem(with: "dyndbg=\"file foo.c +p\"") == nil)
        #expect(KernelCommandLineRules.length(options: ["a", "bb"], extra: ["initrd=/x"]) == 14)
    }
}
