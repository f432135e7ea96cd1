import BootDeployEarlyBoot
import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// Builds real UKIs with objcopy on systemd's stub and reads them back with our PE reader and with
/// `objdump -h`.
@Suite("UKI build", .serialized)
struct UKIBuildTests {
    static let stub = UKIBuilder.defaultStub

    static func requireTools(_ test: String) throws {
        if !FileManager.default.fileExists(atPath: stub) { try TestEnv.skip(test, because: "\(stub) missing (apt-get install systemd-boot-efi)") }
        if !TestEnv.have("objcopy") { try TestEnv.skip(test, because: "objcopy missing (binutils)") }
    }

    /// Writes a fake kernel and initramfs of distinct random bytes; returns their paths.
    static func payload(_ t: TempDir, kernelSize: Int = 70_001, initrdSize: Int = 33_333) -> (String, String) {
        var g = SystemRandomNumberGenerator()
        let k = Data((0..<kernelSize).map { _ in UInt8.random(in: 0...255, using: &g) })
        let i = Data((0..<initrdSize).map { _ in UInt8.random(in: 0...255, using: &g) })
        _ = FileManager.default.createFile(atPath: t.sub("vmlinuz"), contents: k)
        _ = FileManager.default.createFile(atPath: t.sub("initrd"), contents: i)
        return (t.sub("vmlinuz"), t.sub("initrd"))
    }

    static func build(_ t: TempDir, rank: Int?, output: String, cmdline: String = "root=UUID=1 rw bootdeploy=os/abc.0") throws -> UKIContents {
        let (k, i) = payload(t)
        let c = UKIContents(osRelease: UKIOSRelease.render(title: "Demo OS", deployment: DeploymentName(stateroot: "os", id: "abc.\(rank ?? 0)"), rank: rank),
                            commandLine: cmdline, kernelRelease: "6.1.0-test", kernelPath: k, initrdPath: i)
        try UKIBuilder.build(c, stub: stub, scratch: t.path, output: output)
        return c
    }

    @Test("a built UKI has every section, after the stub's, aligned, not overlapping, with our bytes")
    func sectionsReadBack() throws {
        try Self.requireTools("sectionsReadBack")
        let t = TempDir("uki")
        let c = try Self.build(t, rank: 3, output: t.sub("out.efi"))
        let stubPE = try PEImage(Array(try Data(contentsOf: URL(fileURLWithPath: Self.stub))), file: Self.stub)
        let pe = try PEImage(Array(try Data(contentsOf: URL(fileURLWithPath: t.sub("out.efi")))), file: "out.efi")
        #expect(pe.sectionAlignment == stubPE.sectionAlignment)
        var previousEnd = stubPE.endOfSections
        for name in UKILayout.order {
            let s = try #require(pe.section(name), "\(name) missing")
            #expect(s.virtualAddress % pe.sectionAlignment == 0, "\(name) at 0x\(String(s.virtualAddress, radix: 16)) not aligned")
            #expect(s.virtualAddress >= previousEnd, "\(name) overlaps what comes before it")
            previousEnd = s.virtualAddress + s.virtualSize
        }
        for old in stubPE.sections { #expect(pe.section(old.name)?.virtualAddress == old.virtualAddress, "stub section \(old.name) moved") }
        #expect(pe.contents(".osrel") == Array(c.osRelease.utf8))
        #expect(pe.contents(".cmdline") == Array(c.commandLine.utf8))
        #expect(pe.contents(".uname") == Array("6.1.0-test".utf8))
        #expect(pe.contents(".linux") == Array(try Data(contentsOf: URL(fileURLWithPath: c.kernelPath))))
        #expect(pe.contents(".initrd") == Array(try Data(contentsOf: URL(fileURLWithPath: c.initrdPath!))))
        #expect(pe.sizeOfImage >= previousEnd, "SizeOfImage 0x\(String(pe.sizeOfImage, radix: 16)) does not cover the sections")
        // No section files left in the scratch directory.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: t.path)) == ["vmlinuz", "initrd", "out.efi"])

        // objdump's reading agrees with ours.
        let dump = try run("/usr/bin/objdump", ["-h", t.sub("out.efi")])
        #expect(dump.ok, "objdump: \(dump.stderr)")
        for name in UKILayout.order {
            let s = pe.section(name)!
            let line = dump.stdout.split(separator: "\n").first { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) == name }
            let fields = try #require(line, "objdump -h does not list \(name)").split(separator: " ")
            #expect(UInt64(fields[2], radix: 16) == s.virtualSize, "\(name) size: objdump \(fields[2])")
            #expect(UInt64(fields[3], radix: 16) == s.virtualAddress + pe.imageBase, "\(name) VMA: objdump \(fields[3])")
        }
    }

    @Test("layout refuses a stub that already is a UKI, and a PE reader refuses what is not PE32+")
    func refusals() throws {
        try Self.requireTools("refusals")
        let t = TempDir("uki")
        _ = try Self.build(t, rank: 1, output: t.sub("a.efi"))
        let uki = try PEImage(Array(try Data(contentsOf: URL(fileURLWithPath: t.sub("a.efi")))), file: "a.efi")
        #expect(throws: BootDeployError.self) { try UKILayout.plan(stub: uki, sizes: [".linux": 10]) }
        #expect(throws: BootDeployError.self) { try PEImage(Array("#!/bin/sh\n".utf8) + [UInt8](repeating: 0, count: 100), file: "x") }
        let elf = Array(try Data(contentsOf: URL(fileURLWithPath: "/usr/lib/systemd/boot/efi/linuxx64.elf.stub")))
        #expect(throws: BootDeployError.self) { try PEImage(elf, file: "elf") }
        let k = UKIContents(osRelease: "", commandLine: "", kernelRelease: "", kernelPath: t.sub("missing"), initrdPath: nil)
        #expect(throws: BootDeployError.self) { try UKIBuilder.build(k, stub: Self.stub, scratch: t.path, output: t.sub("b.efi")) }
        #expect(!FileManager.default.fileExists(atPath: t.sub("b.efi")))
    }

    @Test("Type #2 names carry counters like Type #1 names")
    func names() throws {
        let a = try #require(UKIFileName("bd-os-003+3.efi"))
        #expect(a.id == "bd-os-003" && a.counter == BootCounter(left: 3, done: 0))
        #expect(a.afterBootAttempt().fileName == "bd-os-003+2-1.efi")
        #expect(a.blessed().fileName == "bd-os-003.efi")
        #expect(a.markedBad().fileName == "bd-os-003+0.efi")
        #expect(a.afterBootAttempt().markedBad().fileName == "bd-os-003+0-1.efi")
        #expect(UKIFileName("X+1.EFI")?.afterBootAttempt().fileName == "X+0-1.efi")
        #expect(UKIFileName("bd-os-003.EFI")?.fileName == "bd-os-003.EFI")
        #expect(UKIFileName("bd-os-003.conf") == nil)
        #expect(UKIFileName("a/b.efi") == nil)
        #expect(UKIFileName(id: "bd-os-001", counter: BootCounter(left: 2, done: 1)).fileName == "bd-os-001+2-1.efi")
        #expect(UKIOSRelease.quote("a \"b\" $c") == "\"a \\\"b\\\" \\$c\"")
    }
}
