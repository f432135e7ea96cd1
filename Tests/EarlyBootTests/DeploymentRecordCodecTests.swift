import BootDeployEarlyBoot
import Testing

/// The deployment record's codec (BootDeployEarlyBoot, on `JSONValue`): what it reads, what it
/// writes, and how it refuses. The two documents below are the bytes Foundation's `JSONEncoder`
/// wrote for records before the codec moved (`.prettyPrinted, .sortedKeys, .withoutEscapingSlashes`
/// plus a newline), produced once and kept here literally.
@Suite("Deployment record codec: known answers, errors naming file, line and key")
struct DeploymentRecordCodecTests {
    /// Every optional part set, a title with a quote, a tab, a control character, non-ASCII, a
    /// slash and a backslash.
    static let foundationFull = #"""
        {
          "created" : "2026-12-05T14:00:00Z",
          "digest" : "3f2a9c01b7de00112233",
          "earlyBoot" : {
            "libraries" : [
              "ld-linux-x86-64.so.2",
              "libc.so.6"
            ],
            "path" : "bootdeploy/early-boot/abcd"
          },
          "hasDevicetree" : false,
          "id" : "3f2a9c01b7de.1",
          "kargs" : [
            "root=UUID=1234",
            "rw",
            "quiet",
            "foo=\"a b\""
          ],
          "kernelDir" : "bootdeploy/os/3f2a9c01b7de",
          "kernelVersion" : "6.1.0-18-amd64",
          "layout" : {
            "mounts" : [
              {
                "origin" : "physical",
                "purpose" : "sysroot",
                "readOnly" : false,
                "source" : "",
                "target" : "/sysroot"
              },
              {
                "origin" : "physical",
                "purpose" : "var",
                "readOnly" : false,
                "source" : "bootdeploy/os/var",
                "target" : "/var"
              },
              {
                "origin" : "deployment",
                "purpose" : "usr",
                "readOnly" : true,
                "source" : "usr",
                "target" : "/usr"
              }
            ],
            "root" : "bootdeploy/os/deploy/3f2a9c01b7de.1",
            "version" : 1
          },
          "mergedFrom" : "os/3f2a9c01b7de.0",
          "pinned" : true,
          "schema" : 1,
          "stateroot" : "os",
          "title" : "Debian \"bookworm\"\t\u0001 é/x\\y",
          "uki" : {
            "path" : "bootdeploy/os/uki/ff00.efi",
            "signed" : false,
            "source" : "built"
          },
          "version" : "12.4"
        }
        """#

    /// No merge source, no UKI, an early-boot install without libraries, empty arrays (which
    /// Foundation writes with a blank line inside).
    static let foundationMinimal = #"""
        {
          "created" : "2026-12-05T14:00:00Z",
          "digest" : "3f2a9c01b7de00112233",
          "earlyBoot" : {
            "libraries" : [

            ],
            "path" : "bootdeploy/early-boot/ef"
          },
          "hasDevicetree" : false,
          "id" : "3f2a9c01b7de.1",
          "kargs" : [

          ],
          "kernelDir" : "bootdeploy/os/3f2a9c01b7de",
          "kernelVersion" : "6.1.0-18-amd64",
          "layout" : {
            "mounts" : [

            ],
            "root" : "bootdeploy/os/deploy/3f2a9c01b7de.1",
            "version" : 1
          },
          "pinned" : true,
          "schema" : 1,
          "stateroot" : "os",
          "title" : "Debian \"bookworm\"\t\u0001 é/x\\y",
          "version" : "12.4"
        }
        """#

    static let layout = MountLayout(root: "bootdeploy/os/deploy/3f2a9c01b7de.1", mounts: [
        BindMount(origin: .physical, source: "", target: "/sysroot", readOnly: false, purpose: "sysroot"),
        BindMount(origin: .physical, source: "bootdeploy/os/var", target: "/var", readOnly: false, purpose: "var"),
        BindMount(origin: .deployment, source: "usr", target: "/usr", readOnly: true, purpose: "usr"),
    ])

    static var full: DeploymentRecord {
        DeploymentRecord(stateroot: "os", id: "3f2a9c01b7de.1", version: "12.4", title: "Debian \"bookworm\"\t\u{1} \u{e9}/x\\y",
                         digest: "3f2a9c01b7de00112233", kernelVersion: "6.1.0-18-amd64", kernelDir: "bootdeploy/os/3f2a9c01b7de",
                         hasDevicetree: false, kargs: ["root=UUID=1234", "rw", "quiet", "foo=\"a b\""], pinned: true,
                         created: "2026-12-05T14:00:00Z", layout: layout,
                         mergedFrom: DeploymentName(stateroot: "os", id: "3f2a9c01b7de.0"),
                         earlyBoot: EarlyBootRef(path: "bootdeploy/early-boot/abcd", libraries: ["ld-linux-x86-64.so.2", "libc.so.6"]),
                         uki: UKIRef(path: "bootdeploy/os/uki/ff00.efi", signed: false, source: "built"))
    }

    static var minimal: DeploymentRecord {
        var r = full
        r.mergedFrom = nil
        r.earlyBoot = EarlyBootRef(path: "bootdeploy/early-boot/ef", libraries: [])
        r.uki = nil
        r.kargs = []
        r.layout.mounts = []
        return r
    }

    @Test("a record Foundation's encoder wrote decodes to the same value, and is written back byte for byte")
    func foundationBytes() throws {
        for (text, value) in [(Self.foundationFull, Self.full), (Self.foundationMinimal, Self.minimal)] {
            let bytes = Array((text + "\n").utf8)
            let r = try DeploymentRecord.decode(bytes, file: "r.json")
            #expect(r == value)
            #expect(r.encoded() == bytes, "\(String(decoding: r.encoded(), as: UTF8.self))")
        }
    }

    @Test("round trip: what the codec writes it reads back unchanged, and prepare-root reads the same layout")
    func roundTrip() throws {
        var odd = Self.full
        odd.title = "\u{8}\u{c}\r\n\u{7f}\u{1f}\"\\/ \u{2028}\u{1F600}"
        odd.kargs = ["a=\"b c\"", ""]
        odd.hasDevicetree = true
        odd.uki = UKIRef(path: "p", signed: true, source: "tree:usr/lib/modules/6/uki.efi")
        for r in [Self.full, Self.minimal, odd] {
            let bytes = r.encoded()
            #expect(bytes.last == 0x0A && bytes.dropLast().last != 0x0A, "one trailing newline")
            #expect(try DeploymentRecord.decode(bytes, file: "r.json") == r)
            let early = try EarlyBootRecord.parse(bytes, file: "r.json", expected: r.name)
            #expect(early.layout == r.layout && early.stateroot == r.stateroot && early.id == r.id)
        }
    }

    @Test("keys this reader does not know are ignored, at the top and inside the layout")
    func unknownKeysIgnored() throws {
        var text = Self.foundationFull
        text = text.replacingOccurrences(of: "{\n  \"created\"", with: "{\n  \"aNewerKey\" : {\"nested\": [1, 2.5e3, null]},\n  \"created\"")
        text = text.replacingOccurrences(of: "\"root\" : ", with: "\"rootHint\" : \"x\",\n    \"root\" : ")
        text = text.replacingOccurrences(of: "\"purpose\" : \"usr\",", with: "\"purpose\" : \"usr\", \"propagation\" : \"private\",")
        #expect(text.contains("aNewerKey") && text.contains("rootHint") && text.contains("propagation"))
        #expect(try DeploymentRecord.decode(Array(text.utf8), file: "r.json") == Self.full)
        #expect(try EarlyBootRecord.parse(Array(text.utf8), file: "r.json", expected: Self.full.name).layout == Self.layout)
    }

    /// `text` with the first occurrence of `of` replaced (must be there).
    func mutated(_ of: String, _ with: String) -> [UInt8] {
        let text = Self.foundationFull + "\n"
        precondition(text.contains(of), of)
        return Array(text.replacingOccurrences(of: of, with: with, options: [], range: text.range(of: of)).utf8)
    }

    @Test("errors name the file, the line and the key: missing key, wrong type, schema, syntax, bad names")
    func errors() {
        let cases: [([UInt8], Int, String)] = [
            (mutated("  \"digest\" : \"3f2a9c01b7de00112233\",\n", ""), 1, "\"digest\" is missing"),
            (mutated("\"pinned\" : true", "\"pinned\" : \"yes\""), 49, "\"pinned\" is not a boolean"),
            (mutated("\"schema\" : 1", "\"schema\" : 2"), 50, "schema 2 is not supported"),
            (mutated("\"readOnly\" : true", "\"readOnly\" : 1"), 40, "layout.mounts[2].readOnly is not a boolean"),
            (mutated("        \"purpose\" : \"var\",\n        \"readOnly\" : false,\n", "        \"purpose\" : \"var\",\n"), 30, "layout.mounts[1].readOnly is missing"),
            (mutated("\"version\" : 1", "\"version\" : \"1\""), 46, "layout \"version\" is not an integer"),
            (mutated("\"libraries\" : [", "\"libraries\" : [7, "), 5, "earlyBoot \"libraries\" has a non-string at [0]"),
            (mutated("\"signed\" : false", "\"signed\" : null"), 55, "uki \"signed\" is not a boolean"),
            (mutated("\"rw\",", "\"rw\""), 16, "not a deployment record: column"),
            (mutated("\"stateroot\" : \"os\"", "\"stateroot\" : \"../os\""), 51, "\"stateroot\" \"../os\" contains '/'"),
            (mutated("\"id\" : \"3f2a9c01b7de.1\"", "\"id\" : \"a\\u0001b\""), 12, "\"id\" \"a\\x01b\" contains a character outside"),
            (mutated("\"mergedFrom\" : \"os/3f2a9c01b7de.0\"", "\"mergedFrom\" : \"os\""), 48, "\"mergedFrom\" \"os\" is not STATEROOT/ID"),
            (Array("[1]".utf8), 1, "not a JSON object"),
        ]
        for (bytes, line, fragment) in cases {
            do {
                let r = try DeploymentRecord.decode(bytes, file: "/sysroot/bootdeploy/os/deploy/x.json")
                Issue.record("accepted, as \(r)")
            } catch {
                #expect(error.file == "/sysroot/bootdeploy/os/deploy/x.json")
                #expect(error.line == line, "\(fragment): \(error)")
                #expect(error.message.contains(fragment), "\(error)")
                #expect(error.description.hasPrefix("/sysroot/bootdeploy/os/deploy/x.json:\(line): "), "\(error)")
            }
        }
    }

    @Test("staged.json and the finalize stamp: the bytes JSONEncoder wrote, read back and written again unchanged")
    func runStateFiles() throws {
        let staged = #"""
        {
          "id" : "3f2a.1",
          "locked" : false,
          "mergeEtc" : false,
          "schema" : 1,
          "staged" : "2026-12-05T14:00:00Z",
          "stateroot" : "os",
          "tries" : 3
        }
        """# + "\n"
        let s = try StagedDeployment.decode(Array(staged.utf8), file: "staged.json")
        #expect(s == StagedDeployment(stateroot: "os", id: "3f2a.1", tries: 3, locked: false, staged: "2026-12-05T14:00:00Z", mergeEtc: false))
        #expect(s.encoded() == Array(staged.utf8))
        let stamp = #"""
        {
          "error" : "merging /etc from os/3f2a.0: \"x\"\n",
          "id" : "3f2a.1",
          "schema" : 1,
          "stateroot" : "os",
          "time" : "2026-12-05T14:00:00Z"
        }
        """# + "\n"
        let f = try FinalizeFailure.decode(Array(stamp.utf8), file: "finalize-failed.json")
        #expect(f.name == DeploymentName(stateroot: "os", id: "3f2a.1") && f.error == "merging /etc from os/3f2a.0: \"x\"\n")
        #expect(f.encoded() == Array(stamp.utf8))
        // A newer writer's key is ignored; a missing one is named with its line.
        let newer = staged.replacingOccurrences(of: "\"tries\" : 3", with: "\"tries\" : 3,\n  \"priority\" : \"high\"")
        #expect(try StagedDeployment.decode(Array(newer.utf8), file: "staged.json") == s)
        do {
            _ = try StagedDeployment.decode(Array(staged.replacingOccurrences(of: "\"locked\" : false", with: "\"locked\" : 0").utf8), file: "staged.json")
            Issue.record("accepted a number for locked")
        } catch {
            #expect(error.description == "staged.json:3: \"locked\" is not a boolean")
        }
    }
}
