import BootDeployEarlyBoot
import Glibc

// Thin on purpose: all logic lives in BootDeployEarlyBoot, which `boot-deploy prepare-root` shares.
exit(PrepareRoot.main(CommandLine.arguments))
