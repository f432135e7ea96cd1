import Foundation
import TestSupport
@testable import BootDeploy

/// A small seeded generator (SplitMix64) so that every randomized test can be replayed from its
/// seed, which failing assertions print.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
}

/// Runs `bootctl list --json=short` on each of `dirs` (each one bind-mounted onto itself in one
/// private mount namespace, the invocation from MACHINE-FACTS.md) and returns, per directory,
/// the JSON objects bootctl printed, in its order.
func bootctlList(_ dirs: [String]) throws -> [String: [[String: Any]]] {
    var script = "set -u\n"
    for d in dirs {
        script += """
        mount --bind '\(d)' '\(d)' || { echo "@@@ MOUNTFAIL \(d)"; continue; }
        echo "@@@ DIR \(d)"
        SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 bootctl --esp-path='\(d)' --boot-path='\(d)' --no-variables --no-pager list --json=short 2>'\(d).stderr'
        echo "@@@ RC $?"

        """
    }
    let r = try inMountNamespaceScript(script)
    var out: [String: [[String: Any]]] = [:]
    var current: String?
    for line in r.split(separator: "\n", omittingEmptySubsequences: true) {
        if line.hasPrefix("@@@ DIR ") {
            current = String(line.dropFirst(8))
            out[current!] = []
        } else if line.hasPrefix("@@@ RC ") {
            if line != "@@@ RC 0", let c = current { out[c] = nil }   // bootctl failed: no result
            current = nil
        } else if line.hasPrefix("{"), let c = current {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            out[c]!.append(obj ?? [:])
        }
    }
    return out
}

private func inMountNamespaceScript(_ script: String) throws -> String {
    let r = try run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/bash", "-c", script])
    return r.stdout
}

/// Whether the bootctl oracle can run here; prints the SKIP line when not.
func bootctlAvailable(_ test: String) throws -> Bool {
    if !TestEnv.isRoot { try TestEnv.skip(test, because: "needs root for a private mount namespace") }
    if !TestEnv.have("bootctl") { try TestEnv.skip(test, because: "bootctl (package systemd-boot) is not installed") }
    if !FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") { try TestEnv.skip(test, because: "no unshare") }
    return true
}
