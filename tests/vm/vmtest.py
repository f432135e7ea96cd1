#!/usr/bin/env python3
"""The real-boot suite: OVMF -> systemd-boot -> Debian kernel -> dracut initramfs (bd-prepare-root) ->
systemd, on images made with the project's own tools. Run through tests/vm/run.sh (make check-vm).

Each scenario builds its own disk image, boots it as many times as the story needs (one QEMU run per
boot, -no-reboot), and asserts on two things only: the ESP's file names (read back with mtools) and what
the guest itself reported over the serial console (guest/report). A scenario whose tool is missing
prints `SKIP: scenario N: <what>` and is not counted as passed.
"""
import argparse
import json
import re
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
from vmlib import VMError, sh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Env:
    """What every scenario shares: the cached base, the built binaries, the work directory."""

    def __init__(self, base, bindir, work, cache):
        self.base = base
        self.cache = cache
        self.bindir = bindir
        self.work = work
        self.kver = open(os.path.join(base, "kver")).read().strip()
        self.drivers = open(os.path.join(base, "drivers")).read().strip()
        self.times = {}

    def log(self, msg):
        print(msg, flush=True)

    def tool(self, name):
        p = os.path.join(self.bindir, name)
        return p if os.access(p, os.X_OK) else None

    def tree_copy(self, dest):
        """A writable copy of the base OS tree: hard links (instant); files are replaced, never edited."""
        if os.path.exists(dest):
            shutil.rmtree(dest)
        sh(["cp", "-al", os.path.join(self.base, "rootfs"), dest])
        return dest

    def install_guest_bits(self, tree):
        """The test-only report unit, and an fstab entry that mounts the ESP at /boot."""
        put(os.path.join(tree, "usr/lib/bdvm/report"), open(os.path.join(HERE, "guest/report")).read(), 0o755)
        put(os.path.join(tree, "etc/systemd/system/bdvm-report.service"),
            open(os.path.join(HERE, "guest/bdvm-report.service")).read())
        wants = os.path.join(tree, "etc/systemd/system/multi-user.target.wants")
        os.makedirs(wants, exist_ok=True)
        link = os.path.join(wants, "bdvm-report.service")
        if not os.path.lexists(link):
            os.symlink("/etc/systemd/system/bdvm-report.service", link)
        put(os.path.join(tree, "etc/fstab"),
            f"PARTUUID={vmlib.ESP_PARTUUID} /boot vfat umask=0077,nofail 0 0\n")
        # boot-health's Prometheus textfile goes to the physical root's bdvm/, which the report reads.
        put(os.path.join(tree, "etc/default/boot-health-metrics"), "TEXTFILE_DIR=/sysroot/bdvm\n")

    def install_project(self, tree):
        """`make install DESTDIR=tree` with our binaries (the release build of this run)."""
        sh(["make", "-C", REPO, "--no-print-directory", "-o", "release", "install", f"DESTDIR={tree}",
            f"RELEASE_BIN={self.bindir}"])


    # ---- the project's pieces -------------------------------------------------------------------

    def require(self, *names):
        """Skips the scenario unless every named piece exists (a tool, a subcommand, the dracut module)."""
        missing = []
        for n in names:
            if n == "dracut-module":
                if not os.path.isdir(os.path.join(REPO, "dracut/50bootdeploy")) or \
                        not any(f.endswith(".sh") for f in os.listdir(os.path.join(REPO, "dracut/50bootdeploy"))):
                    missing.append("dracut/50bootdeploy (module-setup.sh)")
                continue
            if n == "units":
                u = os.path.join(REPO, "units")
                if not os.path.isdir(u) or not any(f.startswith("boot-health") and f.endswith(".service")
                                                   for f in os.listdir(u)):
                    missing.append("units/boot-health*.service")
                continue
            tool, _, sub = n.partition(" ")
            path = self.tool(tool)
            if path is None:
                missing.append(f"{tool} binary")
                continue
            if sub and not self.has_subcommand(path, sub):
                missing.append(f"`{n}`")
        if missing:
            raise Skip("missing " + ", ".join(dict.fromkeys(missing)))

    def has_subcommand(self, path, sub):
        words = sub.split()
        r = subprocess.run([path] + words + ["--help"], capture_output=True, text=True)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            return False
        # A parser that ignores unknown words prints the top-level usage: demand the word in it.
        return all(w in out for w in words if not w.startswith("-"))

    def bd_initramfs(self, tree):
        """The initramfs with our dracut module, made inside `tree` (after make install); cached by the
        content of everything that goes into it."""
        import hashlib
        h = hashlib.sha256()
        for rel in [f"usr/lib/bootdeploy/bd-prepare-root", "usr/lib/dracut/modules.d/50bootdeploy"]:
            p = os.path.join(tree, rel)
            files = [p] if os.path.isfile(p) else sorted(
                os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs)
            for f in files:
                h.update(f[len(tree):].encode())
                h.update(open(f, "rb").read())
        h.update(open(os.path.join(HERE, "make-initramfs.sh"), "rb").read())
        h.update(self.base.encode())
        out = os.path.join(self.cache, f"initramfs-bd-{h.hexdigest()[:16]}.img")
        if not os.path.exists(out):
            t0 = time.monotonic()
            tmp = out + ".tmp"
            r = subprocess.run([os.path.join(HERE, "make-initramfs.sh"), tree, self.kver, tmp, "bootdeploy",
                                self.drivers], capture_output=True, text=True)
            if r.returncode != 0:
                raise VMError("dracut --add bootdeploy failed:\n" + (r.stdout + r.stderr)[-3000:])
            os.rename(tmp, out)
            self.times["dracut-bootdeploy"] = time.monotonic() - t0
            self.log(f"  initramfs with bootdeploy built in {time.monotonic() - t0:.0f}s")
        return out

    def os_tree(self, work, name, version, mutate=None, initramfs=None):
        """A complete OS tree as an updater would hand it to boot-deploy: the base, our tools and units,
        the report unit, its kernel and (our) initramfs in usr/lib/modules/KVER/."""
        tree = self.tree_copy(os.path.join(work, name))
        self.install_guest_bits(tree)
        self.install_project(tree)
        # What a package's postinst would do: enable our units that have an [Install] section.
        units = sorted(u for u in os.listdir(os.path.join(REPO, "units")) if u.endswith((".service", ".path"))
                       and "[Install]" in open(os.path.join(REPO, "units", u)).read())
        if units:
            sh(["systemctl", f"--root={tree}", "enable"] + units)
        os.makedirs(os.path.join(tree, "sysroot"), exist_ok=True)
        put(os.path.join(tree, "etc/bdvm-version"), version + "\n")
        # Short health timings: the suite has to finish; the semantics do not depend on them.
        put(os.path.join(tree, "etc/boot-health/boot-health.conf.d/50-bdvm.conf"),
            "[Boot]\nGracePeriod=15s\nStartupTimeout=120s\nUnitTimeout=30s\n[Checks]\nTimeout=30s\n")
        img = initramfs or self.bd_initramfs(tree)
        kdir = os.path.join(tree, "usr/lib/modules", self.kver)
        for f in ("initramfs.img",):
            if os.path.lexists(os.path.join(kdir, f)):
                os.unlink(os.path.join(kdir, f))
        shutil.copyfile(img, os.path.join(kdir, "initramfs.img"))
        if mutate:
            mutate(tree)
        return tree


