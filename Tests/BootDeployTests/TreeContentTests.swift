import Foundation
import Testing
import TestSupport

/// What deploy reads from a tree: only the tree (never the host through a symlink), a kernel that
/// is a complete regular file, and os-release text that is safe to show.
@Suite("Tree content: kernels, symlinks, os-release")
struct TreeContentTests {
    /// A machine with one deployment, and a "host" kernel outside every tree.
    func machine() throws -> (Machine, String) {
        let m = Machine(label: "bdtc")
        try m.initOS()
        try m.deploy(m.tree("a", kernel: "k1"))
        m.tmp.write("host/usr/lib/modules/6.1.0-host/vmlinuz", "HOST KERNEL")
        m.tmp.write("host/usr/lib/modules/6.1.0-host/initramfs.img", "HOST INITRD")
        return (m, m.tmp.sub("host"))
    }

    /// Whether any file on /boot holds the host's kernel.
    func bootHasHostKernel(_ m: Machine) throws -> Bool {
        try sh("grep -rl 'HOST KERNEL' '\(m.boot)'").ok
    }

    @Test("a usr or modules symlink leading out of the tree never makes deploy read the host's kernel")
    func symlinkOutOfTree() throws {
        let (m, host) = try machine()
        let variants: [(String, String)] = [
            ("usr", host + "/usr"),                                     // absolute, to the host
            ("usr", "../../host/usr"),                                  // relative, climbing out
            ("usr/lib/modules", host + "/usr/lib/modules"),
            ("usr/lib/modules/6.1.0-host", "../../../../../host/usr/lib/modules/6.1.0-host"),
        ]
        for (i, (link, target)) in variants.enumerated() {
            let t = m.tmp.sub("trees/out\(i)")
            m.tmp.write("trees/out\(i)/etc/hostname", "x\n")
            try sh("mkdir -p '\(t)/\((link as NSString).deletingLastPathComponent)' && ln -s '\(target)' '\(t)/\(link)'")
            let before = try treeDigest(m.boot)
            let r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x"])
            #expect(r.status == 1, "\(link) -> \(target): deploy must fail, got \(r.status)")
            #expect(try !bootHasHostKernel(m), "\(link) -> \(target): the host's kernel was copied to /boot")
            #expect(try treeDigest(m.boot) == before, "\(link) -> \(target): /boot changed")
        }
    }

    @Test("an absolute symlink inside the tree resolves inside the tree, as after boot")
    func absoluteSymlinkWithinTree() throws {
        let (m, _) = try machine()
        let t = m.tree("inside", kernel: "TREE KERNEL")
        try sh("cd '\(t)/usr/lib' && mkdir -p kernels && mv modules/6.1.0-test kernels/ && ln -s /usr/lib/kernels/6.1.0-test modules/6.1.0-test")
        // The host has the same path with other content: it must not be what is read.
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x"])
        #expect(r.ok, "\(r.stderr)")
        #expect(try sh("grep -rl 'TREE KERNEL' '\(m.boot)/bootdeploy'").ok)
    }

    @Test("a 0-byte or truncated kernel is refused; a complete one is taken")
    func emptyOrTruncatedKernel() throws {
        let (m, _) = try machine()
        let empty = m.tree("empty", kernel: "")
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", empty, "--karg", "root=x"])
        #expect(r.status == 1 && r.stderr.contains("vmlinuz") && r.stderr.contains("empty"), "\(r.status) \(r.stderr)")
        guard let real = try? FileManager.default.contentsOfDirectory(atPath: "/boot").first(where: { $0.hasPrefix("vmlinuz-") }),
              FileManager.default.isReadableFile(atPath: "/boot/" + real) else {
            try TestEnv.skip("truncated bzImage", because: "no readable /boot/vmlinuz-* to cut short")
        }
        let whole = m.tree("whole", kernel: "x")
        try sh("cp '/boot/\(real)' '\(whole)/usr/lib/modules/6.1.0-test/vmlinuz'")
        let cut = m.tree("cut", kernel: "x")
        try sh("head -c 3000000 '/boot/\(real)' > '\(cut)/usr/lib/modules/6.1.0-test/vmlinuz'")
        let c = try m.bd("deploy", ["--stateroot", "os", "--tree", cut, "--karg", "root=x"])
        #expect(c.status == 1 && c.stderr.contains("truncated"), "\(c.status) \(c.stderr)")
        let w = try m.bd("deploy", ["--stateroot", "os", "--tree", whole, "--karg", "root=x"])
        #expect(w.ok && !w.stderr.contains("warning"), "\(w.stderr)")
    }

    @Test("a symlinked, directory or FIFO vmlinuz is reported as what it is, not as 'no kernel'")
    func vmlinuzOfTheWrongType() throws {
        let (m, _) = try machine()
        let cases = [("symlink", "ln -s /etc/hostname"), ("directory", "mkdir"), ("FIFO", "mkfifo")]
        for (what, make) in cases {
            let t = m.tree("odd-\(what)", kernel: "x")
            try sh("rm '\(t)/usr/lib/modules/6.1.0-test/vmlinuz' && \(make) '\(t)/usr/lib/modules/6.1.0-test/vmlinuz'")
            let r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x"])
            #expect(r.status == 1, "\(what): \(r.status)")
            #expect(r.stderr.contains(what) && r.stderr.contains("vmlinuz") && !r.stderr.contains("no kernel"), "\(what): \(r.stderr)")
        }
    }

    @Test("os-release values with control characters (DEL, ESC) never reach the entry; deploy falls back and warns")
    func osReleaseControlCharacters() throws {
        let (m, _) = try machine()
        let t = m.tree("osr", kernel: "k9")
        m.tmp.write("trees/osr/usr/lib/os-release", "PRETTY_NAME=\"Evil \u{1b}[2J OS\"\nVERSION=\"7 (good)\"\nVERSION_ID=7\u{7f}\n")
        let r = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x"])
        #expect(r.ok, "\(r.stderr)")
        #expect(r.stderr.contains("VERSION_ID") && r.stderr.contains("PRETTY_NAME"), "no warning: \(r.stderr)")
        let entries = try sh("cat '\(m.entriesDir)'/*.conf").stdout
        #expect(!entries.unicodeScalars.contains { $0.value == 0x7f || $0.value == 0x1b }, "a control character reached an entry")
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let d = try m.deployments().first { "\($0["stateroot"]!)/\($0["id"]!)" == id }
        #expect(d?["version"] as? String == "7 (good)", "VERSION is the fallback for a bad VERSION_ID")
        #expect(d?["title"] as? String == "os 7 (good)")
        for bad in ["1\u{7f}", "1\u{9b}2J", ""] {
            let v = try m.bd("deploy", ["--stateroot", "os", "--tree", t, "--karg", "root=x", "--version", bad])
            #expect(v.status == 1, "--version \(bad.debugDescription) must be refused")
        }
    }
}
