import BootDeployEarlyBoot
import Testing

@Suite("booted.json read back strictly")
struct BootedRecordParseTests {
    @Test("what prepare-root writes reads back; hostile names, schemas, types and sizes are errors naming the file")
    func strict() throws {
        let good = BootedRecord(name: DeploymentName(stateroot: "os", id: "ab.1"), loaderEntry: "bd-os-1+2-1.conf", softwareAttempts: 2, bootedAt: 5)
        #expect(try BootedRecord.parse(Array(good.json.renderedPretty().utf8), file: "/run/b.json") == good)
        let bad = [
            #"{"schema":1,"stateroot":"os","id":"../../../etc"}"#, #"{"schema":1,"stateroot":"os","id":"a/b"}"#,
            #"{"schema":2,"stateroot":"os","id":"a"}"#, #"{"stateroot":"os","id":"a"}"#, #"[1]"#, "",
            #"{"schema":1,"stateroot":"os","id":"a","deployment":"bootdeploy/x/deploy/a"}"#,
            #"{"schema":1,"stateroot":"os","id":"a","loaderEntry":"a/b.conf"}"#,
            #"{"schema":1,"stateroot":"os","id":"a","loaderEntry":"a\u0007.conf"}"#,
            #"{"schema":1,"stateroot":"os","id":"a","bootedAt":"x"}"#,
            #"{"schema":1,"stateroot":"os","id":"a","x":""# + String(repeating: "y", count: 70_000) + #""}"#,
        ]
        for text in bad {
            #expect(throws: PrepareRootError.self, "\(text.prefix(60))") { try BootedRecord.parse(Array(text.utf8), file: "/run/b.json") }
            do { _ = try BootedRecord.parse(Array(text.utf8), file: "/run/b.json") } catch {
                #expect(error.message.hasPrefix("/run/b.json: "))
            }
        }
    }
}