def required_failing_service(tree):
    """A required service that fails: boot-health must count this boot as failed."""
    put(os.path.join(tree, "etc/systemd/system/bdvm-required.service"),
        "[Unit]\nDescription=BDVM required service (fails in this version)\n"
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo bdvm-required: failing on purpose; exit 3'\n"
        "[Install]\nWantedBy=multi-user.target\n")
    enable(tree, "bdvm-required.service")
    put(os.path.join(tree, "etc/boot-health/boot-health.conf.d/60-bdvm-required.conf"),
        "[Unit:bdvm-required.service]\n")


def required_good_service(tree):
    put(os.path.join(tree, "etc/systemd/system/bdvm-required.service"),
        "[Unit]\nDescription=BDVM required service (works)\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
        "[Install]\nWantedBy=multi-user.target\n")
    enable(tree, "bdvm-required.service")
    put(os.path.join(tree, "etc/boot-health/boot-health.conf.d/60-bdvm-required.conf"),
        "[Unit:bdvm-required.service]\n")


def broken_initramfs(tree):
    """An initramfs the kernel cannot unpack: the kernel panics (panic=5 reboots it), no report ever."""
    p = None
    for d, _, fs in os.walk(os.path.join(tree, "usr/lib/modules")):
        if "initramfs.img" in fs:
            p = os.path.join(d, "initramfs.img")
    os.unlink(p)
    with open(p, "wb") as f:
        f.write(b"this is not an initramfs\n" * 4096)


def enable(tree, unit, target="multi-user.target"):
    wants = os.path.join(tree, f"etc/systemd/system/{target}.wants")
    os.makedirs(wants, exist_ok=True)
    link = os.path.join(wants, unit)
    if not os.path.lexists(link):
        os.symlink(f"/etc/systemd/system/{unit}", link)


def put(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)  # never write through a hard link into the cached base
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def kargs_common():
    # quiet keeps the serial console short (it costs time under TCG); systemd still prints failures.
    return "console=ttyS0 quiet loglevel=3 systemd.show_status=error rw"


# --------------------------------------------------------------------------------------------------
# Scenario 0: the harness itself (no project code): a hand-written BLS entry with a plain root=.

def scenario_plain(env, work):
    tree = env.tree_copy(os.path.join(work, "root"))
    env.install_guest_bits(tree)
    esp = os.path.join(work, "esp")
    os.makedirs(esp)
    vmlib.make_esp_skeleton(esp)
    kdir = os.path.join(esp, "plain")
    os.makedirs(kdir)
    shutil.copyfile(os.path.join(env.base, "vmlinuz"), os.path.join(kdir, "vmlinuz"))
    shutil.copyfile(os.path.join(env.base, "initramfs-plain.img"), os.path.join(kdir, "initramfs.img"))
    with open(os.path.join(esp, "loader/entries/plain+3.conf"), "w") as f:
        f.write(vmlib.bls_entry("Plain Debian", "/plain/vmlinuz", "/plain/initramfs.img",
                                f"root=PARTUUID={vmlib.ROOT_PARTUUID} {kargs_common()}"))
    disk = vmlib.Disk(os.path.join(work, "disk.img"))
    disk.create(esp, tree)
    shutil.rmtree(tree)
    m = vmlib.Machine(disk, work, "plain")
    b = m.boot(log=env.log)
    check(b.end == "poweroff", f"the plain boot should end in a poweroff, got {b.end}")
    check(b.get("phase") == "poweroff", f"the report unit should finish, last phase {b.get('phase')}")
    check(b.get("systemState") in ("running", "degraded"), f"system state {b.get('systemState')}")
    check(b.get("entrySelected") == "plain+3.conf", f"LoaderEntrySelected {b.get('entrySelected')}")
    check(b.get("bootCountPath", "").endswith("plain+2-1.conf"), f"LoaderBootCountPath {b.get('bootCountPath')}")
    names = disk.esp_list()
    check(names == ["plain+2-1.conf"], f"systemd-boot should have counted one try on the ESP: {names}")
    env.times["boot-plain"] = b.seconds
    return m


# --------------------------------------------------------------------------------------------------
# Images made with boot-deploy.

ENTRY_RE = re.compile(r"^(?P<base>.+?)(?:\+(?P<left>\d+)(?:-(?P<done>\d+))?)?\.conf$")


def parse_entry_name(name):
    m = ENTRY_RE.match(name)
    if not m:
        return None
    left = m.group("left")
    return {"name": name, "base": m.group("base"), "left": int(left) if left is not None else None,
            "done": int(m.group("done") or 0) if left is not None else None}


