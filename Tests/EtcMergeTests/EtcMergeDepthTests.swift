import BootDeploy
import Foundation
import TestSupport
import Testing

/// The merge walks /etc recursively; a hostile depth must end in a message, never a stack overflow.
@Suite("A deep /etc")
struct EtcMergeDepthTests {
    @Test("an administrator's /etc nested deeper than 256 levels fails the merge with a message naming it; nothing is left behind")
    func tooDeep() throws {
        let f = try EtcFixture(vendor: "echo a > $OV/a", local: """
            python3 -c 'import os; os.chdir("cur/etc")
            for _ in range(5000): os.mkdir("d"); os.chdir("d")
            open("deep.conf", "w").write("x")'
            """)
        #expect {
            _ = try f.merge()
        } throws: { error in
            "\(error)".contains("deeper than 256") && "\(error)".contains("d/d/d")
        }
        #expect(!f.exists(""), "a partial target was left at \(f.target)")
    }

    @Test("an /etc 200 levels deep merges")
    func deepButBounded() throws {
        let f = try EtcFixture(vendor: "echo a > $OV/a", local: """
            python3 -c 'import os; os.chdir("cur/etc")
            for _ in range(200): os.mkdir("d"); os.chdir("d")
            open("deep.conf", "w").write("x")'
            """)
        _ = try f.merge()
        #expect(f.read(String(repeating: "d/", count: 200) + "deep.conf") == "x")
    }
}
