import Foundation
import Testing
import TestSupport
import BootDeploy

/// Whether the image at `path` is a complete UKI: a PE image with a kernel, and (when given) the
/// entry's command line in `.cmdline`.
func ukiComplete(_ path: String, commandLine: String?) -> Bool {
    guard let data = FileManager.default.contents(atPath: path),
          let pe = try? PEImage(Array(data), file: path), pe.section(".linux") != nil else { return false }
    guard let commandLine else { return true }
    return pe.contents(".cmdline").map { String(decoding: $0, as: UTF8.self) } == commandLine
}

/// The crash sweep of CrashTests over UKI deployments: stopped at every mutating call, /boot still
/// boots a complete image, and cleanup leaves no `.tmp` image behind.
@Suite("Crash consistency of UKI deployments", .serialized, .enabled(if: TestEnv.isRoot && Bootctl.available))
struct UKICrashTests {
    static func available() -> Bool {
        FileManager.default.fileExists(atPath: "/usr/lib/systemd/boot/efi/linuxx64.efi.stub") && TestEnv.have("objcopy")
    }

    @Test("deploy --uki on vfat's exchange strategy, stopped at every mutating call")
    func deployUKI() throws {
        if !Self.available() { try TestEnv.skip("deployUKI", because: "objcopy or systemd's stub missing") }
        let o = try CrashTests().sweep("deploy --uki/exchange", strategy: "exchange", prepare: { m in
            try m.initOS()
            try m.deploy(m.tree("a", kernel: "k1"), ["--uki"])
        }) { m in ["deploy", "--stateroot", "os", "--tree", m.tree("c", kernel: "k3"), "--karg", "root=LABEL=testroot", "--uki"] }
        #expect(o.runs == 2 * o.points)
        print("crash points: deploy --uki \(o.points) calls, \(o.runs) stops")
    }

    @Test("kargs of a UKI deployment, stopped at every mutating call; cleanup leaves no .tmp image")
    func kargsUKI() throws {
        if !Self.available() { try TestEnv.skip("kargsUKI", because: "objcopy or systemd's stub missing") }
        let o = try CrashTests().sweep("kargs --uki", strategy: "exchange", prepare: { m in
            try m.initOS()
            try m.deploy(m.tree("a", kernel: "k1"), ["--uki"])
            try m.deploy(m.tree("b", kernel: "k2"), ["--uki"])
        }) { _ in ["kargs", "--append", "console=ttyS0"] }
        #expect(o.runs == 2 * o.points)
        print("crash points: kargs (UKI) \(o.points) calls, \(o.runs) stops")
    }
}

/// `.tmp` files under `/boot/bootdeploy/*/uki/` (an interrupted UKI build or signing).
func ukiTemporaries(_ m: Machine) -> [String] {
    let base = m.boot + "/bootdeploy"
    var out: [String] = []
    for sr in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
        for n in (try? FileManager.default.contentsOfDirectory(atPath: "\(base)/\(sr)/uki")) ?? [] where n.hasSuffix(".tmp") {
            out.append("\(sr)/uki/\(n)")
        }
    }
    return out
}
