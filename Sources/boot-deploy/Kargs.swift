import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Kargs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show or edit the kernel arguments of a deployment (the default one unless named).")
        @OptionGroup var roots: RootOptions
        @Option(help: "ID or STATEROOT/ID") var deployment: String?
        @Option(help: "Append an argument (repeatable).") var append: [String] = []
        @Option(help: "Delete every argument with this KEY, or exactly KEY=VALUE (repeatable).") var delete: [String] = []
        @Option(help: "Replace the value of KEY: KEY=VALUE (repeatable).") var replace: [String] = []
        @OptionGroup var limit: CommandLineLimitOption
        func run() throws {
            try guarded {
                let k = try roots.manager(cmdlineLimit: limit.cmdlineLimit).editKargs(deployment, append: append, delete: delete, replace: replace)
                print(k.joined(separator: " "))
            }
        }
    }
}
