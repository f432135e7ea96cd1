import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check /boot: our entries parse and name existing kernels and deployments. Exit 1 on any problem.")
        @OptionGroup var roots: RootOptions
        func run() throws {
            try guarded {
                let r = try roots.manager().validate()
                for c in r.checked { print("ok      \(c)") }
                for f in r.foreign { print("foreign \(f)") }
                for p in r.problems { print("PROBLEM \(p)") }
                if !r.problems.isEmpty { throw ExitCode(1) }
            }
        }
    }
}
