"""Real boots through U-Boot 2023.01 (Debian's u-boot-qemu, the 32-bit qemu-x86 ROM; docs/UBOOT.md).

boot-deploy (on the host with --boot-loader u-boot, in the guest by detecting our boot.scr) writes
the boot script, the plan (loader/entries/bootdeploy.env) and arms the counter (bdcount.a/.b); the
script counts a trial down with fatwrite and falls back; boot-health blesses or spends the trial.
Assertions read the ESP (entries, the plan, both counter copies) and the guest's report.
"""
import contextlib
import os
import shutil
import sys

import vm_uboot

# The suite's own module (run as __main__): its Fail/Skip are the ones main() catches.
vt = sys.modules["__main__"] if hasattr(sys.modules.get("__main__"), "Setup") else __import__("vmtest")
check = vt.check


class UBootSetup(vt.Setup):
    """The suite's machine with U-Boot as the firmware and no systemd-boot on the ESP."""
    TRIES = None

    def __init__(self, env, work):
        missing = vm_uboot.missing_tools()
        if missing:
            raise vt.Skip("U-Boot missing: " + ", ".join(missing) + " (scripts/install-deps.sh vm: u-boot-qemu)")
        super().__init__(env, work)
        shutil.rmtree(os.path.join(self.esp, "EFI"))
        shutil.rmtree(os.path.join(self.esp, "loader"))

    def cmd(self, sysroot, boot, sub, *args, tool=None, host=False):
        # The host names the boot loader (nothing to detect on an empty ESP); the guest detects boot.scr.
        extra = ("--boot-loader", "u-boot") if host else ()
        return super().cmd(sysroot, boot, sub, *(tuple(args) + extra), tool=tool, host=host)

    def initial(self, tree, version):
        super().initial(tree, version)
        check(vm_uboot.script_as_on_fat(os.path.join(self.esp, "boot.scr"), self.work),
              "boot-deploy wrote boot.scr (with ext4write on the host's stand-in directory)")

    def deploy_args(self, tree, version, stage=False):
        a = super().deploy_args(tree, version, stage)
        return a + (["--tries", str(self.TRIES)] if self.TRIES is not None else [])

    def make_disk(self):
        super().make_disk()
        self.machine = vm_uboot.UBootMachine(self.disk, self.work, os.path.basename(self.work))
        return self.machine

    def boot(self, **kw):
        b = super().boot(**kw)
        b.counter = vm_uboot.read_counter(self.disk)
        b.script = vm_uboot.script_lines(b)
        self.env.log(f"           counter: {b.counter}; plan: {' '.join(map(str, vm_uboot.plan_order(self.disk)))}")
        for line in b.script:
            self.env.log(f"           u-boot: {line}")
        return b


class OneTry(UBootSetup):
    TRIES = 1


class LateCuts(UBootSetup):
    """The suite's power cuts fall uniformly within the deploy's duration; most of it is copying the
    kernel and initrd, and arming the counter and the swap come last: draw the cut from the second
    half of the deploy to just after it instead."""

    def boot(self, **kw):
        lo, hi = kw.get("kill_delay", (0.0, 0.0))
        if kw.get("kill_when") and hi > 0:
            kw["kill_delay"] = (lo + hi * 0.5, hi * 1.15)
        return super().boot(**kw)


@contextlib.contextmanager
def setup_class(cls):
    """The suite's scenarios build their machine with vt.Setup: lend them ours."""
    old = vt.Setup
    vt.Setup = cls
    try:
        yield
    finally:
        vt.Setup = old


def factory(env, work, cls, good=None):
    with setup_class(cls):
        return vt.factory(env, work, good_mutate=good or vt.required_good_service)


def counter_is(b, trial, left, what):
    c = b.counter or {}
    check(c.get("trial") == trial and (left is None or c.get("left") == left),
          f"{what}: counter trial {trial} with {left} tries expected, read {b.counter}")


def guest_deploy_ok(b, what):
    check(b.get("deployDone", "").split()[0:1] == ["0"], f"guest deploy of {what} failed: {b.get('deployDone')}")


