import ArgumentParser

extension ParsableCommand {
    /// `main()` for a command with subcommands, without building the whole command tree first.
    ///
    /// ArgumentParser reflects over every subcommand and every option on each start, about a
    /// quarter of a short command such as `boot-deploy status` (docs/PERFORMANCE.md). A command
    /// line whose first word names a subcommand is parsed by that subcommand alone; anything it
    /// does not accept (`--help`, a typo, a bad value) goes through the full parse, which reports
    /// it exactly as before. Debug builds check `subcommands` against the root's configuration, so
    /// the table cannot drift from what the full parse knows.
    public static func mainDispatching(_ subcommands: [String: any ParsableCommand.Type]) {
        assert(Set(subcommands.keys) == Set(configuration.subcommands.map { $0._commandName }),
               "the direct-dispatch table differs from \(Self.self)'s subcommands")
        let args = Array(CommandLine.arguments.dropFirst())
        if let first = args.first, let sub = subcommands[first], var command = try? sub.parse(Array(args.dropFirst())) {
            do {
                try command.run()
            } catch {
                exit(withError: error)
            }
            exit()
        }
        main(nil)
    }
}
