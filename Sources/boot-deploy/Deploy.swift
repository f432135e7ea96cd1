import ArgumentParser
import Glibc
import BootDeploy

extension BootDeployCommand {
    struct Deploy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a deployment from a prepared OS tree and make it the default.",
            discussion: "The tree holds its kernel at usr/lib/modules/KVER/vmlinuz and initramfs at usr/lib/modules/KVER/initramfs.img. Prints the new deployment's id. The kernel arguments and /etc changes of the merge deployment (the booted one of the stateroot, else its default) are carried over: --karg* edit the arguments (applied as --karg-delete, --karg, --karg-append), --no-etc-merge keeps the tree's /etc.")
        @OptionGroup var roots: RootOptions
        @Option var stateroot: String
        @Option(help: "The prepared OS tree.") var tree: String
        @Option(help: "Version shown in status (default: VERSION_ID of the tree's os-release).") var version: String?
        @Option(help: "Title of the boot entry (default: PRETTY_NAME of the tree's os-release).") var title: String?
        @Option(name: .customLong("karg"), help: "KEY[=VALUE]: replaces every inherited argument with this KEY (repeatable; several with one KEY are all kept).") var kargs: [String] = []
        @OptionGroup var kargOptions: DeployKargOptions
        @Option(help: "Boot attempts before the boot loader falls back (0 = no counter).") var tries: Int = 3
        @Flag(help: "Rename the tree into place instead of hard-linking it (same filesystem).") var move = false
        @Option(help: "The updater's digest of the content, kept in the record.") var digest: String?
        @Flag(help: "Keep a software boot counter (for boot loaders that count nothing).") var softwareCounter = false
        @Flag(help: "Boot without an initramfs: the entry runs the tree's usr/lib/bootdeploy/bd-prepare-root, installed into the physical root, as init= (the kernel must drive the root's disk and filesystem without modules). Required for a tree without initramfs.img.") var noInitramfs = false
        @Flag(help: "Boot as a unified kernel image: the tree's own usr/lib/modules/KVER/*.efi (its command line replaced) or one built with objcopy on systemd's stub; signed with sbsign when uki.conf names a key (docs/UKI.md). Also on when the stateroot's uki.conf says 'uki yes'.") var uki = false
        @Flag(help: "Prepare everything now, write /boot at shutdown (boot-deploy finalize, run by bootdeploy-finalize.service).") var stage = false
        @Flag(help: "With --stage: do not finalize until 'boot-deploy finalize --unlock'.") var lockFinalization = false
        @Flag(help: "With --stage: do not start bootdeploy-finalize.service.") var noStartUnit = false
        func validate() throws {
            if lockFinalization && !stage { throw ValidationError("--lock-finalization needs --stage") }
        }
        func run() throws {
            try guarded {
                var req = DeployRequest(stateroot: stateroot, tree: tree, version: version, title: title, kargs: kargs, tries: tries,
                                        move: move, digest: digest, softwareCounter: softwareCounter)
                kargOptions.apply(to: &req)
                let m = try roots.manager(cmdlineLimit: kargOptions.limit.cmdlineLimit)
                req.noInitramfs = noInitramfs
                req.uki = uki
                if stage {
                    let s = try m.stage(req, locked: lockFinalization)
                    if !noStartUnit { startFinalizeUnit() }
                    print(s.name)
                    return
                }
                let r = try m.deployReporting(req)
                reportEtcMerge(r)
                print(r.record.name)
            }
        }
    }
}
