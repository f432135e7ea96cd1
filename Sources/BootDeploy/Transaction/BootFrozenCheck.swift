import BootDeploySystem
import Glibc

/// /boot and freezing: whether this partition is one we freeze, and the check every writer makes
/// before it writes (docs/ON-DISK.md, `.boot-frozen`).
extension BootPartition {
    /// A dedicated ext4/xfs mount (never the host's root in a demo or test).
    var canFreeze: Bool { (filesystem == .ext4 || filesystem == .xfs) && isMountPoint(path) }

    /// One we freeze: it can, and freezing is allowed (not `--no-freeze`).
    var freezes: Bool { freeze && canFreeze }

    /// GRUB reads ext4/xfs without replaying the journal: the journal must be written back in
    /// place. Only on a dedicated boot filesystem (never the host's root in a demo or test);
    /// elsewhere a syncfs. On ext4, syncfs and EXT4_IOC_CHECKPOINT do it without a freeze (a freeze
    /// costs a superblock write and a device flush, and blocks every other writer meanwhile); a
    /// filesystem someone else holds frozen has had its journal written back by that freeze. On
    /// xfs, and on a kernel without the ioctl, a guarded freeze/thaw.
    func flushForBootloader() throws(BootDeployError) {
        let freezes = self.freezes, ext4 = filesystem == .ext4
        try sys { () throws(SystemError) in
            if freezes && ext4 {
                try dir.syncFilesystem()
                if Ext4Journal.state(dir) == .quiesced { return }
                if try dir.checkpointJournal() { return }
            }
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
    /// the thaw, for a caller that probes later, when it knows it will write. On a journalled ext4
    /// the probe reads the superblock instead of freezing (`Ext4Journal.state`).
    public func ensureWritable(probe: Bool = true) throws(BootDeployError) {
        guard canFreeze else { return }
        // A journalled ext4 says in its superblock whether it is frozen: when it is not, the
        // probe's freeze is skipped (when it may be, the freeze probes as everywhere else).
        let probe = freeze && probe && !(filesystem == .ext4 && Ext4Journal.state(dir) == .live)
        let notes = try sys { () throws(SystemError) in try BootFreeze.ensureWritable(dir, marker: freezeMarkerDirectory(), probe: probe) }
        for n in notes {
            let line = "warning: \(n)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
    }
}
