import BootDeploySystem
import Glibc

/// /boot and freezing: whether this partition is one we freeze, and the check every writer makes
/// before it writes (docs/ON-DISK.md, `.boot-frozen`).
extension BootPartition {
    /// A dedicated ext4/xfs mount (never the host's root in a demo or test).
    var canFreeze: Bool { (filesystem == .ext4 || filesystem == .xfs) && isMountPoint(path) }

    /// One we freeze: it can, and freezing is allowed (not `--no-freeze`).
    var freezes: Bool { freeze && canFreeze }

    /// GRUB reads ext4/xfs without replaying the journal: freeze/thaw writes everything back in
    /// place. Only on a dedicated boot filesystem (never the host's root in a demo or test);
    /// elsewhere a syncfs.
    func flushForBootloader() throws(BootDeployError) {
        let freezes = self.freezes
        try sys { () throws(SystemError) in
            if freezes {
                try dir.freezeThaw(marker: freezeMarkerDirectory())
            } else {
                try dir.syncFilesystem()
            }
        }
    }

    /// `$SYSROOT/bootdeploy`, where the freeze marker lives; nil before `init`.
    func freezeMarkerDirectory() -> Directory? {
        try? Directory.open(sysrootPath).openDirectory("bootdeploy")
    }

    /// Called under the sysroot lock before anything is written: a freeze an interrupted writer
    /// of ours left is thawed (and said on stderr); a freeze held by someone else is an error, as
    /// writing would hang in uninterruptible sleep until they thaw. With `--no-freeze` only the
    /// leftover of an earlier writer is thawed; nothing is frozen to probe. `probe: false` does only
    /// the thaw, for a caller that probes later, when it knows it will write.
    public func ensureWritable(probe: Bool = true) throws(BootDeployError) {
        guard canFreeze else { return }
        let notes = try sys { () throws(SystemError) in try BootFreeze.ensureWritable(dir, marker: freezeMarkerDirectory(), probe: freeze && probe) }
        for n in notes {
            let line = "warning: \(n)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
    }
}
