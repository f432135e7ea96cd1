// swift-tools-version:6.1
import PackageDescription

// Targets are layered so that the compiler keeps the boundaries:
//   BootDeploySystem   — every syscall, libmount, libblkid; no Foundation.
//   BootDeployEarlyBoot — prepare-root's logic; no Foundation (it runs on every boot).
//   BootDeploy          — entries, sysroot, planning, transaction, health; FoundationEssentials only.

// Release link of the executables: every function in its own section, unreferenced sections
// dropped, identical code folded where no address is taken, and only what the C libraries need
// exported (the static Swift runtime's link file asks for -export-dynamic, which keeps every symbol
// alive and costs ld.so relocations on every start). docs/PERFORMANCE.md has the measurements.
let releaseSections: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release)),
]
// scripts/link/libstdc++.so makes the runtime's -lstdc++ the static archive (one library fewer
// to load on every start and to carry in the initramfs).
let releaseLink: [LinkerSetting] = [
    .unsafeFlags(
        ["-Xlinker", "--gc-sections", "-Xlinker", "--icf=safe", "-Xlinker", "--no-export-dynamic",
         "-L\(Context.packageDirectory)/scripts/link"],
        .when(configuration: .release)),
]

let package = Package(
    name: "BootDeploy",
    products: [
        .library(name: "BootDeploy", targets: ["BootDeploy"]),
        .executable(name: "boot-deploy", targets: ["boot-deploy"]),
        .executable(name: "boot-health", targets: ["boot-health"]),
        .executable(name: "bd-prepare-root", targets: ["bd-prepare-root"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(name: "CMount", pkgConfig: "mount", providers: [.apt(["libmount-dev"])]),
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // SHA-256 for content addressing; boot-deploy and boot-health only, never early boot.
        .systemLibrary(name: "CCrypto", pkgConfig: "libgcrypt", providers: [.apt(["libgcrypt20-dev"])]),
        .target(
            name: "CBootDeployShim",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "CSystemdShim",
            dependencies: ["CSystemd"],
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "BootDeploySystem",
            dependencies: [
                "CBootDeployShim", "CMount", "CBlkid",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            // The fault-injection seam (crash tests) is compiled into debug builds only.
            swiftSettings: [.define("BOOTDEPLOY_FAULT_INJECTION", .when(configuration: .debug))] + releaseSections
        ),
        .target(
            name: "BootDeployEarlyBoot",
            dependencies: ["BootDeploySystem"],
            swiftSettings: releaseSections
        ),
        .target(
            name: "BootDeploy",
            dependencies: ["BootDeploySystem", "BootDeployEarlyBoot", "CCrypto"],
            swiftSettings: releaseSections
        ),
        // Health needs the bus and the journal; kept apart so that boot-deploy's core does not.
        .target(
            name: "BootDeployHealth",
            dependencies: ["BootDeploy", "BootDeployEarlyBoot", "CSystemdShim"],
            swiftSettings: releaseSections
        ),
        // One start-up shortcut for both command-line tools (ArgumentParser only).
        .target(
            name: "BootDeployCLI",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: releaseSections
        ),
        .executableTarget(
            name: "boot-deploy",
            // CSystemdShim: starting bootdeploy-finalize.service over sd-bus (deploy --stage).
            dependencies: ["BootDeploy", "BootDeployCLI", "CSystemdShim", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: releaseSections,
            linkerSettings: releaseLink
        ),
        .executableTarget(
            name: "boot-health",
            dependencies: ["BootDeployHealth", "BootDeployCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: releaseSections,
            linkerSettings: releaseLink
        ),
        // The early-boot binary: no Foundation, no ArgumentParser, no libsystemd.
        .executableTarget(
            name: "bd-prepare-root",
            dependencies: ["BootDeployEarlyBoot"],
            swiftSettings: releaseSections,
            linkerSettings: releaseLink
        ),
        // Shared fixtures for the test targets: temporary roots, running the built tools.
        .target(name: "TestSupport", dependencies: ["BootDeploySystem"], path: "Tests/TestSupport"),
        .testTarget(name: "EntriesTests", dependencies: ["BootDeploy", "TestSupport"]),
        .testTarget(name: "BootDeployTests", dependencies: ["BootDeploy", "TestSupport"]),
        .testTarget(name: "EarlyBootTests", dependencies: ["BootDeployEarlyBoot", "BootDeploy", "TestSupport"]),
        .testTarget(name: "HealthTests", dependencies: ["BootDeployHealth", "TestSupport"]),
        .testTarget(name: "EtcMergeTests", dependencies: ["BootDeploy", "TestSupport"]),
        .testTarget(name: "UKITests", dependencies: ["BootDeploy", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
