import BootDeploySystem
import Glibc

/// /boot and freezing: whether this partition is one we freeze, and the check every writer makes
/// before it writes (docs/ON-DISK.md, `.boot-frozen`).
extension BootPartition {
    /// A dedicated ext4/xfs mount (never the host's root in a demo or test), with freezing allowed.
    var freezes: Bool {
        freeze && (filesystem == .ext4 || filesystem == .xfs) && isMountPoint(path)
    }

    /// `$SYSROOT/bootdeploy`, where the freeze marker lives; nil before `init`.
    func freezeMarkerDirectory() -> Directory? {
        try? Directory.open(sysrootPath).openDirectory("bootdeploy")
    }

    /// Called under the sysroot lock before anything is written: a freeze an interrupted writer
    /// of ours left is thawed (and said on stderr); a freeze held by someone else is an error, as
    /// writing would hang in uninterruptible sleep until they thaw.
    public func ensureWritable() throws(BootDeployError) {
        guard freezes else { return }
        let notes = try sys { () throws(SystemError) in try BootFreeze.ensureWritable(dir, marker: freezeMarkerDirectory()) }
        for n in notes {
            let line = "warning: \(n)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
    }
}
