import BootDeployEarlyBoot
import BootDeploySystem
import Foundation
import TestSupport
import Testing

@Suite("prepare-root on a real loop-mounted ext4 root, in private mount namespaces", .serialized)
struct PrepareRootMountTests {
    @Test("the deployment becomes the root at /sysroot with var, read-only usr and the physical root inside")
    func mountsTheDeployment() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("mountsTheDeployment", because: why) }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "main", attempts: "0\n")
        if let why = try root.makeImage() { try TestEnv.skip("mountsTheDeployment", because: why) }
        root.tmp.write("cmdline", "BOOT_IMAGE=/vmlinuz root=LABEL=bdroot rw bootdeploy=os/\(id) quiet\n")
        var efi: [UInt8] = [7, 0, 0, 0]
        for u in "\\loader\\entries\\bd-os-002+2-1.conf".utf16 { efi += [UInt8(u & 0xff), UInt8(u >> 8)] }
        efi += [0, 0]
        root.tmp.mkdir("efivars")
        _ = FileManager.default.createFile(atPath: root.path("efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"), contents: Data(efi))
        let r = try inMountNamespace(root.mountScript() + """
            cat /proc/self/mountinfo > $T/before
            prep $T/cmdline > $T/out 2> $T/err; echo $? > $T/rc
            cat /proc/self/mountinfo > $T/after
            cat $T/sysroot/usr/bin/marker > $T/probe.usr
            cat $T/sysroot/var/lib/marker > $T/probe.var
            touch $T/sysroot/usr/bin/new 2> $T/probe.usrwrite; echo $? >> $T/probe.usrwrite
            touch $T/sysroot/var/written && ls $T/sysroot/sysroot/bootdeploy/os/var/ > $T/probe.varwrite
            cat $T/sysroot/sysroot/bootdeploy/os/deploy/\(id).attempts > $T/probe.attempts
            ls -a $T/sysroot/sysroot/bootdeploy/os/deploy/ > $T/probe.deploydir
            """)
        #expect(r.ok, "\(r.stdout) \(r.stderr)")
        #expect(root.read("rc") == "0\n", "stderr: \(root.read("err"))")
        #expect(root.read("err").isEmpty)
        let sysroot = root.path("sysroot")
        let after = try root.table("after")
        let before = try root.table("before")
        let physical = try #require(before.last { $0.target == sysroot })
        let top = try #require(after.last { $0.target == sysroot })
        #expect(top.root == "/bootdeploy/os/deploy/\(id)" && top.source == physical.source && !top.readOnly)
        #expect(top.parentID == physical.id, "the deployment sits on the physical root's mount, which stays below it")
        let inner = after.filter { $0.target.hasPrefix(sysroot + "/") }
        #expect(inner.map(\.target) == [sysroot + "/sysroot", sysroot + "/var", sysroot + "/usr"])
        let bySuffix = Dictionary(uniqueKeysWithValues: inner.map { (String($0.target.dropFirst(sysroot.count)), $0) })
        #expect(bySuffix["/sysroot"]?.root == "/" && bySuffix["/sysroot"]?.readOnly == false)
        #expect(bySuffix["/var"]?.root == "/bootdeploy/os/var" && bySuffix["/var"]?.readOnly == false)
        #expect(bySuffix["/usr"]?.root == "/bootdeploy/os/deploy/\(id)/usr" && bySuffix["/usr"]?.readOnly == true)
        for m in inner + [top] {
            #expect(m.source == physical.source, "\(m.target) comes from the physical root's filesystem")
            #expect(m.propagation == .private, "\(m.target) is private")
            #expect(m.parentID == (m.target == sysroot ? physical.id : top.id), "\(m.target) is mounted inside the deployment")
        }
        #expect(physical.propagation == .shared, "the fixture starts shared, like systemd's initramfs")
        #expect(after.first { $0.id == physical.id }?.propagation == .private, "the physical root was made private for MS_MOVE")
        #expect(root.read("probe.usr") == "main\n")
        #expect(root.read("probe.var") == "var of os\n")
        #expect(root.read("probe.usrwrite").contains("Read-only file system"))
        #expect(root.read("probe.varwrite").contains("written"), "writes to /var land in the stateroot's var")
        #expect(root.read("probe.attempts") == "1\n", "the software counter counted this boot")
        #expect(!root.read("probe.deploydir").contains(".tmp"), "no temporary file is left")

        let booted = try JSONValue.parse(root.read("run/booted.json"))
        #expect(booted["schema"]?.int == 1 && booted["stateroot"]?.string == "os" && booted["id"]?.string == "\(id)")
        #expect(booted["deployment"]?.string == "bootdeploy/os/deploy/\(id)")
        #expect(booted["loaderEntry"]?.string == "bd-os-002+2-1.conf")
        #expect(booted["softwareAttempts"]?.int == 1)
        let now = Int(Date().timeIntervalSince1970)
        #expect(abs((booted["bootedAt"]?.int ?? 0) - now) < 120)
        #expect(root.read("kmsg").hasPrefix("<6>bootdeploy-prepare-root: os/\(id): deployment mounted at"))
    }

    @Test("an administrator's binds from layout.conf are mounted, read-only where asked")
    func administratorBinds() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("administratorBinds", because: why) }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "admin", adminBinds: [("srv", "/srv", true), ("data", "/opt/data", false)])
        if let why = try root.makeImage() { try TestEnv.skip("administratorBinds", because: why) }
        root.tmp.write("cmdline", "bootdeploy=os/\(id)")
        let r = try inMountNamespace(root.mountScript() + """
            prep $T/cmdline > $T/out 2> $T/err; echo $? > $T/rc
            cat /proc/self/mountinfo > $T/after
            cat $T/sysroot/srv/marker $T/sysroot/opt/data/marker > $T/probe.markers
            touch $T/sysroot/srv/x 2> $T/probe.srvwrite; touch $T/sysroot/opt/data/x && echo written > $T/probe.datawrite
            """)
        #expect(r.ok, "\(r.stderr)")
        #expect(root.read("rc") == "0\n", "\(root.read("err"))")
        let after = try root.table("after")
        let srv = after.last { $0.target == root.path("sysroot/srv") }
        let data = after.last { $0.target == root.path("sysroot/opt/data") }
        #expect(srv?.root == "/bootdeploy/os/srv" && srv?.readOnly == true)
        #expect(data?.root == "/bootdeploy/os/data" && data?.readOnly == false)
        #expect(root.read("probe.markers") == "admin srv\nadmin data\n")
        #expect(root.read("probe.srvwrite").contains("Read-only file system"))
        #expect(root.read("probe.datawrite") == "written\n")
    }

    @Test("boot-deploy prepare-root is the same entry point: same mounts, same one-line failure")
    func bootDeploySubcommand() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("bootDeploySubcommand", because: why) }
        let tool = TestEnv.tool("boot-deploy")
        guard FileManager.default.isExecutableFile(atPath: tool), (try? run(tool, ["prepare-root", "--help"]))?.ok == true else {
            try TestEnv.skip("bootDeploySubcommand", because: "boot-deploy prepare-root is not built")
        }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "cli")
        if let why = try root.makeImage() { try TestEnv.skip("bootDeploySubcommand", because: why) }
        root.tmp.write("cmdline", "bootdeploy=os/\(id)")
        root.tmp.write("cmdline.bad", "bootdeploy=os/../x")
        let r = try inMountNamespace(root.mountScript() + """
            cat /proc/self/mountinfo > $T/before
            \(tool) prepare-root --sysroot $T/sysroot --cmdline-file $T/cmdline.bad --run-dir $T/run --kmsg $T/kmsg 2> $T/err.bad; echo $? > $T/rc.bad
            "$B" --sysroot $T/sysroot --cmdline-file $T/cmdline.bad --run-dir $T/run --kmsg $T/kmsg 2> $T/err.bad2
            cat /proc/self/mountinfo > $T/between
            \(tool) prepare-root --sysroot $T/sysroot --cmdline-file $T/cmdline --run-dir $T/run --kmsg $T/kmsg > $T/out 2> $T/err; echo $? > $T/rc
            cat /proc/self/mountinfo > $T/after
            """)
        #expect(r.ok, "\(r.stderr)")
        #expect(root.read("rc.bad") == "1\n" && root.read("err.bad") == root.read("err.bad2"), "\(root.read("err.bad"))")
        #expect(normalizedMountinfo(root.read("between")) == normalizedMountinfo(root.read("before")))
        #expect(root.read("rc") == "0\n", "\(root.read("err"))")
        let after = try root.table("after")
        #expect(after.last { $0.target == root.path("sysroot") }?.root == "/bootdeploy/os/deploy/\(id)")
        #expect(after.last { $0.target == root.path("sysroot/usr") }?.readOnly == true)
        #expect(root.read("run/booted.json").contains("\"id\": \"\(id)\""))
    }

    @Test("a read-only physical root is remounted read-write for the counter and back read-only")
    func readOnlyRootCounter() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("readOnlyRootCounter", because: why) }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "ro", attempts: "4\n")
        if let why = try root.makeImage() { try TestEnv.skip("readOnlyRootCounter", because: why) }
        root.tmp.write("cmdline", "ro bootdeploy=os/\(id)")
        let r = try inMountNamespace(root.mountScript(readOnly: true) + """
            prep $T/cmdline > $T/out 2> $T/err; echo $? > $T/rc
            cat /proc/self/mountinfo > $T/after
            cat $T/sysroot/sysroot/bootdeploy/os/deploy/\(id).attempts > $T/probe.attempts
            """)
        #expect(r.ok, "\(r.stdout) \(r.stderr)")
        #expect(root.read("rc") == "0\n", "\(root.read("err"))")
        #expect(root.read("probe.attempts") == "5\n")
        #expect(root.read("out").contains("boot attempt 5") && root.read("out").contains("remounted read-write"), "\(root.read("out"))")
        let after = try root.table("after")
        let bind = try #require(after.last { $0.target == root.path("sysroot/sysroot") })
        #expect(bind.readOnly, "the physical root is read-only again, as the command line asked")
    }

    @Test("bad command lines and broken deployments fail with one line and leave no mount behind")
    func failuresLeaveNothing() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("failuresLeaveNothing", because: why) }
        let root = PhysicalRoot()
        let good = root.addDeployment(id: "good")
        let nousr = root.addDeployment(id: "nousr", omit: ["usr"])
        let norecord = root.addDeployment(id: "norecord")
        root.later { try FileManager.default.removeItem(atPath: root.tree + "/bootdeploy/os/deploy/\(norecord).json") }
        let badjson = root.addDeployment(id: "badjson", record: "{\"schema\": 1,\n  \"stateroot\": \"os\",, }")
        let symvar = root.addDeployment(id: "symvar", omit: ["var"])
        root.later { try FileManager.default.createSymbolicLink(atPath: root.tree + "/bootdeploy/os/deploy/\(symvar)/var", withDestinationPath: "/") }
        let novar = root.addDeployment(stateroot: "novar", id: "x", withVar: false)
        if let why = try root.makeImage() { try TestEnv.skip("failuresLeaveNothing", because: why) }
        let cases: [(cmdline: String, expect: String)] = [
            ("quiet", "no bootdeploy=<stateroot>/<id> on the kernel command line"),
            ("bootdeploy=../x", "bootdeploy=../x: stateroot must not start with '.' or '-'"),
            ("bootdeploy=os", "bootdeploy=os: expected exactly one '/'"),
            ("bootdeploy=", "bootdeploy= is empty"),
            ("bootdeploy", "bootdeploy= is empty"),
            ("bootdeploy=os/go\u{1}od", "bootdeploy=os/go\\x01od: id contains a character outside"),
            ("bootdeploy=os/missing.0", "deployment os/missing.0: \(root.path("sysroot"))/bootdeploy/os/deploy/missing.0 does not exist"),
            ("bootdeploy=os/\(norecord)", "deployment record \(root.path("sysroot"))/bootdeploy/os/deploy/\(norecord).json: No such file"),
            ("bootdeploy=os/\(badjson)", "\(badjson).json: line 2, column 21: unexpected ','"),
            ("bootdeploy=novar/\(novar)", "bind \(root.path("sysroot"))/bootdeploy/novar/var -> "),
            ("bootdeploy=os/\(nousr)", "bind \(root.path("sysroot"))/bootdeploy/os/deploy/\(nousr)/usr -> "),
            ("bootdeploy=os/\(symvar)", "deploy/\(symvar)/var is a symlink, refused"),
        ]
        var script = root.mountScript() + "cat /proc/self/mountinfo > $T/before\n"
        for (n, c) in cases.enumerated() {
            root.tmp.write("cmdline.\(n)", c.cmdline)
            script += "prep $T/cmdline.\(n) > $T/out.\(n) 2> $T/err.\(n); echo $? > $T/rc.\(n); cat /proc/self/mountinfo > $T/after.\(n)\n"
        }
        // And a sysroot that is not a mount point at all.
        root.tmp.write("cmdline.good", "bootdeploy=os/\(good)")
        script += "mkdir -p $T/plain; \"$B\" --sysroot $T/plain --cmdline-file $T/cmdline.good --kmsg $T/kmsg 2> $T/err.plain; echo $? > $T/rc.plain\n"
        let r = try inMountNamespace(script)
        #expect(r.ok, "\(r.stdout) \(r.stderr)")
        let before = normalizedMountinfo(root.read("before"))
        #expect(!before.isEmpty)
        for (n, c) in cases.enumerated() {
            let err = root.read("err.\(n)")
            #expect(root.read("rc.\(n)") == "1\n", "\(c.cmdline.debugDescription) exits 1")
            #expect(err.split(separator: "\n").count == 1 && err.hasPrefix("bootdeploy-prepare-root: "), "one line: \(err)")
            #expect(err.contains(c.expect), "\(c.cmdline.debugDescription): \(err)")
            #expect(normalizedMountinfo(root.read("after.\(n)")) == before, "\(c.cmdline.debugDescription) leaves the mount table as it was")
        }
        #expect(root.read("err.10").contains("(undid 3 mounts and the propagation change)"), "the failed usr bind undid deployment, sysroot and var: \(root.read("err.10"))")
        #expect(root.read("rc.plain") == "1\n" && root.read("err.plain").contains("is not a mount point"), "\(root.read("err.plain"))")
        let kmsg = root.read("kmsg").split(separator: "\n")
        #expect(kmsg.count == cases.count + 1 && kmsg.allSatisfy { $0.hasPrefix("<3>bootdeploy-prepare-root: ") }, "every failure is in the kernel log too")
    }

    @Test("an error injected at each mutating call is undone completely; a kill never corrupts the counter")
    func faultAtEveryStep() throws {
        if let why = privilegedSkipReason() { try TestEnv.skip("faultAtEveryStep", because: why) }
        let root = PhysicalRoot()
        let id = root.addDeployment(id: "f", attempts: "0\n")
        if let why = try root.makeImage() { try TestEnv.skip("faultAtEveryStep", because: why) }
        root.tmp.write("cmdline", "bootdeploy=os/\(id)")
        // Learn the crash points from a successful run's trace, in a namespace of its own.
        let trace = try inMountNamespace(root.mountScript() + "BOOTDEPLOY_FAULT_TRACE=$T/trace prep $T/cmdline >/dev/null 2>$T/err; echo $? > $T/rc")
        #expect(trace.ok && root.read("rc") == "0\n", "\(root.read("err"))")
        let points = root.read("trace").split(separator: "\n")
        let ops = points.map { $0.split(separator: " ")[1] }
        #expect(ops.contains("mount[bind]") && ops.contains("mount[move]") && ops.contains("mount[make-rprivate]") && ops.contains("rename"),
                "mount calls and the counter's writes pass the fault seam: \(ops)")
        #expect(points.count >= 10)

        var script = root.mountScript() + "cat /proc/self/mountinfo > $T/before\n"
        for k in 1...points.count {
            script += """
                BOOTDEPLOY_FAULT_AT=\(k) BOOTDEPLOY_FAULT_MODE=error prep $T/cmdline >/dev/null 2> $T/ferr.\(k); echo $? > $T/frc.\(k)
                cat /proc/self/mountinfo > $T/fafter.\(k)

                """
        }
        let r = try inMountNamespace(script)
        #expect(r.ok, "\(r.stderr)")
        let before = normalizedMountinfo(root.read("before"))
        for k in 1...points.count {
            let err = root.read("ferr.\(k)")
            #expect(root.read("frc.\(k)") == "1\n", "fault at \(points[k - 1]) fails the run")
            #expect(err.split(separator: "\n").count == 1 && err.contains("Input/output error"), "fault at \(points[k - 1]): \(err)")
            #expect(normalizedMountinfo(root.read("fafter.\(k)")) == before, "fault at \(points[k - 1]) leaves no mount behind")
        }

        // Killed at each point of the counter's update: the file holds the old or the new count.
        let counterPoints = points.enumerated().filter { $0.element.contains("attempts") }.map { $0.offset + 1 }
        #expect(!counterPoints.isEmpty)
        var kill = root.mountScript()
        for k in counterPoints {
            kill += """
                BOOTDEPLOY_FAULT_AT=\(k) BOOTDEPLOY_FAULT_MODE=kill prep $T/cmdline >/dev/null 2>&1; echo $? > $T/krc.\(k)
                cat $T/sysroot/bootdeploy/os/deploy/\(id).attempts > $T/kcount.\(k)

                """
        }
        let kr = try inMountNamespace(kill)
        #expect(kr.ok, "\(kr.stderr)")
        var last = Int(root.read("kcount.\(counterPoints[0])").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        for k in counterPoints {
            #expect(root.read("krc.\(k)") == "137\n", "killed at \(k)")
            let n = Int(root.read("kcount.\(k)").trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(n != nil, "the counter is a count after a kill at \(points[k - 1])")
            if let n { #expect(n == last || n == last + 1); last = n }
        }
    }
}
