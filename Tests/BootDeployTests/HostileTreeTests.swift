import Foundation
import Testing
import TestSupport

/// Trees that try to break deploy: depth that would overflow a recursive walk, and trees that are
/// (or hold, or lie inside) BootDeploy's own sysroot.
@Suite("Hostile trees", .serialized)
struct HostileTreeTests {
    /// Nests `depth` directories `d/d/d/...` below `path`, with a file at the bottom.
    static let nestScript = """
        python3 -c 'import os,sys; os.makedirs(sys.argv[1], exist_ok=True); os.chdir(sys.argv[1])
        for _ in range(int(sys.argv[2])): os.mkdir("d"); os.chdir("d")
        open("bottom", "w").write("x")'
        """

    /// How deep `d/d/...` goes below a path, and whether `bottom` is there.
    static let depthScript = """
        python3 -c 'import os,sys; os.chdir(sys.argv[1]); n=0
        while os.path.isdir("d"): os.chdir("d"); n+=1
        print(n, os.path.exists("bottom"))'
        """

    /// Deploys and undeploys a tree `levels` directories deep. Everything lives on tmpfs in a
    /// private namespace: removing 100,000 nested directories from a disk filesystem takes
    /// minutes of journal I/O here, on tmpfs a second.
    func deepDeploy(_ levels: Int) throws {
        let m = Machine(label: "bddeep")
        let ns = try Namespace()
        let trees = m.tmp.sub("deeptrees")
        _ = m.tree("a", kernel: "k1")
        _ = m.tree("deep", kernel: "k2")
        try ns.must("mkdir -p '\(trees)' && for d in '\(m.root)' '\(m.boot)' '\(trees)'; do mount -t tmpfs none \"$d\"; done && cp -a '\(m.tmp.sub("trees"))/.' '\(trees)/'")
        try ns.must("\(Self.nestScript) '\(trees)/deep/usr/share' \(levels)")
        let n = NSMachine(m, ns)
        try n.ok("init", ["--stateroot", "os"])
        let first = try n.ok("deploy", ["--stateroot", "os", "--tree", trees + "/a", "--karg", "root=x"])
        let start = Date()
        let r = try n.bd("deploy", ["--stateroot", "os", "--tree", trees + "/deep", "--karg", "root=x"])
        print("deploy of a tree \(levels) directories deep: \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        #expect(r.ok, "deploy of a \(levels)-deep tree: \(r.status) \(r.stderr.suffix(400))")
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let dep = m.root + "/bootdeploy/" + id.replacingOccurrences(of: "/", with: "/deploy/")
        #expect(try ns.must("\(Self.depthScript) '\(dep)/usr/share'").trimmingCharacters(in: .whitespacesAndNewlines) == "\(levels) True")
        // Removing it walks the same depth.
        try n.ok("set-default", [first])
        let u = try n.bd("undeploy", [id])
        #expect(u.ok, "undeploy of the deep deployment: \(u.stderr.suffix(400))")
        #expect(!(try ns.sh("test -e '\(dep)'").ok), "the deep deployment is still there")
    }

    @Test("a tree of 5,000 nested directories deploys and undeploys", .enabled(if: TestEnv.isRoot))
    func fiveThousandLevels() throws { try deepDeploy(5_000) }

    @Test("a tree of 100,000 nested directories deploys and undeploys", .enabled(if: TestEnv.isRoot))
    func hundredThousandLevels() throws { try deepDeploy(100_000) }

    @Test("--tree that is the sysroot, holds it, is a deployment or BootDeploy's state is refused, and nothing changes")
    func treeIsOrHoldsTheSysroot() throws {
        let m = Machine(label: "bdself")
        // The sysroot holds a complete OS tree, as a real physical root may.
        _ = m.tree("x")
        try sh("cp -a '\(m.tmp.sub("trees/x"))/.' '\(m.root)/'")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let dep = m.root + "/bootdeploy/" + a.replacingOccurrences(of: "/", with: "/deploy/")
        let before = try treeDigest(m.root) + treeDigest(m.boot)
        let cases: [(tree: String, moves: [Bool], word: String)] = [
            (m.root, [false, true], "holds"), (m.tmp.path, [false, true], "holds"), (m.root + "/bootdeploy", [false, true], "holds"),
            (dep, [false, true], "is the existing deployment"), (dep + "/usr", [true], "lies inside the deployment"),
            (m.root + "/bootdeploy/os/var", [false, true], "lies inside"), (m.root + "/bootdeploy/os/deploy", [false, true], "lies inside"),
        ]
        for c in cases {
            for move in c.moves {
                let r = try m.bd("deploy", ["--stateroot", "os", "--tree", c.tree, "--karg", "root=x"] + (move ? ["--move"] : []))
                #expect(r.status == 1, "--tree \(c.tree)\(move ? " --move" : ""): \(r.status) \(r.stderr)")
                #expect(r.stderr.contains("--tree \(c.tree)") && r.stderr.contains(c.word), "\(c.tree): \(r.stderr)")
            }
        }
        #expect(try treeDigest(m.root) + treeDigest(m.boot) == before, "a refused deploy changed something")
    }

    @Test("on the booted system a tree under /sysroot or in the stateroot's var deploys, although / is a deployment", .enabled(if: TestEnv.isRoot))
    func treesAnUpdaterUsesOnTheBootedSystem() throws {
        let m = Machine(label: "bdbooted")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let dep = m.root + "/bootdeploy/" + a.replacingOccurrences(of: "/", with: "/deploy/")
        // An update placed in the physical root, and one downloaded into the stateroot's /var.
        try sh("mkdir -p '\(m.root)/updates' '\(m.root)/bootdeploy/os/var/tmp' && cp -a '\(m.tree("b", kernel: "k2"))' '\(m.root)/updates/b' && cp -a '\(m.tree("c", kernel: "k3"))' '\(m.root)/bootdeploy/os/var/tmp/c'")
        // The booted layout: the deployment is the root (a bind mount), the physical root is
        // mounted at its /sysroot and the stateroot's var at its /var.
        let view = m.tmp.sub("booted-root")
        // As on the booted system: --sysroot is the physical root's mount point there.
        let args = ["--sysroot", view + "/sysroot", "--boot", m.boot, "--run-dir", m.run, "--boot-strategy", m.strategy]
        let bd = "'\(TestEnv.tool("boot-deploy"))' deploy \(args.map { "'\($0)'" }.joined(separator: " ")) --stateroot os --karg root=x"
        let r = try inMountNamespace("""
            mkdir -p '\(view)' && mount --bind '\(dep)' '\(view)' && mount --bind '\(m.root)' '\(view)/sysroot' && \
            mount --bind '\(m.root)/bootdeploy/os/var' '\(view)/var' && \
            \(bd) --tree '\(view)/sysroot/updates/b' && \(bd) --tree '\(view)/var/tmp/c' && \
            { \(bd) --tree '\(view)/var/tmp/c' --move; echo "move-across-mounts=$?"; } && \
            \(bd) --tree '\(view)/sysroot/bootdeploy/os/var/tmp/c' --move
            """)
        #expect(r.status == 0, "\(r.status) \(r.stderr)")
        // /var is another mount than /sysroot: rename cannot cross it, and the refusal says where to look.
        #expect(r.stdout.contains("move-across-mounts=1") && r.stderr.contains("same mount"), "\(r.stdout) \(r.stderr)")
        #expect(try m.deployments().count == 4)
        #expect(!FileManager.default.fileExists(atPath: m.root + "/bootdeploy/os/var/tmp/c"), "--move took the download into place")
    }

    @Test("the booted deployment seen through a bind mount cannot be deployed with --move", .enabled(if: TestEnv.isRoot))
    func bootedDeploymentThroughBindMount() throws {
        let m = Machine(label: "bdbind")
        try m.initOS()
        let a = try m.deploy(m.tree("a", kernel: "k1"))
        let dep = m.root + "/bootdeploy/" + a.replacingOccurrences(of: "/", with: "/deploy/")
        let view = m.tmp.sub("booted-root")
        let r = try inMountNamespace("""
            mkdir -p '\(view)' && mount --bind '\(dep)' '\(view)' && \
            exec '\(TestEnv.tool("boot-deploy"))' deploy \(m.globalArgs.map { "'\($0)'" }.joined(separator: " ")) --stateroot os --tree '\(view)/usr' --move --karg root=x
            """)
        #expect(r.status == 1, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("inside"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dep + "/usr/bin/hello"), "the booted deployment lost its /usr")
    }
}
