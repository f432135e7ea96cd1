import ArgumentParser
import Glibc
import BootDeploy

extension BootDeployCommand {
    struct Finalize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a staged deployment to /boot (run at shutdown by bootdeploy-finalize.service).",
            discussion: "Merges /etc from the merge deployment (the booted one of its stateroot, else the default) into the staged one, then makes it the default with the same crash-safe transaction as deploy. A failure leaves a stamp that the next boot reports.")
        @OptionGroup var roots: RootOptions
        @Flag(help: "Keep the staged deployment from being finalized (download-only updates).") var lock = false
        @Flag(help: "Allow the staged deployment to be finalized again.") var unlock = false
        @Flag(help: "Hold /boot open until stopped (the unit's ExecStart), so an automount cannot drop it before finalize.") var hold = false
        @Flag(help: "Exit 1 with the message if the last shutdown's finalize failed or never ran.") var check = false
        @Flag(help: "With --check: acknowledge the reported problem.") var acknowledge = false
        @OptionGroup var limit: CommandLineLimitOption
        func validate() throws {
            if [lock, unlock, hold, check].filter({ $0 }).count > 1 { throw ValidationError("--lock, --unlock, --hold and --check exclude each other") }
        }
        func run() throws {
            try guarded {
                let m = try roots.manager(cmdlineLimit: limit.cmdlineLimit)
                if lock { try m.setFinalizationLocked(true); return }
                if unlock { try m.setFinalizationLocked(false); return }
                if hold { holdBoot(m.roots.boot); return }
                if check {
                    guard let p = m.finalizeProblem() else { print("no finalize problem"); return }
                    if acknowledge { try m.clearFinalizeProblem(); print("acknowledged: \(p)"); return }
                    FileHandle.stderr("boot-deploy: \(p)\n")
                    throw ExitCode(1)
                }
                switch try m.finalize() {
                case .nothingStaged: print("nothing staged")
                case .locked(let q): print("\(q) is staged but locked; not finalized")
                case .finalized(let q, let n, let warnings):
                    for w in warnings { FileHandle.stderr("boot-deploy: warning: \(w)\n") }
                    print("finalized \(q) (\(n) local /etc changes carried over)")
                }
            }
        }
    }
}

/// Keeps a directory open on /boot until SIGTERM: while this process lives, an automount cannot
/// expire /boot, so the unit's ExecStop finds it mounted.
func holdBoot(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    _ = chdir(path)
    signal(SIGTERM) { _ in _exit(0) }
    while true { pause() }
    _ = fd
}
