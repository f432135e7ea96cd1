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

    def __init__(self, base, bindir, work):
        self.base = base
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

    def install_project(self, tree):
        """`make install DESTDIR=tree` with our binaries (the release build of this run)."""
        sh(["make", "-C", REPO, "--no-print-directory", "-o", "release", "install", f"DESTDIR={tree}",
            f"RELEASE_BIN={self.bindir}"])


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


SCENARIOS = [
    ("0", "plain root= boot through OVMF and systemd-boot (harness self-test)", scenario_plain),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    env = Env(args.base, args.bindir, args.work)
    only = set(filter(None, args.only.split(",")))
    passed = failed = skipped = 0
    summary = []
    t_all = time.monotonic()
    for num, title, fn in SCENARIOS:
        if only and num not in only:
            continue
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
