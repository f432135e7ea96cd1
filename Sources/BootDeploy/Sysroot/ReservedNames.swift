import BootDeploySystem

/// The names BootDeploy itself uses directly under `$SYSROOT/bootdeploy/`, beside the stateroots
/// (docs/ON-DISK.md lists them with their writers). A stateroot may not take one: its directory
/// would collide with a file of ours, or ours with it. Dot names (`.lock`, `.boot-frozen`, the
/// `.NAME.tmp` files of atomic replacement) are already no valid stateroot.
public enum ReservedNames {
    /// Exact names, with what they are.
    public static let names: [(name: String, what: String)] = [
        ("health", "boot-health's persistent status (health/status.json)"),
        ("staged.json", "the staged deployment waiting for finalize"),
        ("finalize-failed.json", "the stamp of a failed finalize"),
        (EarlyBootBundle.directory, "the early-boot installs for entries without an initramfs (bootdeploy/\(EarlyBootBundle.directory)/)"),
        ("lock", "kept free for lock files"),
        ("tmp", "kept free for temporary files"),
    ]
    /// Suffixes kept for files of ours, present and future.
    public static let suffixes = [".json", ".tmp", ".lock"]

    /// Why `name` cannot be a stateroot, or nil.
    public static func problem(_ name: String) -> String? {
        if name == BootFreeze.markerName { return "is reserved: /boot's freeze marker" }
        if let hit = names.first(where: { $0.name == name }) { return "is reserved: \(hit.what)" }
        if let s = suffixes.first(where: { name.hasSuffix($0) }) { return "ends in \(s), which is reserved for BootDeploy's own files" }
        return nil
    }
}
