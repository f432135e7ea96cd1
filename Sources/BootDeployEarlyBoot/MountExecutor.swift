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
    }

    public let plan: MountPlan
    private var undo: [Undo] = []
    /// Steps completed so far, for messages and tests.
    public private(set) var completed = 0

    public init(plan: MountPlan) { self.plan = plan }

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
        let count = undo.count
        while let u = undo.popLast() {
            do {
                switch u {
                case .unmount(let t):
                    do { try Mounts.unmount(t) } catch where error.errno == .resourceBusy {
                        // Busy only if something opened a file in it meanwhile: detach it lazily
                        // rather than leave it, and never wait.
                        try Mounts.unmount(t, lazy: true)
                    }
                case .move(let from, let to):
                    try Mounts.move(from, to: to)
                case .reshare(let t):
                    try Mounts.setPropagation(t, .shared, recursive: false)
                }
            } catch {
                problems.append("\(error)")
            }
        }
        completed = 0
        if problems.isEmpty { return count == 0 ? "" : " (undid \(count) mount\(count == 1 ? "" : "s"))" }
        return " (undo incomplete: " + problems.joined(separator: "; ") + ")"
    }

    func perform(_ step: MountPlan.Step) throws(PrepareRootError) {
        do {
            switch step {
            case .makePrivate(let t):
                let before = (try? MountTable.find(target: t))?.propagation
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
                undo.append(.move(from: t, to: s))
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
        _ = try PathCheck.openDirectory(String(path.dropFirst(base.count)), below: base, role: role)
    }
}
