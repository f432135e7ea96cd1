import BootDeployEarlyBoot
import BootDeploySystem
import Glibc

// Thin on purpose: all logic lives in BootDeployEarlyBoot, which `boot-deploy prepare-root` shares.
// ProcessArguments, not CommandLine.arguments: the latter needs /proc, absent when running as init=.
exit(PrepareRoot.main(ProcessArguments.current))
