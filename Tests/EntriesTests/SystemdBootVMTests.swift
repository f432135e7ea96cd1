import Foundation
import Testing
import TestSupport
@testable import BootDeploy

/// Boots the real systemd-boot 252 in QEMU (OVMF, TCG) on a FAT ESP holding a random entry set,
/// with a busybox initramfs that prints the EFI variables `LoaderEntries` (systemd-boot's menu, in
/// order, as it writes them before booting) and `LoaderEntrySelected` (what it booted), and checks
/// both against `BootOrder.systemdBoot`.
@Suite("systemd-boot oracle (VM)", .serialized)
struct SystemdBootVMTests {
    static let buildScript = #"""
    set -eu
    W=$1; E=$2; KERNEL=$3; EFIVARFS=$4
    mkdir -p $W/initrd/bin $W/initrd/proc $W/initrd/sys $W/initrd/dev
    cp /usr/bin/busybox $W/initrd/bin/busybox
    cp "$EFIVARFS" $W/initrd/efivarfs.ko
    cat > $W/initrd/init <<'INIT'
    #!/bin/busybox sh
    /bin/busybox mount -t proc proc /proc
    /bin/busybox mount -t sysfs sysfs /sys
    /bin/busybox insmod /efivarfs.ko
    /bin/busybox mount -t efivarfs efivarfs /sys/firmware/efi/efivars
    for v in LoaderEntries LoaderEntrySelected; do
      f=$(/bin/busybox ls /sys/firmware/efi/efivars/ | /bin/busybox grep "^$v-4a67b082")
      echo "@@@ $v $(/bin/busybox od -An -tx1 -v /sys/firmware/efi/efivars/$f | /bin/busybox tr -d ' \n')"
    done
    echo "@@@ END"
    /bin/busybox poweroff -f
    INIT
    chmod +x $W/initrd/init
    (cd $W/initrd && find . | cpio -o -H newc --quiet | gzip -1) > $W/initrd.img
    truncate -s 80M $W/disk.img
    printf 'label: gpt\nstart=2048, size=147456, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q $W/disk.img
    mkfs.vfat --offset 2048 $W/disk.img 73728 >/dev/null
    export MTOOLS_SKIP_CHECK=1
    I="$W/disk.img@@1048576"
    mmd -i $I ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
    mcopy -i $I /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
    mcopy -i $I "$KERNEL" ::/vmlinuz
    mcopy -i $I $W/initrd.img ::/initrd.img
    printf 'timeout 0\n' > $W/loader.conf
    mcopy -i $I $W/loader.conf ::/loader/loader.conf
    while read -r f; do mcopy -i $I "$E/$f" "::/loader/entries/$f"; done < $W/order
    cp /usr/share/OVMF/OVMF_VARS_4M.fd $W/vars.fd
    """#

    /// What is needed, or why the test cannot run here.
    static func prerequisites() throws -> (kernel: String, efivarfs: String)? {
        let fm = FileManager.default
        for tool in ["qemu-system-x86_64", "mcopy", "mmd", "sfdisk", "mkfs.vfat", "cpio", "busybox"] where !TestEnv.have(tool) {
            try TestEnv.skip("systemd-boot VM oracle", because: "\(tool) is not installed")
        }
        for file in ["/usr/lib/systemd/boot/efi/systemd-bootx64.efi", "/usr/share/OVMF/OVMF_CODE_4M.fd",
                     "/usr/share/OVMF/OVMF_VARS_4M.fd"] where !fm.fileExists(atPath: file) {
            try TestEnv.skip("systemd-boot VM oracle", because: "\(file) is missing")
        }
        let kernels = ((try? fm.contentsOfDirectory(atPath: "/boot")) ?? []).filter { $0.hasPrefix("vmlinuz-") }.sorted()
        for k in kernels.reversed() {
            let version = String(k.dropFirst("vmlinuz-".count))
            let module = "/usr/lib/modules/\(version)/kernel/fs/efivarfs/efivarfs.ko"
            if fm.isReadableFile(atPath: "/boot/" + k), fm.fileExists(atPath: module) { return ("/boot/" + k, module) }
        }
        try TestEnv.skip("systemd-boot VM oracle", because: "no /boot/vmlinuz-* with an uncompressed efivarfs.ko")
    }

    static func randomSet(_ g: inout SeededGenerator) -> [(String, String)] {
        let versions = ["1", "2", "10", "1.1", "11", "1.1~rc1", "1.1^1", "6.1.0-13", "6.1.0-9", "a", "001", "\"3\""]
        let sortKeys = ["bootdeploy", "debian", "Debian", "\"debian\"", "fedora"]
        let machineIDs = ["0123456789abcdef", "fedcba9876543210", "\"0123456789abcdef\""]
        var out: [(String, String)] = []
        var used = Set<String>()   // FAT names are case-insensitive
        while out.count < 32 {
            var base = g.chance(0.5) ? g.pick(["bd-os-001", "bd-os-002", "bd-os-010", "debian-6.1.0", "Fedora", "a", "B", "zed", "x_y"])
                : String((0..<g.int(1...6)).map { _ in g.pick(Array("abcXYZ019-_.")) })
            if g.chance(0.05) { base = "auto-" + base }
            let counter = g.pick(["", "", "", "+3", "+0", "+0-2", "+2-1", "+1-9", "+x", "+03-001"])
            let name = base + counter + (g.chance(0.9) ? ".conf" : ".CONF")
            guard !name.hasPrefix("."), used.insert(name.lowercased()).inserted else { continue }
            var lines: [String] = []
            if g.chance(0.8) { lines.append("title " + g.pick(["Demo", "Other OS", "T"])) }
            if g.chance(0.7) { lines.append("version " + g.pick(versions)) }
            if g.chance(0.6) { lines.append("sort-key " + g.pick(sortKeys)) }
            if g.chance(0.4) { lines.append("machine-id " + g.pick(machineIDs)) }
            if g.chance(0.93) { lines.append("linux " + (g.chance(0.95) ? "/vmlinuz" : "/missing-kernel")) }
            if g.chance(0.08) { lines.append("architecture " + g.pick(["x64", "aa64"])) }
            lines.append("initrd /initrd.img")
            lines.append("options console=ttyS0 quiet panic=-1")
            if g.chance(0.3) { lines.append("options bootdeploy=os/\(g.int(0...9))") }
            lines.shuffle(using: &g)
            out.append((name, lines.joined(separator: "\n") + "\n"))
        }
        return out
    }

    /// Nothing but exhausted entries in the menu: systemd-boot still boots the first, and still
    /// renames it. Beside them, entries it must hide, each of which would otherwise sort first.
    static func exhaustedSet() -> [(String, String)] {
        let boot = "linux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0 quiet panic=-1\n"
        return ["a+0-3.conf", "b+0-1.conf", "c+0.conf", "D+0-7.CONF"].map { ($0, "title \($0)\n" + boot) } + [
            ("auto-zz+3.conf", "title reserved name\n" + boot),
            ("zz-arm.conf", "title other architecture\narchitecture aa64\n" + boot),
            ("zz-nokernel.conf", "title no kernel\noptions console=ttyS0\n"),
        ]
    }

    /// A counter one above systemd's limit is no counter: the entry boots and is not renamed.
    static func overflowSet() -> [(String, String)] {
        let boot = "linux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0 quiet panic=-1\n"
        return [("e+2147483648.conf", "sort-key a\n" + boot), ("f+2147483647.conf", "sort-key b\n" + boot)]
    }

    /// The UTF-16LE, NUL-separated strings of an efivarfs dump (after its 4 attribute bytes).
    static func decode(_ hex: Substring) -> [String] {
        var bytes: [UInt8] = []
        var it = hex.makeIterator()
        while let hi = it.next(), let lo = it.next() { bytes.append(UInt8(String([hi, lo]), radix: 16) ?? 0) }
        guard bytes.count >= 4 else { return [] }
        var units: [UInt16] = []
        var i = 4
        while i + 1 < bytes.count { units.append(UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8); i += 2 }
        return units.split(separator: 0, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF16.self) }
    }

    @Test("systemd-boot 252 shows and boots entries in the order BootOrder.systemdBoot predicts", arguments: [1, 3, 4] as [UInt64])
    func menuOrder(seed: UInt64) throws {
        guard let (kernel, efivarfs) = try Self.prerequisites() else { return }
        let tmp = TempDir("bd-sdboot")
        let ents = tmp.sub("entries")
        try FileManager.default.createDirectory(atPath: ents, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 1000 + seed)
        let set = seed == 3 ? Self.exhaustedSet() : seed == 4 ? Self.overflowSet() : Self.randomSet(&g)
        for (name, text) in set { try Data(text.utf8).write(to: URL(fileURLWithPath: ents + "/" + name)) }
        // Written to the FAT directory in this order; ties in systemd-boot's order keep it.
        let writeOrder = set.map(\.0)
        try (writeOrder.joined(separator: "\n") + "\n").write(toFile: tmp.sub("order"), atomically: true, encoding: .utf8)

        let build = try run("/bin/bash", ["-c", Self.buildScript, "build", tmp.path, ents, kernel, efivarfs])
        try #require(build.ok, "image build failed: \(build.stderr)")
        let started = Date()
        let vm = try run("/usr/bin/timeout", ["120", "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max",
                                              "-machine", "q35", "-m", "512", "-smp", "1", "-nographic",
                                              "-serial", "mon:stdio", "-no-reboot", "-nic", "none",
                                              "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                                              "-drive", "if=pflash,format=raw,unit=1,file=\(tmp.sub("vars.fd"))",
                                              "-drive", "file=\(tmp.sub("disk.img")),format=raw,if=virtio"])
        let seconds = Date().timeIntervalSince(started)
        let lines = vm.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let menuLine = lines.last(where: { $0.hasPrefix("@@@ LoaderEntries ") }),
              let selectedLine = lines.last(where: { $0.hasPrefix("@@@ LoaderEntrySelected ") }) else {
            Issue.record("seed \(seed): no LoaderEntries from the guest (exit \(vm.status)): \(vm.stdout.suffix(2000))")
            return
        }
        // systemd-boot appends its own auto-* entries (reboot into firmware...) after the sorted ones.
        let ours = Set(set.map { $0.0.lowercased() })
        let menu = Self.decode(menuLine.split(separator: " ")[2]).filter { !$0.hasPrefix("auto-") || ours.contains($0) }
        let selected = Self.decode(selectedLine.split(separator: " ")[2]).first

        // Our prediction, from the same files read back from disk in the order they were written.
        let loaded = try EntryDirectory.load(Directory.open(tmp.path), path: "entries")
        #expect(loaded.errors.isEmpty)
        let byName = Dictionary(uniqueKeysWithValues: loaded.entries.map { ($0.name.fileName, $0) })
        let inWriteOrder = writeOrder.compactMap { byName[$0] }
        // The one check systemd-boot makes that needs the partition: the kernel file must exist.
        let present = inWriteOrder.filter { $0.entry.linux.map(BootEntry.systemdBootValue) != "/missing-kernel" }
        let predicted = BootOrder.systemdBoot(present)
        let predictedIDs = predicted.map { String(decoding: $0.name.fileName.utf8.map(asciiLower), as: UTF8.self) }

        let detail = predicted.map { e in
            "\(e.name.fileName) counter=\(e.name.counter.map { "\($0.left)-\($0.done)" } ?? "-") sort-key=\(e.entry.sortKey ?? "-") "
                + "machine-id=\(e.entry.machineID ?? "-") version=\(e.entry.version ?? "-")"
        }.joined(separator: "\n  ")
        #expect(menu == predictedIDs, "seed \(seed):\n systemd-boot \(menu)\n predicted    \(predictedIDs)\n  \(detail)")
        #expect(selected == predictedIDs.first, "seed \(seed): booted \(selected ?? "nothing")")
        // systemd-boot renamed the booted file before starting the kernel: the directory must now
        // hold exactly what afterBootAttempt() predicts.
        if let booted = predicted.first {
            let listing = try run("/usr/bin/mdir", ["-b", "-i", tmp.sub("disk.img") + "@@1048576", "::/loader/entries"],
                                  env: ["MTOOLS_SKIP_CHECK": "1"])
            let after = Set(listing.stdout.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: "/").last.map(String.init) })
            var want = Set(writeOrder)
            want.remove(booted.name.fileName)
            want.insert(booted.name.afterBootAttempt().fileName)
            #expect(after == want, "seed \(seed): after booting \(booted.name.fileName): \(after.sorted()) vs \(want.sorted())")
        }
        print("systemd-boot VM oracle seed \(seed): \(set.count) entry files, \(menu.count) in the menu, order and default "
              + "agree; the boot took " + String(format: "%.1f s", seconds))
    }
}
