/// The mounts that turn a physical root into a booted deployment, computed from the record's layout
/// and the roots, before anything is touched. A pure value: tests check it without root, and the
/// executor (`MountExecutor`) is the only code that performs it.
///
/// The sequence, for the initramfs (`sysroot` = /sysroot, the physical root; `D` = the deployment):
/// 1. make `sysroot` recursively private — `MS_MOVE` refuses to move a mount whose parent is shared,
///    and systemd mounts everything shared; it also keeps the binds below from propagating into
///    peers of the physical root mount;
/// 2. bind `D` onto itself, so that the deployment is a mount that can be moved;
/// 3. the layout's binds, in order, inside `D` (read-only ones as bind, then bind-remount `ro`):
///    the stateroot's var onto `D/var`, `D/usr` onto itself read-only, the physical root
///    (non-recursively, so without the deployment mounted in it) onto `D/sysroot`, ...
/// 4. move `D` onto `sysroot`: the initramfs's switch-root then finds the deployment there.
///
/// As `init=` (no initramfs), `sysroot` is `/`; instead of step 4, the API filesystems that are
/// mounted (`/dev`, `/proc`, `/sys`, `/run`) are moved into `D`, then `D` is made the root
/// (chdir, move onto `/`, chroot).
public struct MountPlan: Sendable, Equatable {
    /// Where prepare-root runs, which decides how the plan ends.
    public enum Mode: Sendable, Equatable {
        /// In the initramfs: the new root is left at `sysroot` for switch-root.
        case initramfs
        /// As the first process: the new root becomes this process's root; `apiMounts` (absolute
        /// paths under the old root) are carried into it first.
        case initProcess(apiMounts: [String])
    }

    /// One mount operation, with absolute paths.
    public enum Step: Sendable, Equatable, CustomStringConvertible {
        case makePrivate(String)
        case bind(source: String, target: String, purpose: String)
        case remountReadOnly(String, purpose: String)
        case move(source: String, target: String)
        case switchRoot(newRoot: String, over: String)

        public var description: String {
            switch self {
            case .makePrivate(let t): return "make-rprivate \(t)"
            case .bind(let s, let t, let p): return "bind \(s) -> \(t)" + (p.isEmpty ? "" : " (\(p))")
            case .remountReadOnly(let t, let p): return "remount read-only \(t)" + (p.isEmpty ? "" : " (\(p))")
            case .move(let s, let t): return "move \(s) -> \(t)"
            case .switchRoot(let n, let o): return "switch root to \(n) over \(o)"
            }
        }
    }

    /// The physical root as the process sees it now (`/sysroot`, or `/` as init).
    public var sysroot: String
    /// The deployment tree's absolute path before the plan runs.
    public var deployment: String
    public var mode: Mode
    public var steps: [Step]

    /// Computes the plan. The layout must have passed `MountLayout.validate`, so that joining its
    /// relative paths below the roots cannot leave them.
    public init(layout: MountLayout, sysroot: String, mode: Mode = .initramfs) {
        let root = MountPlan.normalized(sysroot)
        let deploy = MountPlan.join(root, layout.root)
        var steps: [Step] = [.makePrivate(root), .bind(source: deploy, target: deploy, purpose: "deployment")]
        for m in layout.mounts {
            let source = MountPlan.join(m.origin == .physical ? root : deploy, m.source)
            let target = MountPlan.join(deploy, m.target)
            steps.append(.bind(source: source, target: target, purpose: m.purpose))
            if m.readOnly { steps.append(.remountReadOnly(target, purpose: m.purpose)) }
        }
        switch mode {
        case .initramfs:
            steps.append(.move(source: deploy, target: root))
        case .initProcess(let apiMounts):
            for api in apiMounts {
                let relative = api.hasPrefix(root) ? String(api.dropFirst(root.count)) : api
                steps.append(.move(source: api, target: MountPlan.join(deploy, relative)))
            }
            steps.append(.switchRoot(newRoot: deploy, over: root))
        }
        self.sysroot = root
        self.deployment = deploy
        self.mode = mode
        self.steps = steps
    }

    /// Where a path of the running system is found after the plan: `/sysroot` in the initramfs.
    public var newRoot: String {
        if case .initramfs = mode { return sysroot }
        return "/"
    }

    /// `base` and `relative` joined with exactly one `/`; `""` means `base` itself.
    public static func join(_ base: String, _ relative: String) -> String {
        var rel = Substring(relative)
        while rel.hasPrefix("/") { rel = rel.dropFirst() }
        if rel.isEmpty { return base }
        return base == "/" ? "/" + rel : base + "/" + rel
    }

    /// A path without trailing `/` (except `/` itself) and without doubled `/`.
    public static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/")
        let body = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + body : (body.isEmpty ? "." : body)
    }
}
