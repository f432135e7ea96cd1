import BootDeployEarlyBoot
import BootDeploySystem
import Foundation
import TestSupport

/// A physical root for prepare-root: a directory tree turned into an ext4 image, which a test
/// loop-mounts in a private mount namespace at a fake /sysroot.
final class PhysicalRoot {
    let tmp: TempDir
    /// The tree the image is made from.
    var tree: String { tmp.sub("physical") }
    var image: String { tmp.sub("root.img") }

    init(_ label: String = "bd-eb") {
        tmp = TempDir(label)
        tmp.mkdir("physical")
    }

    /// Whether the fixtures are made by the project's own `boot-deploy init/deploy` (the normal
    /// case) or, where it is not built, written by hand per docs/ON-DISK.md.
    static let bootDeploy: String? = {
        let tool = TestEnv.tool("boot-deploy")
        // BOOTDEPLOY_TEST_HANDWRITTEN=1 exercises the fallback on purpose.
        guard ProcessInfo.processInfo.environment["BOOTDEPLOY_TEST_HANDWRITTEN"] == nil,
              FileManager.default.isExecutableFile(atPath: tool),
              let help = try? run(tool, ["deploy", "--help"]), help.ok, help.stdout.contains("--software-counter") else {
            print("NOTE: boot-deploy deploy is not available: EarlyBootTests write deployment records by hand")
            return nil
        }
        return tool
    }()

    private var initialised: Set<String> = []
    /// Damage to do once every deployment is made: boot-deploy rightly refuses to work on a sysroot
    /// whose deployments are already broken.
    private var pending: [() throws -> Void] = []

    /// Runs `change` on the tree just before the image is made.
    func later(_ change: @escaping () throws -> Void) { pending.append(change) }

    /// Adds a deployment and returns its id. Made by `boot-deploy deploy` from a small OS tree when
    /// the tool is built (then `id` is only a label: boot-deploy names deployments), else laid out
    /// by hand the way docs/ON-DISK.md says. Afterwards the tree is damaged as a test asks: `omit`
    /// removes directories from it, `record` replaces the record, `attempts` sets the software
    /// counter, `withVar: false` removes the stateroot's var, `busybox` puts /bin/busybox in.
    @discardableResult
    func addDeployment(stateroot: String = "os", id: String, omit: Set<String> = [], record: String? = nil,
                       attempts: String? = nil, withVar: Bool = true, busybox: Bool = false,
                       adminBinds: [(source: String, target: String, readOnly: Bool)] = []) -> String {
        let realID: String
        // Administrator binds: layout.conf in the stateroot (read by deploy), the source below the
        // stateroot, the mount point in the tree.
        for b in adminBinds {
            tmp.write("physical/bootdeploy/\(stateroot)/\(b.source)/marker", "admin \(b.source)\n")
        }
        if !adminBinds.isEmpty {
            tmp.write("physical/bootdeploy/\(stateroot)/layout.conf",
                      "# test\n" + adminBinds.map { "bind \($0.source) \($0.target)\($0.readOnly ? " ro" : "")\n" }.joined())
        }
        if let tool = PhysicalRoot.bootDeploy {
            for b in adminBinds { tmp.mkdir("trees/\(stateroot)-\(id)\(b.target)") }
            realID = deployWithBootDeploy(tool, stateroot: stateroot, label: id, counted: attempts != nil)
        } else {
            realID = id
            let d = "physical/bootdeploy/\(stateroot)/deploy/\(id)"
            for dir in ["usr/bin", "var", "sysroot", "etc", "proc", "sys", "dev", "run", "bin"] {
                tmp.mkdir("\(d)/\(dir)")
            }
            tmp.write("\(d)/usr/bin/marker", "\(id)\n")
            var layout = standardLayout(id, stateroot: stateroot)
            for b in adminBinds {
                tmp.mkdir("\(d)\(b.target)")
                layout.mounts.append(BindMount(origin: .physical, source: "bootdeploy/\(stateroot)/\(b.source)", target: b.target,
                                               readOnly: b.readOnly, purpose: "admin"))
            }
            let json = try! String(decoding: JSONEncoder().encode(layout), as: UTF8.self)
            tmp.write("\(d).json", """
                {"schema": 1, "stateroot": "\(stateroot)", "id": "\(id)", "version": "1.0", "title": "Test \(id)",
                 "digest": "00", "kernelVersion": "6.1.0-test", "kernelDir": "bootdeploy/\(stateroot)/00", "hasDevicetree": false,
                 "kargs": ["rw"], "pinned": false, "created": "2026-12-01T18:00:00Z", "layout": \(json)}
                """)
        }
        let d = "physical/bootdeploy/\(stateroot)/deploy/\(realID)"
        let tmp = self.tmp
        tmp.write("physical/bootdeploy/\(stateroot)/var/lib/marker", "var of \(stateroot)\n")
        later {
            for dir in omit { try? FileManager.default.removeItem(atPath: tmp.sub("\(d)/\(dir)")) }
            if !withVar { try? FileManager.default.removeItem(atPath: tmp.sub("physical/bootdeploy/\(stateroot)/var")) }
            if let record {
                try? FileManager.default.removeItem(atPath: tmp.sub("\(d).json"))
                tmp.write("\(d).json", record.replacingOccurrences(of: "@ID@", with: realID))
            }
            if let attempts {
                try? FileManager.default.removeItem(atPath: tmp.sub("\(d).attempts"))
                tmp.write("\(d).attempts", attempts)
            }
            if busybox {
                tmp.mkdir("\(d)/bin")
                try? FileManager.default.copyItem(atPath: "/bin/busybox", toPath: tmp.sub("\(d)/bin/busybox"))
            }
        }
        return realID
    }

