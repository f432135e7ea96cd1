import BootDeployEarlyBoot
import BootDeploySystem
import Foundation
import TestSupport
import Testing

@Suite("prepare-root as init= (no initramfs)", .serialized)
struct InitModeTests {
    @Test("as init it mounts /proc on the old root and carries it over, mounts /run in the new root, switches root and executes bootdeploy.init=")
    func switchesRootAndExecutesInit() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("switchesRootAndExecutesInit", because: why) }
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else {
            try TestEnv.skip("switchesRootAndExecutesInit", because: "busybox-static is not installed")
        }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "init", attempts: "2\n", busybox: true)
        // The physical root has a /proc (mounted there and carried over) but no /run (mounted
        // fresh in the new root after the switch).
        root.tmp.mkdir("physical/proc")
        if let why = try root.makeImage() { try TestEnv.skip("switchesRootAndExecutesInit", because: why) }
        root.tmp.write("cmdline", "root=LABEL=bdroot ro bootdeploy=os/\(id) bootdeploy.init=/bin/busybox")
        // The "real init" is busybox's shell, run inside the new root: it reports what it sees
        // into /run, the tmpfs prepare-root mounted and carried over.
        let probe = "cat /proc/self/mountinfo > /run/mi; cat /usr/bin/marker > /run/marker; /bin/busybox ls /sysroot/bootdeploy/os > /run/probe.physical 2>&1; echo $$ > /run/ran"
        let r = try inMountNamespace(root.mountScript(readOnly: true) + """
            "$B" --init --sysroot $T/sysroot --cmdline-file $T/cmdline --kmsg $T/kmsg -- sh -c '\(probe)' > $T/out 2> $T/err; echo $? > $T/rc
            cat /proc/self/mountinfo > $T/after
            cp $T/sysroot/run/mi $T/sysroot/run/marker $T/sysroot/run/probe.physical $T/sysroot/run/ran $T/ 2>> $T/err
            cp $T/sysroot/run/bootdeploy/booted.json $T/booted.json 2>> $T/err
            cat $T/sysroot/sysroot/bootdeploy/os/deploy/\(id).attempts > $T/attempts
            """)
        #expect(r.ok, "\(r.stdout) \(r.stderr)")
        #expect(root.read("rc") == "0\n", "the exec'd init's status: \(root.read("err"))")
        #expect(root.read("out").contains("os/\(id): deployment is the root, executing /bin/busybox"), "\(root.read("out"))")
        #expect(root.read("marker") == "init\n", "the real init saw the deployment's /usr")
        #expect(root.read("probe.physical").contains("deploy") && root.read("probe.physical").contains("var"), "the physical root is at /sysroot inside: \(root.read("probe.physical"))")
        #expect(root.read("attempts") == "3\n")
        let booted = try JSONValue.parse(root.read("booted.json"))
        #expect(booted["id"]?.string == "\(id)" && booted["softwareAttempts"]?.int == 3)

        // From inside: / is the deployment, /proc and /run were moved in, /usr is read-only.
        let inside = try root.table("mi")
        #expect(inside.first { $0.target == "/" }?.root == "/bootdeploy/os/deploy/\(id)")
        #expect(inside.contains { $0.target == "/proc" && $0.fstype == "proc" })
        #expect(inside.contains { $0.target == "/run" && $0.fstype == "tmpfs" })
        #expect(inside.first { $0.target == "/usr" }?.readOnly == true)
        #expect(inside.first { $0.target == "/var" }?.root == "/bootdeploy/os/var")
        #expect(inside.first { $0.target == "/sysroot" }?.root == "/")

        // From outside (same namespace): the old root's API mounts moved, none left behind.
        let after = try root.table("after")
        let s = root.path("sysroot")
        #expect(!after.contains { $0.target == s + "/sysroot/proc" || $0.target == s + "/sysroot/run" })
        #expect(after.contains { $0.target == s + "/proc" && $0.fstype == "proc" })
    }

    @Test("as init a failure undoes the mounts, including the API filesystems it mounted")
    func initFailureUndoes() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("initFailureUndoes", because: why) }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "nousr", omit: ["usr"])
        root.tmp.mkdir("physical/proc")
        root.tmp.mkdir("physical/run")
        if let why = try root.makeImage() { try TestEnv.skip("initFailureUndoes", because: why) }
        root.tmp.write("cmdline", "bootdeploy=os/\(id)")
        let r = try inMountNamespace(root.mountScript() + """
            cat /proc/self/mountinfo > $T/before
            "$B" --init --sysroot $T/sysroot --cmdline-file $T/cmdline --kmsg $T/kmsg > $T/out 2> $T/err; echo $? > $T/rc
            cat /proc/self/mountinfo > $T/after
            """)
        #expect(r.ok, "\(r.stderr)")
        #expect(root.read("rc") == "1\n")
        #expect(root.read("err").contains("\(id)/usr does not exist"), "\(root.read("err"))")
        #expect(normalizedMountinfo(root.read("after")) == normalizedMountinfo(root.read("before")))
    }
}
