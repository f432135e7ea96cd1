import Foundation
import Testing
import TestSupport
import BootDeploySystem
@testable import BootDeploy

/// The U-Boot backend: the extlinux menu and the plan environment generated from the plan, the
/// boot script image against the real mkimage/dumpimage, and the two-copy counter.
@Suite("U-Boot backend")
struct UBootTests {
    /// The keywords U-Boot's extlinux parser (boot/pxe_utils.c, 2023.01) knows, top level and in a label.
    static let topKeywords: Set<String> = ["default", "timeout", "prompt", "label", "include", "menu", "ontimeout", "fdtoverlays"]
    static let labelKeywords: Set<String> = ["menu", "kernel", "linux", "localboot", "append", "initrd", "ipappend",
                                             "fdt", "devicetree", "fdtdir", "devicetreedir", "fdtoverlays", "kaslrseed"]

    /// Parses an extlinux.conf as U-Boot's parser does (keyword first on a line, the rest of the line
    /// its value; `menu` followed by `title`/`label`), failing on anything it would not accept.
    static func parseExtlinux(_ text: String) throws -> (default: String?, labels: [(name: String, keys: [String: String])]) {
        var def: String?
        var labels: [(String, [String: String])] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var words = line.split(separator: " ", maxSplits: 1).map(String.init)
            if words[0] == "menu" {
                let rest = (words.count > 1 ? words[1] : "").split(separator: " ", maxSplits: 1).map(String.init)
                guard let sub = rest.first, ["title", "label"].contains(sub) else { throw Failure("line \(n + 1): menu \(rest)") }
                words = ["menu " + sub, rest.count > 1 ? rest[1] : ""]
            }
            let key = words[0], value = words.count > 1 ? words[1] : ""
            let bare = key.hasPrefix("menu ") ? "menu" : key
            if key == "label" {
                guard !value.isEmpty, !value.contains(" ") else { throw Failure("line \(n + 1): label \(value)") }
                labels.append((value, [:]))
            } else if !labels.isEmpty, labelKeywords.contains(bare), key != "menu title" {
                labels[labels.count - 1].1[key] = value
            } else if topKeywords.contains(bare) {
                if key == "default" { def = value }
            } else {
                throw Failure("line \(n + 1): unknown keyword \(key)")
            }
        }
        return (def, labels.map { ($0.0, $0.1) })
    }

    func machine() throws -> (Machine, String) {
        let m = Machine()
        try m.initOS()
        try m.deploy(m.tree("a"), ["--boot-loader", "u-boot", "--tries", "0"])
        try m.deploy(m.tree("b", kernel: "kernel-2"), ["--boot-loader", "u-boot", "--tries", "3", "--karg", "quiet"])
        return (m, m.entriesDir)
    }

    @Test("extlinux menu: accepted by U-Boot's grammar, default first, one label per deployment with files that exist")
    func extlinux() throws {
        let (m, dir) = try machine()
        let text = try String(contentsOfFile: dir + "/bootdeploy.extlinux", encoding: .utf8)
        let menu = try Self.parseExtlinux(text)
        let order = try m.order()
        #expect(menu.labels.map(\.name) == order.map { "bd-" + $0.replacingOccurrences(of: "/", with: "-") })
        #expect(menu.default == menu.labels.first?.name)
        for (_, keys) in menu.labels {
            for k in ["linux", "initrd"] {
                let path = try #require(keys[k])
                #expect(path.hasPrefix("/boot/"), "\(k) \(path): the boot dir is not a mount point here")
                #expect(FileManager.default.fileExists(atPath: m.boot + path.dropFirst("/boot".count)), "\(path)")
            }
            #expect(keys["fdt"] == nil)
            #expect(keys["append"]?.contains("bootdeploy=") == true)
        }
        #expect(menu.labels.first?.keys["append"]?.contains("quiet") == true)
        // A line U-Boot would not take is caught by the checker.
        #expect(throws: Failure.self) { try Self.parseExtlinux("labl x\n") }
    }

    @Test("plan environment: env import -t text, deployments in boot order, the trial first")
    func environment() throws {
        let (m, dir) = try machine()
        let text = try String(contentsOfFile: dir + "/bootdeploy.env", encoding: .utf8)
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            #expect(parts.count == 2, "\(line)")
            #expect(parts[0].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "\(line)")
            env[String(parts[0])] = parts.count > 1 ? String(parts[1]) : nil
        }
        let order = try m.order()
        #expect(env["bd_count"] == String(order.count))
        for (n, qid) in order.enumerated() {
            #expect(env["bd_\(n)_id"] == qid)
            #expect(env["bd_\(n)_args"]?.hasSuffix("bootdeploy=\(qid)") == true)
            let linux = try #require(env["bd_\(n)_linux"])
            // Relative to the boot partition: the script prepends the prefix where it found the plan.
            #expect(linux.hasPrefix("/") && !linux.hasPrefix("/boot/"), "\(linux)")
            #expect(FileManager.default.fileExists(atPath: m.boot + linux))
        }
        // The counter: the new deployment is on trial with its 3 tries.
        let c = UBootCounter.read(try Directory.open(m.boot)).current
        #expect(c?.trial == order.first)
        #expect(c?.left == 3)
        #expect(try m.status()["bootLoader"] as? String == "u-boot")
        let counter = try #require(try m.status()["bootLoaderCounter"] as? [String: Any])
        #expect(counter["trial"] as? String == order.first && counter["triesLeft"] as? Int == 3)
        #expect(try m.ok("status").contains("boot counter (\(m.boot)/bdcount.a): trial of \(order[0]), 3 tries left"))
    }

    @Test("another verb keeps the tries U-Boot already counted down; a blessed default clears the trial")
    func armKeepsCountedTries() throws {
        let (m, _) = try machine()
        let order = try m.order()
        let dir = try Directory.open(m.boot)
        try UBootCounter.write(dir, trial: order[0], left: 1)
        try m.ok("pin", [order[1]])
        #expect(UBootCounter.read(dir).current?.trial == order[0])
        #expect(UBootCounter.read(dir).current?.left == 1, "pin re-armed the trial with the plan's tries")
        try m.deploy(m.tree("c", kernel: "kernel-3"), ["--tries", "0"])
        #expect(UBootCounter.read(dir).current?.trial == nil)
    }

    @Test("boot.scr: byte for byte what mkimage -A x86 -T script -C none makes, decoded by dumpimage")
    func scriptImage() throws {
        guard TestEnv.have("mkimage"), TestEnv.have("dumpimage") else {
            print("SKIP: mkimage/dumpimage (u-boot-tools) not installed")
            return
        }
        let t = TempDir("uboot-scr")
        for arch in UBootScript.Arch.allCases {
            for write in ["fatwrite", "ext4write"] {
                let text = UBootScript.text(prefix: "/boot", write: write, arch: arch)
                t.write("s.txt", text)
                let r = try run("/usr/bin/mkimage", ["-A", arch.rawValue, "-O", "linux", "-T", "script", "-C", "none",
                                                     "-n", UBootScript.imageName, "-d", t.sub("s.txt"), t.sub("ref.scr")],
                                env: ["SOURCE_DATE_EPOCH": "0"])
                #expect(r.ok, "\(r.stderr)")
                let ours = UBootImage.script(text, arch: arch.rawValue, name: UBootScript.imageName, time: 0)
                let ref = [UInt8](try Data(contentsOf: URL(fileURLWithPath: t.sub("ref.scr"))))
                #expect(ours == ref, "\(arch) \(write): differs from mkimage's")
                try Data(ours).write(to: URL(fileURLWithPath: t.sub("ours.scr")))
                let l = try run("/usr/bin/dumpimage", ["-l", t.sub("ours.scr")])
                #expect(l.ok && l.stdout.contains("Script (uncompressed)") && l.stdout.contains(UBootScript.imageName), "\(l.stdout)\(l.stderr)")
                let x = try run("/usr/bin/dumpimage", ["-T", "script", "-p", "0", "-o", t.sub("out.txt"), t.sub("ours.scr")])
                #expect(x.ok, "\(x.stderr)")
                // dumpimage hands back the script payload: the part lengths (one, then 0) and the text.
                let out = [UInt8](try Data(contentsOf: URL(fileURLWithPath: t.sub("out.txt"))))
                let n = UInt32(text.utf8.count)
                #expect(out == [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff), 0, 0, 0, 0] + Array(text.utf8))
            }
        }
        // The installed script is ours and detected.
        let (m, _) = try machine()
        let l = try run("/usr/bin/dumpimage", ["-l", m.boot + "/boot.scr"])
        #expect(l.stdout.contains("Script (uncompressed)"), "\(l.stdout)")
        let script = try String(contentsOfFile: m.boot + "/boot.scr", encoding: .isoLatin1)
        // The boot dir is not a mount point here: /boot is tried first, the partition's root second
        // (an image built in a directory), and the plan's paths get the prefix found.
        #expect(script.contains("setenv bd_pfx \"/boot\"\n") && script.contains("setenv bd_pfx \"\"; if load"))
        #expect(script.contains("${bd_pfx}/loader/entries/bootdeploy.env") && script.contains("${bd_pfx}${bd_linux}"))
        #expect(!script.contains("exit"), "exit does not leave a sourced script from inside if (U-Boot 2023.01)")
        #expect(script.contains("ext4write") || script.contains("fatwrite"))
        #expect(try m.ok("status").contains("u-boot"))
        #expect(try m.status()["bootLoader"] as? String == "u-boot", "detected from boot.scr without --boot-loader")
    }

    @Test("extlinux/extlinux.conf: a fixed stub that includes the generated menu; a board's own is kept")
    func extlinuxStub() throws {
        let (m, _) = try machine()
        try FileManager.default.createDirectory(atPath: m.boot + "/extlinux", withIntermediateDirectories: true)
        try m.deploy(m.tree("c", kernel: "kernel-3"))
        let stub = try String(contentsOfFile: m.boot + "/extlinux/extlinux.conf", encoding: .utf8)
        let parsed = try Self.parseExtlinux(stub)
        #expect(parsed.labels.isEmpty)
        #expect(stub.contains("include /boot/loader/entries/bootdeploy.extlinux"))
        try "label mine\n linux /k\n".write(toFile: m.boot + "/extlinux/extlinux.conf", atomically: true, encoding: .utf8)
        try m.deploy(m.tree("d", kernel: "kernel-4"))
        #expect(try String(contentsOfFile: m.boot + "/extlinux/extlinux.conf", encoding: .utf8) == "label mine\n linux /k\n")
        let v = try m.bd("validate")
        #expect(v.stdout.contains("extlinux.conf is not BootDeploy's") || v.stderr.contains("extlinux.conf is not BootDeploy's"), "\(v.stdout)\(v.stderr)")
    }
}
