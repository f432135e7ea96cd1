import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Cleanup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove deployments and kernels no entry references (not pinned, booted or staged ones).")
        @OptionGroup var roots: RootOptions
        func run() throws {
            try guarded {
                let r = try roots.manager().cleanup()
                for d in r.deployments { print("removed deployment \(d)") }
                for k in r.kernels { print("removed \(k.hasPrefix("bootdeploy/early-boot/") ? "early-boot install" : "kernel") \(k)") }
                for l in r.leftovers { print("removed leftover \(l)") }
            }
        }
    }
}