# One story for CI, 4 boots: v2 deployed in the guest is armed, the script counts its boot, boot-health
# blesses it (trial cleared); then v3, whose required service fails: marked bad, back on v2.
def blessed_then_failing(env, work):
    st, v1 = factory(env, work, UBootSetup)
    vt.deploy_update_in_guest(env, work, st, "v2", "2", vt.required_good_service)
    vt.deploy_update_in_guest(env, work, st, "v3", "3", vt.required_failing_service)
    st.make_disk()
    b1 = st.boot()
    vt.first_boot_good(st, b1, v1)
    check(f"BootDeploy: booting {v1}" in b1.script, f"U-Boot ran our boot.scr and booted {v1}: {b1.script}")
    guest_deploy_ok(b1, "v2")
    v2 = (b1.counter or {}).get("trial")
    check(v2 not in (None, v1), f"the guest's deploy armed a trial for the update: {b1.counter}")
    counter_is(b1, v2, 3, "after the guest's deploy of v2")
    check(vm_uboot.plan_order(st.disk)[:2] == [v2, v1], f"plan: v2 then v1: {vm_uboot.plan_order(st.disk)}")
    b2 = st.boot()
    check(f"BootDeploy: trial boot of {v2}, 2 tries left after this one" in b2.script,
          f"the script counted v2's try: {b2.script}")
    check(vt.reached_report(b2) and b2.get("booted") == v2, f"the update boots first: {b2.get('booted')}")
    e2 = st.entry_of(v2)
    check(isinstance(e2, dict) and e2["left"] is None, f"boot-health blessed v2's entry: {st.entries_names()}")
    guest_deploy_ok(b2, "v3")
    v3 = (b2.counter or {}).get("trial")
    check(v3 not in (None, v1, v2), f"a new trial for v3: {b2.counter}")
    counter_is(b2, v3, 3, "after the guest's deploy of v3 (v2's trial was cleared by the bless)")
    b3 = st.boot()
    check(b3.get("booted") == v3, f"v3 boots once: {b3.get('booted')}")
    check(f"BootDeploy: trial boot of {v3}, 2 tries left after this one" in b3.script, f"counted: {b3.script}")
    check(b3.end in ("reboot", "poweroff", "exited"), f"its failed boot ends in a reboot: {b3.end}")
    # boot-health marks v3 bad (a copy with no tries left), then rolls back in the same boot: the plan
    # lists v2 first and arming clears the trial (the newer copy). Either way U-Boot never boots v3 again.
    c3 = b3.counter or {}
    check((v3, 0) in [x[:2] for x in (c3.get("a"), c3.get("b")) if x], f"v3 marked bad in a counter copy: {b3.counter}")
    order = vm_uboot.plan_order(st.disk)
    check(order[:1] == [v2] and order[-1:] == [v3] and (c3.get("trial") is None or c3 == {**c3, "trial": v3, "left": 0}),
          f"rolled back: v2 first, v3 last, no live trial: plan {order}, counter {b3.counter}")
    b4 = st.boot()
    check(f"BootDeploy: {v3} has no tries left, falling back to {v2}" in b4.script or
          (f"BootDeploy: booting {v2}" in b4.script and not any("trial boot" in x for x in b4.script)),
          f"U-Boot boots v2 without counting: {b4.script}")
    check(vt.reached_report(b4) and b4.get("booted") == v2, f"back on {v2}: {b4.get('booted')}")
    hs = b4.get("healthStatus", "")
    check("bdvm-required.service" in hs, f"boot-health names the failed service: {hs[:300]}")
    order = vm_uboot.plan_order(st.disk)
    check(order[:1] == [v2], f"the plan boots {v2} first: {order}")
    c = b4.counter or {}
    check(c.get("trial") in (None, v3) and (c.get("trial") is None or c.get("left") == 0),
          f"no live trial left: {b4.counter}")
    e3 = st.entry_of(v3)
    check(isinstance(e3, dict) and e3["left"] == 0, f"v3's entry is marked bad: {st.entries_names()}")
    return st.machine


# A kernel that panics (an initramfs it cannot unpack; panic=5) with --tries 1: the script spends the
# one try, then boots v1, which is blessed; the spent trial is never booted again. 3 boots.
def panics(env, work):
    st, v1 = factory(env, work, OneTry)
    vt.deploy_update_in_guest(env, work, st, "v2", "2", vt.broken_initramfs)
    st.make_disk()
    b1 = st.boot()
    vt.first_boot_good(st, b1, v1)
    guest_deploy_ok(b1, "v2")
    v2 = (b1.counter or {}).get("trial")
    check(v2 not in (None, v1), f"a trial armed: {b1.counter}")
    counter_is(b1, v2, 1, "--tries 1")
    b2 = st.boot()
    check(f"BootDeploy: trial boot of {v2}, 0 tries left after this one" in b2.script, f"counted: {b2.script}")
    check(not vt.reached_report(b2), "the broken update never reaches the report")
    check("Kernel panic" in b2.text or b2.end in ("reboot", "timeout"), f"it panics: {b2.end}")
    counter_is(b2, v2, 0, "U-Boot wrote the spent try with fatwrite")
    b3 = st.boot()
    check(f"BootDeploy: {v2} has no tries left, falling back to {v1}" in b3.script, f"fell back: {b3.script}")
    check(vt.reached_report(b3) and b3.get("booted") == v1, f"U-Boot fell back to {v1}: {b3.get('booted')}")
    e1 = st.entry_of(v1)
    check(isinstance(e1, dict) and e1["left"] is None, f"the fallback {v1} is blessed: {st.entries_names()}")
    # The spent trial stays spent: either still on trial with 0 tries, or no longer the plan's first.
    c = b3.counter or {}
    order = vm_uboot.plan_order(st.disk)
    check((c.get("trial") == v2 and c.get("left") == 0) or order[:1] != [v2],
          f"the script will not try {v2} again: counter {b3.counter}, plan {order}")
    return st.machine


# Power cuts at random moments of a guest deploy (the suite's story, 3 rounds): the next boot is healthy,
# and the counter on the ESP stays readable.
def power_cuts(env, work):
    # The cut falls at random within the deploy's duration: the suite measures it in scenario 1; alone,
    # take what b1's guest deploys took here (6.5-6.9 s), not the suite's 15 s (half the cuts would
    # fall after the deploy).
    env.times.setdefault("guest-deploy", 7.0)
    with setup_class(LateCuts):
        m = vt.power_cuts(env, work, finalize=False, rounds=3)
    for b in m.boots:
        check(getattr(b, "counter", None) is not None or not vm_uboot.script_lines(b),
              f"a readable counter after {os.path.basename(b.log_path)}")
    return m


SCENARIOS = [
    ("b1", "U-Boot: an update blessed, then one whose required service fails is rolled back", blessed_then_failing),
    ("b2", "U-Boot: a kernel that panics: the script spends the try and falls back", panics, "full"),
    ("b3", "U-Boot: power cuts during deploy: the next boot is healthy", power_cuts, "full"),
]
