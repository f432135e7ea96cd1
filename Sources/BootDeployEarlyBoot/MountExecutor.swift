import BootDeploySystem

/// Performs a `MountPlan`, and takes it back when something fails.
///
/// Each done step is remembered with what undoes it; on the first failure the executor undoes them
/// in reverse order, so that the machine is left as it was found (the emergency shell then sees
/// the physical root at /sysroot, unchanged) and throws one error naming the failed step. Every
/// mount call goes through `Mounts`, hence through `FaultInjection.gate`.
public final class MountExecutor {
    enum Undo {
        case unmount(String)
        case move(from: String, to: String)
        case reshare(String)
        /// Detach the mount at the path and everything below it in one lazy unmount; the `covers`
        /// entries recorded before it (binds made inside the mount before it moved) go with it.
        case detachTree(String, covers: Int)
    }

    public let plan: MountPlan
    private var undo: [Undo] = []
    /// Steps completed so far, for messages and tests.
    public private(set) var completed = 0

    /// The mount table when the plan starts, if the caller has read it already (one read less
    /// on the critical path); read on demand otherwise.
    private let table: [MountEntry]?
    /// Directories already checked for symlinks, by absolute path (see `PathCheck`).
    private var checked: [String: Directory] = [:]

    public init(plan: MountPlan, table: [MountEntry]? = nil) {
        self.plan = plan
        self.table = table
    }

    /// Runs every step. On failure, everything done is undone before the error is thrown.
    public func apply() throws(PrepareRootError) {
        for step in plan.steps {
            do {
                try perform(step)
                completed += 1
            } catch {
                let undone = rollback()
                throw PrepareRootError("\(step) failed: \(error)" + undone)
            }
        }
    }

    /// Undoes every completed step, newest first. Returns "" or a note on what could not be undone,
    /// ready to append to an error message. Also used when a later stage (booted.json) fails.
    @discardableResult
    public func rollback() -> String {
        var problems: [String] = []
        var mounts = 0, propagation = false
        while let u = undo.popLast() {
            do {
                switch u {
                case .unmount(let t):
                    do { try Mounts.unmount(t) } catch where error.errno == .resourceBusy {
                        // Busy only if something opened a file in it meanwhile: detach it lazily
                        // rather than leave it, and never wait.
                        try Mounts.unmount(t, lazy: true)
                    }
                    mounts += 1
                case .move(let from, let to):
                    try Mounts.move(from, to: to)
                    mounts += 1
                case .reshare(let t):
                    try Mounts.setPropagation(t, .shared, recursive: false)
                    propagation = true
                case .detachTree(let t, let covers):
                    try Mounts.unmount(t, lazy: true)
                    undo.removeLast(min(covers, undo.count))
                    mounts += covers
                }
            } catch {
                problems.append("\(error)")
            }
        }
        completed = 0
        if !problems.isEmpty { return " (undo incomplete: " + problems.joined(separator: "; ") + ")" }
        if mounts == 0 && !propagation { return "" }
        return " (undid \(mounts) mount\(mounts == 1 ? "" : "s")" + (propagation ? " and the propagation change" : "") + ")"
    }

    func perform(_ step: MountPlan.Step) throws(PrepareRootError) {
        do {
            switch step {
            case .makePrivate(let t):
                let before = (table ?? (try? MountTable.current()) ?? []).last { $0.target == t }?.propagation
                try Mounts.setPropagation(t, .private, recursive: true)
                if before == .shared { undo.append(.reshare(t)) }
            case .bind(let s, let t, _):
                try checkDirectory(s, role: "source")
                try checkDirectory(t, role: "target")
                try Mounts.bind(s, onto: t)
                undo.append(.unmount(t))
            case .remountReadOnly(let t, _):
                // Undone together with its bind.
                try Mounts.remountBindReadOnly(t)
            case .move(let s, let t):
                try checkDirectory(t, role: "target")
                try Mounts.move(s, to: t)
                if s == plan.deployment {
                    // The deployment moved over the physical root: the paths its binds were made
                    // at are gone (and moving it back below itself is impossible), so it is taken
                    // back by detaching it with everything in it, which shows the physical root again.
                    let inside = undo.filter {
                        if case .unmount(let p) = $0 { return p == s || p.hasPrefix(s + "/") }
                        return false
                    }.count
                    undo.append(.detachTree(t, covers: inside))
                } else {
                    undo.append(.move(from: t, to: s))
                }
            case .switchRoot(let n, let o):
                try Mounts.switchRoot(n, over: o)
            }
        } catch let e as PrepareRootError {
            throw e
        } catch {
            throw PrepareRootError("\(error)")
        }
    }

    /// Refuses a path below the physical root that is missing, not a directory, or reached through
    /// a symlink (see `PathCheck`).
    func checkDirectory(_ path: String, role: String) throws(PrepareRootError) {
        let base = plan.sysroot
        guard path == base || path.hasPrefix(base == "/" ? "/" : base + "/") else { return }
        _ = try PathCheck.openDirectory(String(path.dropFirst(base.count)), below: base, role: role, cache: &checked)
    }
}
