import Foundation
import Testing
import TestSupport
@testable import BootDeploy

@Suite("UAPI version comparison")
struct VersionTests {
    /// The examples of the UAPI Version Format Specification (`a OP b`). The spec also lists
    /// `0 < ~` and `'' < ~`; systemd 252 (and the spec's own step-by-step rules for the first)
    /// say `>`, see `tildeCorner` below.
    static let specExamples: [(String, String, Int)] = [
        ("11", "11", 0), ("systemd-123", "systemd-123", 0), ("bar-123", "foo-123", -1),
        ("123a", "123", 1), ("123.a", "123", 1), ("123.a", "123.b", -1), ("123a", "123.a", 1),
        ("11α", "11β", 0), ("A", "a", -1), ("", "0", -1), ("0.", "0", 1), ("0.0", "0", 1),
        ("1_", "1", 0), ("_1", "1", 0), ("1_", "1.2", -1), ("1_2_3", "1.3.3", 1),
        ("1+", "1", 0), ("+1", "1", 0), ("1+", "1.2", -1), ("1+2+3", "1.3.3", 1),
    ]

    @Test("the specification's examples hold")
    func spec() {
        for (a, b, want) in Self.specExamples {
            #expect(compareVersions(a, b) == want, "\(a) vs \(b)")
            #expect(compareVersions(b, a) == -want, "\(b) vs \(a)")
        }
    }

    @Test("the cases from the brief: 11 > 1.1, 1.1~rc1 < 1.1, 1.1^1 > 1.1, a < 1")
    func briefCases() {
        #expect(compareVersions("11", "1.1") > 0)
        #expect(compareVersions("1.1~rc1", "1.1") < 0)
        #expect(compareVersions("1.1^1", "1.1") > 0)
        #expect(compareVersions("a", "1") < 0)
        #expect(compareVersions("1.1~rc1", "1.1~rc2") < 0)
        #expect(compareVersions("1.1^1", "1.1.1") < 0)
        #expect(compareVersions("001", "1") == 0)
    }

    @Test("systemd's documented ladder sorts strictly upwards")
    func ladder() {
        // From the comment above strverscmp_improved() in systemd: each is newer than the one before.
        let ladder = ["122.1", "123~rc1-1", "123", "123-a", "123-a.1", "123-1", "123-1.1", "123^post1",
                      "123.a-1", "123.1-1", "123a-1", "124-1"]
        for i in ladder.indices {
            for j in ladder.indices {
                let r = compareVersions(ladder[i], ladder[j])
                #expect(i < j ? r < 0 : (i > j ? r > 0 : r == 0), "\(ladder[i]) vs \(ladder[j])")
            }
        }
    }

    @Test("systemd 252 has no empty-string shortcut: a ~ segment is older even than the end")
    func tildeCorner() {
        #expect(compareVersions("0", "~") > 0)
        #expect(compareVersions("", "~") > 0)
        #expect(compareVersions("", "_") == 0)
        #expect(compareVersions("", "") == 0)
        #expect(compareVersions("1~", "1") < 0)
    }

    static func randomVersion(_ g: inout SeededGenerator) -> String {
        let atoms = ["0", "1", "2", "10", "01", "123", "a", "b", "rc", "A", "~", "^", ".", "-", "_", "+", "α", ""]
        return (0..<g.int(0...6)).map { _ in g.pick(atoms) }.joined()
    }

    @Test("compareVersions agrees with systemd-analyze compare-versions on random versions")
    func oracle() throws {
        guard TestEnv.have("systemd-analyze") else {
            try TestEnv.skip("compareVersions oracle", because: "systemd-analyze is not installed")
        }
        var g = SeededGenerator(seed: 252)
        var pairs: [(String, String)] = []
        for _ in 0..<400 { pairs.append((Self.randomVersion(&g), Self.randomVersion(&g))) }
        for (a, b, _) in Self.specExamples { pairs.append((a, b)) }
        pairs += [("0", "~"), ("", "~"), ("~", ""), ("", "_")]
        // One shell runs them all; exit status 0 is "==", 11 ">", 12 "<".
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let script = pairs.map { "systemd-analyze compare-versions -- \(quote($0.0)) \(quote($0.1)) >/dev/null 2>&1; echo $?" }
            .joined(separator: "\n")
        let r = try sh(script)
        let codes = r.stdout.split(separator: "\n").map { Int($0) ?? -99 }
        try #require(codes.count == pairs.count)
        var compared = 0
        for ((a, b), code) in zip(pairs, codes) {
            let want = code == 0 ? 0 : code == 11 ? 1 : code == 12 ? -1 : 99
            #expect(compareVersions(a, b) == want, "'\(a)' vs '\(b)': systemd-analyze exit \(code)")
            compared += 1
        }
        print("compareVersions oracle: \(compared) pairs compared with systemd-analyze")
    }
}
