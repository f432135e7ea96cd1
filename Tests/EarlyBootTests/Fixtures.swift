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

    /// Adds a deployment the way `boot-deploy deploy` lays it out (docs/ON-DISK.md), with its record.
    /// `omit` leaves directories out of the tree, `extra` adds files (path -> content).
    func addDeployment(stateroot: String = "os", id: String, omit: Set<String> = [], record: String? = nil,
                       attempts: String? = nil, withVar: Bool = true) {
        let d = "physical/bootdeploy/\(stateroot)/deploy/\(id)"
        for dir in ["usr/bin", "var", "sysroot", "etc", "proc", "sys", "dev", "run", "bin"] where !omit.contains(dir) && !omit.contains(String(dir.split(separator: "/")[0])) {
            tmp.mkdir("\(d)/\(dir)")
        }
        if !omit.contains("usr") { tmp.write("\(d)/usr/bin/marker", "\(id)\n") }
        if withVar { tmp.write("physical/bootdeploy/\(stateroot)/var/lib/marker", "var of \(stateroot)\n") }
        let layout = standardLayout(id, stateroot: stateroot)
        let json = try! String(decoding: JSONEncoder().encode(layout), as: UTF8.self)
        tmp.write("\(d).json", record ?? """
            {"schema": 1, "stateroot": "\(stateroot)", "id": "\(id)", "version": "1.0", "title": "Test \(id)",
             "digest": "00", "kernelVersion": "6.1.0-test", "kernelDir": "bootdeploy/\(stateroot)/00", "hasDevicetree": false,
             "kargs": ["rw"], "pinned": false, "created": "2026-12-01T18:00:00Z", "layout": \(json)}
            """)
        if let attempts { tmp.write("\(d).attempts", attempts) }
    }

    /// Makes the ext4 image from the tree. Returns nil (and the reason) when mkfs is missing.
    func makeImage() throws -> String? {
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
