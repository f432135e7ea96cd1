import BootDeployEarlyBoot
/// systemd-boot (and bootctl, and any Type #1 reader): the entries are all it reads, so there is
/// nothing to generate, install or check beyond them. Its counter is the entry file name
/// (`+LEFT-DONE`), renamed by systemd-boot at each attempt.
public struct SystemdBootBackend: BootLoaderBackend {
    public var kind: BootLoaderKind { .systemdBoot }

    public init() {}

    public static func detect(_ boot: BootPartition) -> Bool { true }

    public func generatedFiles(_ plan: BootPlan, records: [DeploymentName: DeploymentRecord], context: BootLoaderContext) throws(BootDeployError) -> [GeneratedFile] { [] }

    public func install(_ context: BootLoaderContext) throws(BootDeployError) {}

    public func validate(_ context: BootLoaderContext, state: BootEntriesState) -> [String] { [] }
}