    /// `boot-deploy init` (once per stateroot) and `deploy` of a tree with a kernel, an initramfs,
    /// an os-release and a marker file carrying `label`.
    private func deployWithBootDeploy(_ tool: String, stateroot: String, label: String, counted: Bool) -> String {
        let t = "trees/\(stateroot)-\(label)"
        tmp.write("\(t)/usr/lib/modules/6.1.0-test/vmlinuz", "kernel \(label)\n")
        tmp.write("\(t)/usr/lib/modules/6.1.0-test/initramfs.img", "initramfs \(label)\n")
        tmp.write("\(t)/usr/lib/os-release", "ID=bdtest\nVERSION_ID=1\nPRETTY_NAME=\"Test \(label)\"\n")
        tmp.write("\(t)/usr/bin/marker", "\(label)\n")
        for dir in ["etc", "proc", "sys", "dev", "run", "bin", "sysroot", "var"] { tmp.mkdir("\(t)/\(dir)") }
        try? FileManager.default.createSymbolicLink(atPath: tmp.sub("\(t)/etc/os-release"), withDestinationPath: "../usr/lib/os-release")
        let roots = ["--sysroot", tree, "--boot", tmp.sub("boot")]
        tmp.mkdir("boot")
        if !initialised.contains(stateroot) {
            let r = try! run(tool, ["init"] + roots + ["--stateroot", stateroot])
            precondition(r.ok, "boot-deploy init: \(r.stderr)")
            initialised.insert(stateroot)
        }
        let r = try! run(tool, ["deploy"] + roots + ["--stateroot", stateroot, "--tree", tmp.sub(t), "--karg", "root=LABEL=bdroot",
                                                     "--no-freeze"] + (counted ? ["--software-counter"] : []))
        precondition(r.ok, "boot-deploy deploy: \(r.stderr)")
        let printed = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        precondition(printed.hasPrefix(stateroot + "/"), "boot-deploy deploy printed \(printed)")
        return String(printed.dropFirst(stateroot.count + 1))
    }

    /// Makes the ext4 image from the tree. Returns nil (and the reason) when mkfs is missing.
    func makeImage() throws -> String? {
        for change in pending { try change() }
        pending = []
        guard TestEnv.have("mkfs.ext4") else { return "mkfs.ext4 is not installed" }
        let r = try run("/sbin/mkfs.ext4", ["-q", "-F", "-d", tree, "-L", "bdroot", image, "64M"])
        if !r.ok { return "mkfs.ext4 failed: \(r.stderr)" }
        return nil
    }

    /// The shell prologue of a namespace script: mount the image (read-only if asked) at
    /// `$T/sysroot` and make it shared, as systemd would have it in the initramfs.
    func mountScript(readOnly: Bool = false) -> String {
        """
        set -u
        T=\(tmp.path)
        B=\(TestEnv.tool("bd-prepare-root"))
        mkdir -p $T/sysroot $T/run && : > $T/kmsg
        # A read-only mount of a writable loop device (mount -o loop,ro would make the device itself
        # read-only, which no real root is); losetup -d on the busy device makes it go with the mount.
        L=$(losetup -f --show $T/root.img) || { echo "cannot set up a loop device"; exit 90; }
        mount \(readOnly ? "-o ro " : "")$L $T/sysroot || { losetup -d $L; echo "cannot mount image"; exit 90; }
        losetup -d $L
        mount --make-shared $T/sysroot
        prep() { "$B" --sysroot $T/sysroot --cmdline-file "$1" --run-dir $T/run --kmsg $T/kmsg --efivars $T/efivars "${@:2}"; }

        """
    }

    func path(_ name: String) -> String { tmp.sub(name) }
    func read(_ name: String) -> String { tmp.read(name) ?? "" }
    func table(_ name: String) throws -> [MountEntry] { try MountTable.current(path: tmp.sub(name)) }
}

/// Why a privileged prepare-root test cannot run here, or nil.
func privilegedSkipReason() -> String? {
    if !TestEnv.isRoot { return "needs root for mount namespaces and loop devices" }
    if !FileManager.default.isExecutableFile(atPath: TestEnv.tool("bd-prepare-root")) { return "bd-prepare-root is not built at \(TestEnv.tool("bd-prepare-root"))" }
    if !TestEnv.have("unshare") || !TestEnv.have("losetup") { return "util-linux unshare/losetup missing" }
    return nil
}

/// mountinfo lines with what legitimately changes across a mount and its undo taken out: peer
/// group numbers (a re-shared mount gets a new one).
func normalizedMountinfo(_ text: String) -> [String] {
    text.split(separator: "\n").map { line in
        line.split(separator: " ").map { f in
            f.hasPrefix("shared:") ? "shared" : (f.hasPrefix("master:") ? "master" : String(f))
        }.joined(separator: " ")
    }
}