class Setup:
    """One scenario's machine: a sysroot and an ESP built on the host with boot-deploy, then the disk."""

    STATEROOT = "os"

    def __init__(self, env, work):
        self.env = env
        self.work = work
        self.sysroot = os.path.join(work, "sysroot")
        self.esp = os.path.join(work, "esp")
        os.makedirs(self.sysroot)
        os.makedirs(self.esp)
        vmlib.make_esp_skeleton(self.esp)
        self.bd = env.tool("boot-deploy")
        self.disk = vmlib.Disk(os.path.join(work, "disk.img"))
        self.machine = None
        self.ctl = os.path.join(self.sysroot, "bdvm")
        os.makedirs(os.path.join(self.ctl, "actions"))
        self.nactions = 0
        # Where the options go: after the subcommand if its help lists them, else before it.
        r = subprocess.run([self.bd, "deploy", "--help"], capture_output=True, text=True)
        self.roots_after = "--sysroot" in (r.stdout + r.stderr)

    def kargs(self):
        return f"root=PARTUUID={vmlib.ROOT_PARTUUID} rw console=ttyS0 quiet loglevel=3 systemd.show_status=error panic=5"

    def cmd(self, sysroot, boot, sub, *args, tool=None, host=False):
        tool = tool or self.bd
        roots = ["--sysroot", sysroot, "--boot", boot]
        if host:
            # The ESP is a host directory (ext4) standing in for the FAT: make boot-deploy lay it out as on
            # vfat (entries/ swapped by exchange, no loader symlink), never freeze the host's filesystem,
            # and keep its per-boot state away from the host's /run.
            roots += ["--boot-strategy", "exchange", "--no-freeze", "--run-dir", os.path.join(self.work, "run")]
        if self.roots_after:
            return [tool] + sub.split() + roots + list(args)
        return [tool] + roots + sub.split() + list(args)

    def deploy_args(self, tree, version, stage=False):
        a = ["--stateroot", self.STATEROOT, "--tree", tree, "--version", version]
        for k in self.kargs().split():
            a += ["--karg", k]
        if stage:
            a.append("--stage")
        return a

    def run_bd(self, sub, *args):
        c = self.cmd(self.sysroot, self.esp, sub, *args, host=True)
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail(f"host: {' '.join(c)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r.stdout

    def initial(self, tree, version):
        """The factory image: boot-deploy init, then the first deployment, both offline on the host."""
        self.run_bd("init", "--stateroot", self.STATEROOT) if self._init_takes_stateroot() else self.run_bd("init")
        self.run_bd("deploy", *self.deploy_args(tree, version))

    def _init_takes_stateroot(self):
        r = subprocess.run([self.bd, "init", "--help"], capture_output=True, text=True)
        return "--stateroot" in (r.stdout + r.stderr)

    def add_update_tree(self, tree, name):
        """An update's tree inside the physical root, for the guest's own boot-deploy to deploy."""
        dest = os.path.join(self.ctl, "trees", name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        sh(["cp", "-al", tree, dest])
        return f"/sysroot/bdvm/trees/{name}"

    def queue(self, script):
        """An action for the guest: run once, on the next boot that reaches the report."""
        self.nactions += 1
        put(os.path.join(self.ctl, "actions", f"{self.nactions:03d}"), script, 0o755)

    def guest_deploy_script(self, guest_tree, version, stage=False, then="reboot"):
        c = self.cmd("/sysroot", "/boot", "deploy", *self.deploy_args(guest_tree, version, stage), tool="boot-deploy")
        q = " ".join(shquote(x) for x in c)
        s = "echo \"BDVM deployStart=$(cut -d' ' -f1 /proc/uptime)\"\n"
        s += f"{q}\nrc=$?\n"
        s += "sync\necho \"BDVM deployDone=$rc $(cut -d' ' -f1 /proc/uptime)\"\n"
        s += "echo \"BDVM afterDeployEntries=$(ls /boot/loader/entries | tr '\\n' ' ')\"\n"
        if then == "reboot":
            s += "touch /run/bdvm-no-poweroff\necho \"BDVM rebootRequested=$(cut -d' ' -f1 /proc/uptime)\"\nsystemctl reboot\n"
        return s

    def every_boot(self, script):
        put(os.path.join(self.ctl, "every-boot"), script, 0o755)

    def records(self):
        d = os.path.join(self.sysroot, "bootdeploy", self.STATEROOT, "deploy")
        out = []
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if f.endswith(".json"):
                out.append(json.load(open(os.path.join(d, f))))
        return out

    def make_disk(self):
        self.disk.create(self.esp, self.sysroot)
        self.machine = vmlib.Machine(self.disk, self.work, os.path.basename(self.work))
        return self.machine

    def boot(self, **kw):
        b = self.machine.boot(log=self.env.log, **kw)
        cyc = re.findall(r"Ordering cycle found, skipping (?:\x1b\[[0-9;]*m)*([\w@.-]+)", b.text)
        if cyc:
            self.env.log(f"           WARNING: systemd dropped {', '.join(sorted(set(cyc)))} (ordering cycle)")
            b.cycles = sorted(set(cyc))
        self.env.log(f"           ESP entries: {' '.join(self.entries_names())}")
        return b

    def entries_names(self):
        return self.disk.esp_list("/loader/entries")

    def entries(self):
        """The ESP's entries: name, counter, and the deployment each names (bootdeploy= in options)."""
        out = []
        for n in self.entries_names():
            e = parse_entry_name(n)
            if e is None:
                continue
            text = self.disk.esp_read(f"/loader/entries/{n}") or ""
            m = re.search(r"bootdeploy=(\S+)", text)
            e["deployment"] = m.group(1) if m else None
            out.append(e)
        return out

    def entry_of(self, deployment):
        es = [e for e in self.entries() if e["deployment"] == deployment]
        return es[0] if len(es) == 1 else (es if es else None)


def rank(entry):
    m = re.search(r"-(\d{3})$", entry["base"])
    return int(m.group(1)) if m else -1


def shquote(x):
    import shlex
    return shlex.quote(x)


def dep_name(record):
    return f"{record['stateroot']}/{record['id']}"


def health_json(b):
    raw = b.get("healthStatus")
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def reached_report(b):
    return b.get("phase") in ("reported", "poweroff", "left-up")


def first_boot_good(st, b, dep):
    check(reached_report(b), f"boot {len(st.machine.boots)} did not reach the report")
    check(b.get("booted") == dep, f"booted {b.get('booted')}, expected {dep}")


def deploy_update_in_guest(env, work, st, name, version, mutate, stage=False):
    tree = env.os_tree(work, f"tree-{name}", version, mutate)
    gtree = st.add_update_tree(tree, name)
    shutil.rmtree(tree)
    st.queue(st.guest_deploy_script(gtree, version, stage=stage))


def note_deploy_time(env, b):
    """Remembers how long the guest's deploy took (the window scenario 6 cuts the power in)."""
    try:
        t0 = float(b.get("deployStart"))
        t1 = float(b.get("deployDone").split()[1])
        env.times["guest-deploy"] = max(env.times.get("guest-deploy", 0.0), t1 - t0)
    except (TypeError, ValueError, IndexError, AttributeError):
        pass


def factory(env, work, good_mutate=required_good_service):
    env.require("boot-deploy deploy", "boot-deploy status", "boot-health", "dracut-module", "units")
    st = Setup(env, work)
    v1 = env.os_tree(work, "tree-v1", "1", good_mutate)
    st.initial(v1, "1")
    shutil.rmtree(v1)
    recs = st.records()
    check(len(recs) == 1, f"one deployment record after the first deploy, got {len(recs)}")
    return st, dep_name(recs[0])


def booted_until(st, cond, limit, what, **kw):
    """Boots until cond(boot) holds; fails after `limit` boots."""
    for _ in range(limit):
        b = st.boot(**kw)
        if cond(b):
            return b
    raise Fail(f"{what}: not reached in {limit} boots")


# Scenario 1: an update boots, the checks pass, the entry is blessed.
def scenario_update_blessed(env, work):
    st, v1 = factory(env, work)
    deploy_update_in_guest(env, work, st, "v2", "2", required_good_service)
    st.make_disk()
    b1 = st.boot()
    first_boot_good(st, b1, v1)
    check(b1.get("deployDone", "").split()[0:1] == ["0"], f"guest deploy of v2 failed: {b1.get('deployDone')}")
    note_deploy_time(env, b1)
    b2 = st.boot()
    check(reached_report(b2), "the update's boot did not reach the report")
    v2 = b2.get("booted")
    check(v2 not in (None, "none", v1), f"the update should boot first, booted {v2}")
    check(b2.get("bootCountPath", "") != "", "systemd-boot should have counted the update's try (LoaderBootCountPath)")
    hs = health_json(b2)
    check(hs is not None, f"boot-health status --json unreadable: {b2.get('healthStatus')}")
    e2 = st.entry_of(v2)
    check(isinstance(e2, dict), f"exactly one ESP entry for {v2}: {st.entries_names()}")
    check(e2["left"] is None, f"the update's entry should be blessed (no counter): {e2['name']}")
    e1 = st.entry_of(v1)
    check(isinstance(e1, dict), f"the old deployment keeps its entry: {st.entries_names()}")
    check(e1["left"] is None, f"the old deployment's entry stays blessed: {e1['name']}")
    # The order: the next boot picks the update straight away, no counting.
    b3 = st.boot()
    check(b3.get("booted") == v2, f"after blessing, the update stays the default: {b3.get('booted')}")
    check(b3.get("bootCountPath", "") == "", f"a blessed entry is not counted: {b3.get('bootCountPath')}")
    return st.machine


# Scenario 2: the update's required service fails: counting down over real reboots, fallback, rollback.
def scenario_required_service_fails(env, work):
    st, v1 = factory(env, work)
    deploy_update_in_guest(env, work, st, "v2", "2", required_failing_service)
    st.make_disk()
    b1 = st.boot()
    first_boot_good(st, b1, v1)
    check(b1.get("deployDone", "").split()[0:1] == ["0"], f"guest deploy of v2 failed: {b1.get('deployDone')}")
    v2 = None
    lefts = []
    back = None
    for _ in range(6):
        b = st.boot()
        bt = b.get("booted")
        if bt == v1:
            back = b
            break
        if bt not in (None, "none"):
            v2 = bt
        e = st.entry_of(v2) if v2 else None
        if isinstance(e, dict):
            lefts.append(e["left"])
        check(b.end in ("reboot", "poweroff"), f"a failed boot should end in a reboot, got {b.end}")
    check(back is not None, "the machine never came back to the old deployment")
    check(v2 is not None, "the update never booted")
    env.log(f"           the update's counter on the ESP after each of its boots: {lefts}")
    check(all(a > b for a, b in zip(lefts, lefts[1:])), f"the counter must count down: {lefts}")
    e1 = st.entry_of(v1)
    e2 = st.entry_of(v2)
    check(isinstance(e1, dict) and isinstance(e2, dict), f"one ESP entry each: {st.entries_names()}")
    # Either systemd-boot exhausted the update (+0-N) or boot-health moved it below the old one.
    check(e2["left"] == 0 or rank(e2) < rank(e1),
          f"the bad update must not stay first: {e2['name']} vs {e1['name']}")
    hs = back.get("healthStatus", "")
    check("rollback" in hs.lower() or "rolled" in hs.lower(), f"boot-health status should report the rollback: {hs[:400]}")
    check("bdvm-required.service" in hs, f"boot-health status should name the failed service: {hs[:400]}")
    check_report_after_rollback(back, v1, v2)
    # The old deployment is the default now: the next boot picks it first, uncounted.
    b = st.boot()
    check(b.get("booted") == v1, f"the old deployment must stay the default: {b.get('booted')}")
    sel = parse_entry_name(b.get("entrySelected", "") or "x.conf")
    e1 = st.entry_of(v1)
    check(isinstance(e1, dict) and sel["base"] == e1["base"], f"systemd-boot picked {b.get('entrySelected')}, "
          f"the old deployment's entry is {e1}")
    check(e1["left"] is None, f"the old deployment's entry is blessed, not counting down: {e1['name']}")
    return st.machine


def check_report_after_rollback(b, good, bad):
    """The fleet report (docs/REPORT.md) and the metrics file of the boot that came back to `good`."""
    try:
        rep = json.loads(b.get("healthReport") or "null")
    except ValueError:
        rep = None
    check(isinstance(rep, dict) and rep.get("apiVersion") == "bootdeploy/v1" and rep.get("kind") == "HealthReport",
          f"boot-health report --json unreadable: {str(b.get('healthReport'))[:400]}")
    deps = rep.get("deployments", {})
    check(dep_name(deps.get("booted") or {"stateroot": "?", "id": "?"}) == good, f"report: booted {deps.get('booted')}")
    check(dep_name(deps.get("default") or {"stateroot": "?", "id": "?"}) == good, f"report: default {deps.get('default')}")
    check(rep.get("health", {}).get("state") == "good", f"report: the old deployment is blessed again: {rep.get('health')}")
    check(bad in rep.get("health", {}).get("bad", []), f"report: the update stays bad: {rep.get('health')}")
    rollbacks = [e for e in rep.get("window", {}).get("events", []) if e.get("event") == "rollback"]
    check(len(rollbacks) == 1 and dep_name(rollbacks[0]) == bad and "bdvm-required.service" in rollbacks[0].get("reason", ""),
          f"report: one rollback of {bad} naming the service: {rollbacks}")
    stateroot = good.split("/")[0]
    check(rep.get("window", {}).get("rollbacks") == 1 and rep.get("totals", {}).get(stateroot, {}).get("rollback") == 1,
          f"report: rollbacks counted once: {rep.get('window', {}).get('rollbacks')} / {rep.get('totals')}")
    m = b.get("metrics", "")
    check(f'bootdeploy_rollbacks_total{{stateroot="{stateroot}"}} 1' in m,
          f"boot-health-metrics wrote the rollback for node_exporter: {m[:600]}")
    gid = good.split("/")[1]
    check(f'bootdeploy_health_state{{stateroot="{stateroot}",deployment="{gid}",state="good"}} 1' in m,
          f"the metrics show the blessed old deployment: {m[:600]}")


# Scenario 3: the update's initramfs cannot boot at all: systemd-boot's counting alone brings it back.
def scenario_unbootable_update(env, work):
    st, v1 = factory(env, work)
    deploy_update_in_guest(env, work, st, "v2", "2", broken_initramfs)
    st.make_disk()
    b1 = st.boot()
    first_boot_good(st, b1, v1)
    check(b1.get("deployDone", "").split()[0:1] == ["0"], f"guest deploy of v2 failed: {b1.get('deployDone')}")
    new = [e for e in st.entries() if e["deployment"] != v1]
    check(len(new) == 1 and new[0]["left"] is not None, f"the update's entry has a counter: {st.entries_names()}")
    tries = new[0]["left"]
    dead = 0
    back = None
    for _ in range(tries + 2):
        b = st.boot()
        if reached_report(b):
            back = b
            break
        check("Kernel panic" in b.text or b.end in ("reboot", "timeout"), "an unbootable boot should panic or hang")
        dead += 1
    check(back is not None and back.get("booted") == v1, f"systemd-boot should fall back to {v1}")
    check(dead == tries, f"the bad update should use exactly its {tries} tries, used {dead}")
    e = [x for x in st.entries() if x["deployment"] != v1]
    check(len(e) == 1 and e[0]["left"] == 0, f"the bad entry is exhausted on the ESP: {st.entries_names()}")
    return st.machine


# Scenario 4: every deployment bad: up, degraded, no reboot loop.
def scenario_all_bad(env, work):
    # The factory deployment is bad, and so is the update the guest deploys on its first boot: the
    # update is rolled back to the old one, which is bad too; then there is nothing better left.
    st, v1 = factory(env, work, good_mutate=required_failing_service)
    deploy_update_in_guest(env, work, st, "v2", "2", required_failing_service)
    # On every boot with nothing left in the queue: stay up well past the grace period, then say so.
    st.every_boot('[ -n "$(ls "$BDVM_PHYS/bdvm/actions" 2>/dev/null)" ] && exit 0\n'
                  "sleep 45\necho \"BDVM stillUp=$(cut -d' ' -f1 /proc/uptime)\"\n"
                  "echo \"BDVM lateHealth=$(boot-health status --json 2>&1 | tr '\\n' ' ')\"\n")
    st.make_disk()
    last = None
    for _ in range(6):
        b = st.boot()
        last = b
        if b.get("stillUp"):
            break
    check(last is not None and last.get("stillUp"), "the machine should stay up once nothing better is left")
    check(last.end == "poweroff", f"that boot ends by our poweroff, not a reboot: {last.end}")
    check(len(st.machine.boots) <= 4, f"too many boots before settling: {len(st.machine.boots)}")
    booted = {b.get("booted") for b in st.machine.boots if b.get("booted") not in (None, "none")}
    check(len(booted) == 2, f"both deployments were tried: {booted}")
    hs = last.get("lateHealth") or ""
    check("degraded" in hs.lower(), f"boot-health should say the machine is degraded: {hs[:600]}")
    check("bdvm-required.service" in hs, f"... and why: {hs[:600]}")
    return st.machine


# Scenario 5: a staged update, finalized at shutdown, boots as the new default.
def scenario_staged(env, work):
    env.require("boot-deploy deploy", "boot-deploy status", "boot-deploy finalize", "boot-health", "dracut-module", "units")
    st, v1 = factory(env, work)
    deploy_update_in_guest(env, work, st, "v2", "2", required_good_service, stage=True)
    st.make_disk()
    names_before = st.entries_names()
    b1 = st.boot()
    first_boot_good(st, b1, v1)
    check(b1.get("deployDone", "").split()[0:1] == ["0"], f"guest stage of v2 failed: {b1.get('deployDone')}")
    check(b1.get("afterDeployEntries", "").split() == b1.get("bootEntries", "").split(),
          f"staging must not touch the entries before shutdown: {b1.get('bootEntries')} -> {b1.get('afterDeployEntries')}")
    b2 = st.boot()
    v2 = b2.get("booted")
    check(v2 not in (None, "none", v1), f"the staged update should boot after finalize: {v2}")
    e2 = st.entry_of(v2)
    check(isinstance(e2, dict) and e2["left"] is None, f"the staged update is blessed: {st.entries_names()}")
    check(len(st.entries_names()) == len(names_before) + 1, f"one new entry: {names_before} -> {st.entries_names()}")
    return st.machine


# Scenario 6: power cuts at random moments during deploy (6a) and during finalize at shutdown (6b).
def power_cuts(env, work, finalize, rounds):
    need = ["boot-deploy deploy", "boot-deploy status", "boot-health", "dracut-module", "units"]
    if finalize:
        need.append("boot-deploy finalize")
    env.require(*need)
    st, v1 = factory(env, work)
    tree = env.os_tree(work, "tree-v2", "2", required_good_service)
    gtree = st.add_update_tree(tree, "v2")
    shutil.rmtree(tree)
    # deploy, check, deploy, check...: a "check" action is the report and a poweroff, so the healthy boot
    # after each cut does not start the next round's deploy uncut.
    for i in range(rounds):
        st.queue(st.guest_deploy_script(gtree, f"2.{i}", stage=finalize))
        st.queue("echo \"BDVM checkOnly=1\"\n")
    st.make_disk()
    deploy_window = env.times.get("guest-deploy", 15.0)
    for i in range(rounds):
        count_before = len(st.entries_names())
        if finalize:   # cut during the shutdown that finalizes the staged deployment
            b = st.boot(kill_when="BDVM rebootRequested=", kill_delay=(0.0, 6.0))
        else:          # cut during the deploy itself (its measured duration in scenario 1, else 15 s)
            b = st.boot(kill_when="BDVM deployStart=", kill_delay=(0.0, deploy_window))
        check(b.get("action"), f"round {i}: the guest should have started the deploy")
        env.log(f"           round {i}: cut ({b.end}) {'during shutdown' if finalize else 'during deploy'}; "
                f"deployDone={b.get('deployDone')}; entries now {' '.join(st.entries_names())}")
        # The next boot must reach a healthy deployment (the new one or the old one).
        nb = booted_until(st, reached_report, 4, f"round {i}: a healthy boot after the cut")
        bt = nb.get("booted")
        check(bt not in (None, "none"), f"round {i}: booted a deployment ({bt})")
        failed = set(nb.get("failedUnits", "x").split())
        if finalize and failed == {"bootdeploy-finalize-check.service"}:
            # The designed report of a finalize the cut interrupted: allowed only if the update did not land.
            check(len(st.entries_names()) == count_before,
                  f"round {i}: finalize-check reports a lost update, yet the entries changed: {st.entries_names()}")
            env.log(f"           round {i}: the staged update was lost at the cut; bootdeploy-finalize-check.service reported it")
        else:
            check(not failed, f"round {i}: failed units: {nb.get('failedUnits')}")
        check(health_json(nb) is not None, f"round {i}: boot-health status readable: {nb.get('healthStatus')}")
        ds = nb.get("deployStatus", "")
        check(ds.startswith("{"), f"round {i}: boot-deploy status --json works: {ds[:200]}")
        orphans = [e["name"] for e in st.entries() if e["deployment"] is None]
        check(not orphans, f"round {i}: every entry names a deployment: {orphans}")
        # Healthy means judged so: the deployment it booted is blessed on the ESP (no counter left).
        e = st.entry_of(bt)
        check(isinstance(e, dict) and e["left"] is None,
              f"round {i}: the deployment booted after the cut ({bt}) should be blessed: {st.entries_names()}")
        check(nb.get("checkOnly") == "1", f"round {i}: the healthy boot ran the check action")
    return st.machine


def scenario_power_cuts_deploy(env, work):
    return power_cuts(env, work, finalize=False, rounds=3)


def scenario_power_cuts_finalize(env, work):
    return power_cuts(env, work, finalize=True, rounds=3)


# Scenario 7: an updater's plain `deploy` (no --karg, not staged) keeps the administrator's kernel
# argument and /etc changes, and an untouched vendor file of /etc takes the update's version. 2 boots.
def etc_files(version):
    def mutate(tree):
        required_good_service(tree)
        put(os.path.join(tree, "etc/bdvm-edited.conf"), f"vendor {version}\n")
        put(os.path.join(tree, "etc/bdvm-untouched.conf"), f"vendor {version}\n")
    return mutate


def scenario_update_keeps_configuration(env, work):
    env.require("boot-deploy deploy", "boot-deploy kargs", "boot-deploy status", "boot-health", "dracut-module", "units")
    st, v1 = factory(env, work, good_mutate=etc_files("1"))
    tree = env.os_tree(work, "tree-v2", "2", etc_files("2"))
    gtree = st.add_update_tree(tree, "v2")
    shutil.rmtree(tree)
    kargs = " ".join(shquote(x) for x in st.cmd("/sysroot", "/boot", "kargs", "--append", "bdvm.karg=kept", tool="boot-deploy"))
    deploy = " ".join(shquote(x) for x in st.cmd("/sysroot", "/boot", "deploy", "--stateroot", st.STATEROOT,
                                                  "--tree", gtree, "--version", "2", tool="boot-deploy"))
    s = f"{kargs}\necho \"BDVM kargsDone=$?\"\n"
    s += "echo admin > /etc/bdvm-edited.conf\necho added > /etc/bdvm-admin.conf\n"
    s += f"{deploy}\necho \"BDVM deployDone=$?\"\nsync\n"
    s += "touch /run/bdvm-no-poweroff\necho \"BDVM rebootRequested=1\"\nsystemctl reboot\n"
    st.queue(s)
    st.queue("echo \"BDVM etcEdited=$(cat /etc/bdvm-edited.conf 2>&1)\"\n"
             "echo \"BDVM etcAdded=$(cat /etc/bdvm-admin.conf 2>&1)\"\n"
             "echo \"BDVM etcUntouched=$(cat /etc/bdvm-untouched.conf 2>&1)\"\n")
    st.make_disk()
    b1 = st.boot()
    first_boot_good(st, b1, v1)
    check(b1.get("kargsDone") == "0", f"kargs --append failed in the guest: {b1.get('kargsDone')}")
    check(b1.get("deployDone") == "0", f"the plain deploy of v2 failed in the guest: {b1.get('deployDone')}")
    b2 = st.boot()
    check(reached_report(b2), "the update's boot did not reach the report")
    v2 = b2.get("booted")
    check(v2 not in (None, "none", v1), f"the update should boot: {v2}")
    words = b2.get("cmdline", "").split()
    check("bdvm.karg=kept" in words, f"the appended karg is on the update's command line: {b2.get('cmdline')}")
    check("console=ttyS0" in words and f"root=PARTUUID={vmlib.ROOT_PARTUUID}" in words,
          f"the factory's kargs are inherited too: {b2.get('cmdline')}")
    check(b2.get("etcEdited") == "admin", f"the edited /etc file keeps the edit: {b2.get('etcEdited')}")
    check(b2.get("etcAdded") == "added", f"the added /etc file is there: {b2.get('etcAdded')}")
    check(b2.get("etcUntouched") == "vendor 2",
          f"an untouched vendor file has the update's version: {b2.get('etcUntouched')}")
    ds = b2.get("deployStatus", "")
    check(f'"mergedFrom" : "{v1}"' in ds or f'"mergedFrom":"{v1}"' in ds, f"status names the merge deployment: {ds[:300]}")
    return st.machine


# Scenario 8: no initramfs. The disk is NVMe, which Debian's cloud kernel drives (like ext4) without
# modules; every entry boots bd-prepare-root from the physical root as init= (deploy --no-initramfs).
# Boot 1: the factory deployment (deployed on the host) boots and is blessed; the guest's own boot-deploy
# deploys an update without initramfs, then a second one whose deployment directory it removes.
# Boot 2: that missing deployment: prepare-root fails, the kernel panics, systemd-boot counts the try.
# Boot 3: systemd-boot falls back to the update, which boots through init= and is blessed.
class NoInitramfsSetup(Setup):
    def kargs(self):
        # rootwait: NVMe is probed asynchronously; without an initramfs nothing else waits for the disk.
        return (f"root=PARTUUID={vmlib.ROOT_PARTUUID} rootwait rootfstype=ext4 rw console=ttyS0 quiet loglevel=3 "
                "systemd.show_status=error panic=5")

    def deploy_args(self, tree, version, stage=False):
        return super().deploy_args(tree, version, stage) + ["--no-initramfs"]

    def make_disk(self):
        m = super().make_disk()
        m.nvme = True
        return m


def without_initramfs(tree):
    required_good_service(tree)
    for d, _, fs in os.walk(os.path.join(tree, "usr/lib/modules")):
        if "initramfs.img" in fs:
            os.unlink(os.path.join(d, "initramfs.img"))


def scenario_no_initramfs(env, work):
    env.require("boot-deploy deploy", "boot-deploy install-init", "boot-deploy status", "boot-health", "units")
    st = NoInitramfsSetup(env, work)
    plain = os.path.join(env.base, "initramfs-plain.img")   # copied in, then removed: no dracut run
    v1tree = env.os_tree(work, "tree-v1", "1", without_initramfs, initramfs=plain)
    st.initial(v1tree, "1")
    shutil.rmtree(v1tree)
    recs = st.records()
    check(len(recs) == 1 and recs[0].get("earlyBoot"), f"one deployment without initramfs: {recs}")
    v1 = dep_name(recs[0])
    tree = env.os_tree(work, "tree-v2", "2", without_initramfs, initramfs=plain)
    gtree = st.add_update_tree(tree, "v2")
    shutil.rmtree(tree)
    # What the guest reports on every boot that gets that far: the kernel log line of prepare-root in the
    # journal, /dev, and boot-health's complaint about LoaderBootCountPath (none expected).
    st.every_boot("echo \"BDVM kmsgLines=$(journalctl -k -b -o short --no-pager | grep -c 'bootdeploy-prepare-root')\"\n"
                  "echo \"BDVM devFs=$(findmnt -n -o FSTYPE /dev)\"\n"
                  "echo \"BDVM healthWarnings=$(journalctl -b -o cat --no-pager | grep -c 'LoaderBootCountPath names')\"\n")
    dep = lambda version, *extra: " ".join(shquote(x) for x in st.cmd(
        "/sysroot", "/boot", "deploy", *st.deploy_args(gtree, version), *extra, tool="boot-deploy"))
    st.queue(f"{dep('2')} || exit 1\n"
             f"v3=$({dep('3', '--tries', '1')}) || exit 1\n"
             "echo \"BDVM missingDeployment=$v3\"\n"
             "rm -rf \"/sysroot/bootdeploy/$(dirname $v3)/deploy/$(basename $v3)\"\n"
             "sync\necho \"BDVM afterDeployEntries=$(ls /boot/loader/entries | tr '\\n' ' ')\"\n"
             "touch /run/bdvm-no-poweroff\nsystemctl reboot\n")
    st.make_disk()

    def reported_fully(b, dep):
        first_boot_good(st, b, dep)
        bj = json.loads(b.get("bootedJson") or "{}")
        check(f"{bj.get('stateroot')}/{bj.get('id')}" == dep, f"booted.json names {dep}: {bj}")
        check((bj.get("loaderEntry") or "").startswith("bd-os-"), f"booted.json has the loader's entry (efivarfs): {bj}")
        check(b.get("kmsgLines", "0") != "0", f"prepare-root's line is in the journal's kernel log: {b.get('kmsgLines')}")
        check(b.get("devFs") == "devtmpfs", f"/dev is devtmpfs: {b.get('devFs')}")
        check(b.get("healthWarnings") == "0", f"boot-health warned about LoaderBootCountPath: {b.get('healthWarnings')}")
        check("initrd=" not in b.get("cmdline", "") and "init=/bootdeploy/early-boot/" in b.get("cmdline", ""),
              f"booted through init= without initramfs: {b.get('cmdline')}")
        check((b.get("rootSource") or "").startswith("/dev/nvme0n1p2["), f"root from NVMe: {b.get('rootSource')}")
        check("vfat" in (b.get("bootMount") or ""), f"the ESP mounted at /boot later: {b.get('bootMount')}")
        e = st.entry_of(dep)
        check(isinstance(e, dict) and e["left"] is None, f"{dep} is blessed: {st.entries_names()}")
        return bj

    b1 = st.boot()
    reported_fully(b1, v1)
    v3 = b1.get("missingDeployment")
    check(v3 and b1.get("actionDone"), f"the guest deployed the updates: {b1.get('missingDeployment')}")
    b2 = st.boot()
    check(not reached_report(b2), "a missing deployment must not boot")
    check(f"bootdeploy-prepare-root: deployment {v3}" in b2.text and "does not exist" in b2.text,
          "prepare-root says which deployment is missing, on the console")
    check("Kernel panic" in b2.text, "and the kernel panics (the boot counter then falls back)")
    e3 = st.entry_of(v3)
    check(isinstance(e3, dict) and e3["left"] == 0, f"the missing deployment's only try is spent: {st.entries_names()}")
    b3 = st.boot()
    v2 = b3.get("booted")
    check(v2 not in (None, "none", v1, v3), f"systemd-boot falls back to the update: {v2}")
    bj = reported_fully(b3, v2)
    check(re.match(r"bd-os-\d{3}\+2-1\.conf$", bj.get("loaderEntry") or ""), f"the update's counted try: {bj}")
    ds = b3.get("deployStatus", "")
    check('"earlyBootProblem"' not in ds and '"earlyBoot"' in ds, f"status: early-boot installs in place: {ds[:300]}")
    return st.machine


SCENARIOS = [
    ("0", "plain root= boot through OVMF and systemd-boot (harness self-test)", scenario_plain),
    ("1", "an update boots, its checks pass, its entry is blessed", scenario_update_blessed),
    ("2", "an update whose required service fails is rolled back", scenario_required_service_fails),
    ("3", "an update that cannot boot at all: systemd-boot's counting brings the old one back", scenario_unbootable_update),
    ("4", "every deployment bad: up, degraded, no reboot loop", scenario_all_bad),
    ("5", "a staged update finalized at shutdown boots as the new default", scenario_staged),
    ("6a", "power cuts during deploy: the next boot is always healthy", scenario_power_cuts_deploy),
    ("6b", "power cuts during finalize at shutdown: the next boot is always healthy", scenario_power_cuts_finalize),
    ("7", "a plain deploy of an update keeps the kernel arguments and /etc changes", scenario_update_keeps_configuration),
    ("8", "no initramfs (NVMe, init=): an update deployed without initramfs boots and is blessed; a missing deployment falls back", scenario_no_initramfs),
]


def extra_scenarios():
    """Scenarios of other boot loaders live in their own modules (`scenarios_<loader>.py` beside this
    file), each with a `SCENARIOS` list of (number, title, function[, "full"]). A scenario tagged
    "full" runs only in the full matrix (`BDVM_FULL=1`, `make check-vm-full`); CI runs the rest."""
    import importlib
    out = []
    for f in sorted(os.listdir(HERE)):
        if f.startswith("scenarios_") and f.endswith(".py"):
            mod = importlib.import_module(f[:-3])
            out.extend(mod.SCENARIOS)
    return out


def selected(only, full):
    for item in SCENARIOS + extra_scenarios():
        num, title, fn = item[:3]
        tags = item[3:]
        if only:
            if num in only:
                yield num, title, fn
        elif full or "full" not in tags:
            yield num, title, fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--cache", default="/var/cache/bootdeploy-vm")
    args = ap.parse_args()
    env = Env(args.base, args.bindir, args.work, args.cache)
    only = set(filter(None, args.only.split(",")))
    passed = failed = skipped = 0
    summary = []
    t_all = time.monotonic()
    full = os.environ.get("BDVM_FULL") == "1"
    for num, title, fn in selected(only, full):
        work = os.path.join(args.work, f"s{num}")
        if os.path.exists(work):
            shutil.rmtree(work)
        os.makedirs(work)
        env.log(f"== scenario {num}: {title}")
        t0 = time.monotonic()
        try:
            m = fn(env, work)
            dt = time.monotonic() - t0
            nboots = len(m.boots) if m else 0
            env.log(f"PASS: scenario {num}: {title} ({nboots} boots, {dt:.0f}s)")
            passed += 1
            summary.append((num, "PASS", nboots, dt))
        except Skip as e:
            env.log(f"SKIP: scenario {num}: {e}")
            skipped += 1
            summary.append((num, "SKIP", 0, time.monotonic() - t0))
        except (Fail, VMError) as e:
            env.log(f"FAIL: scenario {num}: {title}: {e}")
            env.log(f"      logs: {work}")
            failed += 1
            summary.append((num, "FAIL", 0, time.monotonic() - t0))
        except Exception:
            traceback.print_exc()
            env.log(f"FAIL: scenario {num}: {title}: harness error")
            failed += 1
            summary.append((num, "FAIL", 0, time.monotonic() - t0))
    env.log(f"total wall time {time.monotonic() - t_all:.0f}s")
    for num, res, nb, dt in summary:
        env.log(f"  scenario {num}: {res} boots={nb} wall={dt:.0f}s")
    env.log(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
