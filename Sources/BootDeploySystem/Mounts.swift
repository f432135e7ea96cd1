import CBootDeployShim
import CMount
import Glibc
import SystemPackage

/// Mount operations through libmount, one function per kind of change.
///
/// Every call passes `FaultInjection.gate` first, so that tests can make the N-th mount fail and
/// check that the caller undoes what it did. libmount is told to use no `/sbin/mount.*` helper, to
/// write no mtab, to leave paths alone (the caller has already checked them for symlinks; libmount's
/// canonicalisation would follow them) and to take no options from fstab or mountinfo: a mount does
/// exactly what its flags say, nothing that a file on the machine adds.
public enum Mounts {
    /// Binds `source` onto `target`. Not recursive: mounts below `source` are not carried along,
    /// which is what keeps a bind of the physical root from containing the deployment mounted in it.
    public static func bind(_ source: String, onto target: String, recursive: Bool = false) throws(SystemError) {
        let flags = UInt(MS_BIND) | (recursive ? UInt(MS_REC) : 0)
        try mount(op: "mount[bind]", label: "\(source), \(target)", source: source, target: target, flags: flags)
    }

    /// Makes the bind mount at `target` read-only (per-mount flag; the filesystem stays writable
    /// through its other mounts).
    public static func remountBindReadOnly(_ target: String) throws(SystemError) {
        let flags = UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY)
        try mount(op: "mount[remount,bind,ro]", label: target, source: nil, target: target, flags: flags)
    }

    /// Remounts the filesystem (superblock) mounted at `target` read-only or read-write.
    public static func remount(_ target: String, readOnly: Bool) throws(SystemError) {
        let flags = UInt(MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
        try mount(op: readOnly ? "mount[remount,ro]" : "mount[remount,rw]", label: target,
                  source: nil, target: target, flags: flags)
    }

    /// Moves the mount at `source` (with everything mounted below it) to `target`.
    public static func move(_ source: String, to target: String) throws(SystemError) {
        try mount(op: "mount[move]", label: "\(source), \(target)", source: source, target: target, flags: UInt(MS_MOVE))
    }

    /// Sets the propagation type of the mount at `target` (and of all mounts below it if `recursive`).
    public static func setPropagation(_ target: String, _ type: MountPropagation, recursive: Bool) throws(SystemError) {
        var flags: UInt
        switch type {
        case .private: flags = UInt(MS_PRIVATE)
        case .shared: flags = UInt(MS_SHARED)
        case .slave: flags = UInt(MS_SLAVE)
        case .unbindable: flags = UInt(MS_UNBINDABLE)
        }
        if recursive { flags |= UInt(MS_REC) }
        try mount(op: "mount[make-\(recursive ? "r" : "")\(type.rawValue)]", label: target,
                  source: nil, target: target, flags: flags)
    }

    /// Mounts a filesystem by type, for the API filesystems (`proc`, `sysfs`, `tmpfs`).
    public static func mount(fstype: String, source: String, target: String, options: String? = nil,
                             flags: UInt = 0) throws(SystemError) {
        try mount(op: "mount[\(fstype)]", label: target, source: source, target: target, flags: flags,
                  fstype: fstype, options: options)
    }

    /// Unmounts the topmost mount at `target`. With `lazy`, detaches it even when busy (its
    /// filesystem goes away once unused), which cannot block.
    public static func unmount(_ target: String, lazy: Bool = false) throws(SystemError) {
        let op = lazy ? "umount[lazy]" : "umount"
        if let e = FaultInjection.gate(op, target) { throw SystemError(op, target, e) }
        try withContext(op, target) { cxt in
            _ = mnt_context_set_target(cxt, target)
            if lazy { _ = mnt_context_enable_lazy(cxt, 1) }
            return mnt_context_umount(cxt)
        }
    }

    /// Makes the mount at `newRoot` the root of this process: the same dance as switch_root(8),
    /// `chdir(newRoot)`, move it onto `mountPoint` (the current root's mount, `/` when running as
    /// init), `chroot(".")`, `chdir("/")`. Afterwards the old root is only reachable through what
    /// was bound into the new one.
    public static func switchRoot(_ newRoot: String, over mountPoint: String) throws(SystemError) {
        try retryingOnInterrupt { chdir(newRoot) }.get("chdir", newRoot)
        try mount(op: "mount[move]", label: "\(newRoot), \(mountPoint)", source: ".", target: mountPoint, flags: UInt(MS_MOVE))
        if let e = FaultInjection.gate("chroot", newRoot) { throw SystemError("chroot", newRoot, e) }
        try retryingOnInterrupt { chroot(".") }.get("chroot", newRoot)
        try retryingOnInterrupt { chdir("/") }.get("chdir", "/")
    }

    // MARK: libmount

    static func mount(op: String, label: String, source: String?, target: String, flags: UInt,
                      fstype: String? = nil, options: String? = nil) throws(SystemError) {
        if let e = FaultInjection.gate(op, label) { throw SystemError(op, label, e) }
        try withContext(op, label) { cxt in
            if let source { _ = mnt_context_set_source(cxt, source) }
            _ = mnt_context_set_target(cxt, target)
            if let fstype { _ = mnt_context_set_fstype(cxt, fstype) }
            if let options { _ = mnt_context_set_options(cxt, options) }
            _ = mnt_context_set_mflags(cxt, flags)
            return mnt_context_mount(cxt)
        }
    }

    /// Runs one libmount operation in a fresh context and turns its status into a `SystemError`.
    static func withContext(_ op: String, _ label: String, _ body: (OpaquePointer) -> Int32) throws(SystemError) {
        guard let cxt = mnt_new_context() else { throw SystemError(op, label, .noMemory) }
        defer { mnt_free_context(cxt) }
        _ = mnt_context_disable_helpers(cxt, 1)
        _ = mnt_context_disable_mtab(cxt, 1)
        _ = mnt_context_disable_canonicalize(cxt, 1)
        _ = mnt_context_set_optsmode(cxt, Int32(MNT_OMODE_IGNORE | MNT_OMODE_NOTAB))
        let rc = body(cxt)
        if rc == 0 { return }
        // The kernel's errno when the syscall itself failed; else libmount's own -errno, or one of
        // its positive MNT_ERR_* codes for which EINVAL is the honest summary.
        if mnt_context_syscall_called(cxt) == 1, mnt_context_get_syscall_errno(cxt) != 0 {
            throw SystemError(op, label, Errno(rawValue: mnt_context_get_syscall_errno(cxt)))
        }
        if rc < 0 { throw SystemError(op, label, Errno(rawValue: -rc)) }
        throw SystemError("\(op) (libmount error \(rc))", label, .invalidArgument)
    }
}

/// The program's arguments as the C runtime passed them.
///
/// Swift's `CommandLine.arguments` is read from /proc/self/cmdline on Linux; early boot runs where
/// /proc is not mounted yet (as `init=`, or in an initramfs chroot), and there it would come back
/// empty. The shim captures argv in an ELF constructor instead, before any of that matters.
public enum ProcessArguments {
    public static var current: [String] {
        let argc = Int(bd_saved_argc())
        guard argc > 0, let argv = bd_saved_argv() else { return CommandLine.arguments }
        return (0..<argc).map { argv[$0].map { String(cString: $0) } ?? "" }
    }
}
