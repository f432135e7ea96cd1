import ArgumentParser
import BootDeploy

extension BootDeployCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every deployment in boot order, with its entry, counter and state.")
        @OptionGroup var roots: RootOptions
        @Flag(help: "Print the versioned JSON document (docs/STATUS.md).") var json = false
        func run() throws {
            try guarded {
                let s = try roots.manager().status()
                if json { print(s.json()); return }
                print(StatusText.render(s), terminator: "")
            }
        }
    }
}

/// The human-readable status table.
enum StatusText {
    static func render(_ s: BootStatus) -> String {
        var out = "boot: \(s.boot) (\(s.bootStrategy.rawValue)); boot loader: \(s.bootLoader.rawValue)\n"
        if let c = s.bootLoaderCounter {
            out += "boot counter (\(c.file)): " + (c.trial.map { "trial of \($0), \(c.triesLeft) tries left" } ?? "no trial") + "\n"
        }
        if let f = s.finalizeFailure { out += "FINALIZE FAILED on the last shutdown: \(f)\n" }
        if s.deployments.isEmpty { out += "no deployments\n" }
        for d in s.deployments {
            var marks: [String] = []
            if d.default { marks.append("default") }
            if d.booted { marks.append("booted") }
            if d.rollbackTarget { marks.append("rollback") }
            if d.pinned { marks.append("pinned") }
            if d.staged { marks.append("staged") }
            let idx = d.index.map { String($0) } ?? "-"
            let tries = d.triesLeft.map { " tries \($0) left, \(d.triesDone ?? 0) done" } ?? ""
            out += "\(idx == "0" ? "*" : " ") \(idx) \(d.stateroot)/\(d.id)  \(d.version)  \(d.state?.rawValue ?? "no entry")\(tries)"
            out += marks.isEmpty ? "\n" : "  [\(marks.joined(separator: ", "))]\n"
            out += "      \(d.title); entry \(d.entry ?? "-"); kernel \(d.kernelVersion)"
            out += d.mergedFrom.map { "; configuration from \($0)\n" } ?? "\n"
            if let e = d.earlyBoot { out += "      no initramfs: init=\(e.initPath)\n" }
            if let p = d.earlyBootProblem { out += "      PROBLEM \(p)\n" }
        }
        for f in s.foreignEntries { out += "  foreign \(f.file) \(f.title ?? "")\n" }
        for p in s.problems { out += "  PROBLEM \(p)\n" }
        for w in s.warnings { out += "  WARNING \(w)\n" }
        return out
    }
}
