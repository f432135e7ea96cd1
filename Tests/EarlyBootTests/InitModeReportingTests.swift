import BootDeployEarlyBoot
import BootDeploySystem
import Foundation
import TestSupport
import Testing

/// As init= (no initramfs) prepare-root mounts what it needs to report: devtmpfs for /dev/kmsg,
/// efivarfs (loading the module from the deployment), and it keeps the loader's LD_LIBRARY_PATH
/// (set by an entry of `deploy --no-initramfs`) away from the real init.
@Suite("prepare-root as init=: what it mounts to report", .serialized)
struct InitModeReportingTests {
    @Test("efivarfs is loaded only as an uncompressed .ko without dependencies, found in modules.dep")
    func standaloneModuleFromModulesDep() {
        let dep = """
            kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
            kernel/fs/fat/fat.ko:
            kernel/fs/efivarfs/efivarfs.ko:
            kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko
            """
        #expect(PrepareRoot.standaloneModule("efivarfs", modulesDep: dep) == "kernel/fs/efivarfs/efivarfs.ko")
        #expect(PrepareRoot.standaloneModule("fat", modulesDep: dep) == "kernel/fs/fat/fat.ko")
        #expect(PrepareRoot.standaloneModule("vfat", modulesDep: dep) == nil, "has a dependency")
        #expect(PrepareRoot.standaloneModule("xfs", modulesDep: dep) == nil, "compressed")
        #expect(PrepareRoot.standaloneModule("efivar", modulesDep: dep) == nil)
        #expect(PrepareRoot.standaloneModule("efivarfs", modulesDep: "kernel/fs/efivarfs/efivarfs.ko.zst:\n") == nil)
    }

    @Test("as init on a physical root without /dev: devtmpfs is mounted in the new root, /dev/kmsg works, LD_LIBRARY_PATH of the early-boot install does not reach the real init")
    func devtmpfsAndEnvironment() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("devtmpfsAndEnvironment", because: why) }
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else {
            try TestEnv.skip("devtmpfsAndEnvironment", because: "busybox-static is not installed")
        }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "dev", busybox: true)
        if let why = try root.makeImage() { try TestEnv.skip("devtmpfsAndEnvironment", because: why) }
        root.tmp.write("cmdline", "root=LABEL=bdroot rw bootdeploy=os/\(id) bootdeploy.init=/bin/busybox")
        let probe = "cat /proc/self/mountinfo > /run/mi; test -c /dev/kmsg && echo yes > /run/kmsg; echo \"${LD_LIBRARY_PATH-unset} ${BDTEST-unset}\" > /run/env"
        let r = try inMountNamespace(root.mountScript() + """
            test -e $T/sysroot/dev && { echo "the physical root must have no /dev here"; exit 91; }
            env LD_LIBRARY_PATH=/bootdeploy/early-boot/0123/lib BDTEST=kept "$B" --init --sysroot $T/sysroot --cmdline-file $T/cmdline --kmsg $T/kmsg -- sh -c '\(probe)' > $T/out 2> $T/err; echo $? > $T/rc
            cp $T/sysroot/run/mi $T/sysroot/run/env $T/ 2>> $T/err; cp $T/sysroot/run/kmsg $T/kmsg.ok 2>> $T/err
            """)
        #expect(r.ok, "\(r.stdout) \(r.stderr)")
        #expect(root.read("rc") == "0\n", "\(root.read("err"))")
        let inside = try root.table("mi")
        let dev = inside.first { $0.target == "/dev" }
        #expect(dev?.fstype == "devtmpfs", "\(inside.map { "\($0.target) \($0.fstype)" })")
        #expect(dev?.readOnly == false)
        #expect(root.read("kmsg.ok") == "yes\n", "/dev/kmsg is a character device in the new root")
        #expect(root.read("env") == "unset kept\n", "\(root.read("env"))")
    }
}
