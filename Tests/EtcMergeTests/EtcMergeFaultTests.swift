import BootDeploy
import Foundation
import Glibc
import TestSupport
import Testing

/// Crash and I/O-error injection at every mutating call of a merge.
///
/// `FaultInjection` reads its configuration from the environment once per process, so each faulty
/// merge runs in a child: this test binary itself, restarted with a filter that selects only
/// `childMerge`, which does one merge on the paths it is given and exits with its outcome.
@Suite("etc merge: faults", .serialized)
struct EtcMergeFaultTests {
    static let childVariable = "ETCMERGE_CHILD_PATHS"

    /// A fixture with every kind of entry the merge writes: files (changed, vendor-updated,
    /// added), a directory with a file, symlinks, a mode change and an extended attribute.
    static func fixture() throws -> EtcFixture {
        try EtcFixture(vendor: "echo a > $OV/a; echo b > $OV/b; mkdir -p $OV/d/e; echo c > $OV/d/e/c; ln -s a $OV/l",
                       local: "echo mine > $OL/a; chmod 600 $OL/b; ln -s /srv $OL/site; mkdir $OL/m; echo m > $OL/m/x; setx $OL/m/x user.k v",
                       update: "echo a2 > $NV/a; echo n > $NV/n; echo c2 > $NV/d/e/c")
    }

    /// Runs one merge of `fixture` in a child process with the given extra environment.
    static func runChild(_ f: EtcFixture, env: [String: String]) throws -> RunResult {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var environment = env
        environment[childVariable] = [f.oldVendor, f.oldLive, f.newVendor, f.target].joined(separator: "\n")
        return try run(exe, ["--testing-library", "swift-testing", "--filter", "EtcMergeFaultTests/childMerge"], env: environment)
    }

    /// The whole result, with types, modes and contents, for comparing complete trees.
    static func snapshot(_ f: EtcFixture) throws -> String {
        try sh("cd '\(f.target)' && find . -printf '%y %m %U:%G %l %p\\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r md5sum").stdout
    }

    /// In a normal run this checks that the child entry point refuses to run without its paths;
    /// started by the tests below it performs one merge and reports the outcome in its exit code.
    @Test("child entry point: one merge on the paths given in the environment")
    func childMerge() throws {
        guard let spec = ProcessInfo.processInfo.environment[Self.childVariable] else {
            #expect(throws: EtcMergeError.badPath("")) {
                try EtcMerge.merge(oldVendor: "", oldLive: "", newVendor: "", into: "")
            }
            return
        }
        let p = spec.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        do {
            _ = try EtcMerge.merge(oldVendor: p[0], oldLive: p[1], newVendor: p[2], into: p[3])
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("merge failed: \(error)\n".utf8))
            exit(3)
        }
    }

    /// Counts the mutating calls of a clean merge (from the fault trace) and checks that the child
    /// machinery works at all; returns the count and the expected complete result.
    static func reference(_ f: EtcFixture, _ test: String) throws -> (calls: Int, result: String)? {
        let trace = f.tmp.sub("trace")
        let r = try runChild(f, env: ["BOOTDEPLOY_FAULT_TRACE": trace])
        guard r.ok else {
            Issue.record("clean child merge failed: \(r.status) \(r.stderr)")
            return nil
        }
        let calls = (try String(contentsOfFile: trace, encoding: .utf8)).split(separator: "\n").count
        let result = try snapshot(f)
        // The in-process merge of the same trees must give the same tree: the child is faithful.
        try FileManager.default.removeItem(atPath: f.target)
        _ = try f.merge()
        #expect(try snapshot(f) == result)
        try FileManager.default.removeItem(atPath: f.target)
        return (calls, result)
    }

    @Test("an I/O error at any mutating call fails the merge and leaves neither etc nor etc.merging")
    func errorAtEveryStep() throws {
        let f = try Self.fixture()
        guard let ref = try Self.reference(f, "errorAtEveryStep") else { return }
        #expect(ref.calls > 10, "the trace should list the merge's mutating calls")
        #expect(try String(contentsOfFile: f.tmp.sub("trace"), encoding: .utf8).contains(" setxattr "))
        for n in 1...ref.calls {
            let r = try Self.runChild(f, env: ["BOOTDEPLOY_FAULT_AT": "\(n)", "BOOTDEPLOY_FAULT_MODE": "error"])
            #expect(r.status == 3, "fault at \(n): the merge must fail, got \(r.status)")
            #expect(r.stderr.contains("Input/output error"), "fault at \(n): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: f.target), "fault at \(n) left \(f.target)")
            #expect(!FileManager.default.fileExists(atPath: f.target + ".merging"), "fault at \(n) left the staging directory")
        }
    }

    @Test("a crash at any mutating call leaves either no etc or the complete one, and the next merge succeeds")
    func crashAtEveryStep() throws {
        let f = try Self.fixture()
        guard let ref = try Self.reference(f, "crashAtEveryStep") else { return }
        var complete = 0
        for n in 1...ref.calls {
            let r = try Self.runChild(f, env: ["BOOTDEPLOY_FAULT_AT": "\(n)", "BOOTDEPLOY_FAULT_MODE": "kill"])
            #expect(r.status == 128 + SIGKILL, "fault at \(n): the child should have been killed, got \(r.status)")
            if FileManager.default.fileExists(atPath: f.target) {
                #expect(try Self.snapshot(f) == ref.result, "crash at \(n) left a partial etc")
                complete += 1
            } else {
                // Recovery: the next merge clears the leftover staging directory and completes.
                _ = try f.merge()
                #expect(try Self.snapshot(f) == ref.result, "merge after a crash at \(n)")
                #expect(!FileManager.default.fileExists(atPath: f.target + ".merging"))
            }
            try FileManager.default.removeItem(atPath: f.target)
        }
        // Only the crash at the last call (the flush of the parent after the rename) finds etc in place.
        #expect(complete == 1)
    }
}
