import ArgumentParser
import BootDeploy
import BootDeployEarlyBoot
import Glibc

/// `--cmdline-limit`, shared by every command that writes kernel arguments (deploy, kargs, finalize).
struct CommandLineLimitOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The kernel's COMMAND_LINE_SIZE in bytes (NUL included); a longer command line is refused.",
        discussion: "Default: 'limit BYTES' in $SYSROOT/bootdeploy/STATEROOT/cmdline.conf, else 2048 (x86, arm64)."))
    var cmdlineLimit: Int?
}

/// How `deploy` builds the new deployment's kernel arguments and /etc from the merge deployment
/// (the booted one of the stateroot, else its default): README, docs/STAGING.md.
struct DeployKargOptions: ParsableArguments {
    @Option(name: .customLong("karg-append"), help: "Append an argument (repeatable).")
    var append: [String] = []
    @Option(name: .customLong("karg-delete"), help: "Delete every inherited argument with KEY, or exactly KEY=VALUE (repeatable).")
    var delete: [String] = []
    @Flag(name: .customLong("karg-none"), help: "Start from no arguments instead of the merge deployment's.")
    var none = false
    @Flag(name: .customLong("karg-proc-cmdline"), help: "Start from the running kernel's command line (without bootdeploy=, BOOT_IMAGE=, initrd=).")
    var procCmdline = false
    @Option(help: "Where --karg-proc-cmdline reads the command line.")
    var cmdlineFile = "/proc/cmdline"
    @Flag(help: "Do not merge the merge deployment's /etc changes (image builds: the tree's /etc is used as it is).")
    var noEtcMerge = false
    @OptionGroup var limit: CommandLineLimitOption

    func validate() throws {
        if none && procCmdline { throw ValidationError("--karg-none and --karg-proc-cmdline exclude each other") }
    }

    func apply(to req: inout DeployRequest) {
        req.kargsAppend = append
        req.kargsDelete = delete
        req.kargsBase = none ? .none : procCmdline ? .commandLine(file: cmdlineFile) : .mergeDeployment
        req.mergeEtc = !noEtcMerge
    }
}

/// Says on stderr what the /etc merge of a deploy carried over and warned about.
func reportEtcMerge(_ r: DeployResult) {
    guard let e = r.etcMerge else { return }
    for w in e.warnings { FileHandle.stderr("boot-deploy: warning: /etc merge: \(w)\n") }
    FileHandle.stderr("boot-deploy: \(e.localChanges.count) local /etc changes carried over from \(r.record.mergedFrom?.description ?? "the merge deployment")\n")
}
