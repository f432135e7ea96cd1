"""Real boots through GRUB 2.06 without BLS (docs/GRUB.md): OVMF (g1-g5) and SeaBIOS (g6-g7).

boot-deploy writes the menu and arms the grubenv; GRUB counts the trial down by string cases and
falls back; boot-health blesses or spends the trial. Assertions read the ESP (entries, the menu, the
grubenv) and the guest's report, as the systemd-boot scenarios do.
"""
import contextlib
import os
import shutil
import sys

import vmlib
import vm_grub

# The suite's own module (run as __main__): its Fail/Skip are the ones main() catches.
vt = sys.modules["__main__"] if hasattr(sys.modules.get("__main__"), "Setup") else __import__("vmtest")
check = vt.check


class GrubSetup(vt.Setup):
    """The suite's machine with GRUB instead of systemd-boot on the ESP."""
    FIRMWARE = "efi"
    TRIES = None

    def __init__(self, env, work):
        missing = vm_grub.missing_tools(self.FIRMWARE)
        if missing:
            raise vt.Skip("GRUB tools missing: " + ", ".join(missing) + " (scripts/install-deps.sh check)")
        super().__init__(env, work)
        shutil.rmtree(os.path.join(self.esp, "EFI"))
        shutil.rmtree(os.path.join(self.esp, "loader"))
        os.makedirs(os.path.join(self.esp, "grub"))
        if self.FIRMWARE == "efi":
            os.makedirs(os.path.join(self.esp, "EFI", "BOOT"))
            shutil.copyfile(vm_grub.efi_image(env.cache, work), os.path.join(self.esp, "EFI", "BOOT", "BOOTX64.EFI"))

    def deploy_args(self, tree, version, stage=False):
        a = super().deploy_args(tree, version, stage)
        return a + (["--tries", str(self.TRIES)] if self.TRIES is not None else [])

    def make_disk(self):
        m = super().make_disk()
        if self.FIRMWARE == "bios":
            vm_grub.install_bios(self.disk.path, vm_grub.bios_core(self.env.cache, self.work))
            self.machine = vm_grub.BiosMachine(self.disk, self.work, os.path.basename(self.work))
            return self.machine
        return m

    def boot(self, **kw):
        b = super().boot(**kw)
        b.grubenv = vm_grub.read_env(self.disk)
        self.env.log(f"           grubenv: {b.grubenv}; menu: {' '.join(vm_grub.menu_order(self.disk))}")
        return b


class BiosSetup(GrubSetup):
    FIRMWARE = "bios"


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


def check_settled(st, dep):
    """After health judged `dep` good: no trial, no counter, boot_success=1; the menu lists it first."""
    env = vm_grub.read_env(st.disk) or {}
    check("boot_counter" not in env and "bootdeploy_trial" not in env, f"no trial left in the grubenv: {env}")
    order = vm_grub.menu_order(st.disk)
    check(order[:1] == [dep], f"the menu lists {dep} first: {order}")


# One story for CI, 4 boots: v2 is deployed in the guest, GRUB counts its boot, boot-health ends the
# trial (blessed); then v3, whose required service fails: its trial is spent, the machine is back on v2.
def blessed_then_failing(env, work, cls):
    st, v1 = factory(env, work, cls)
    vt.deploy_update_in_guest(env, work, st, "v2", "2", vt.required_good_service)
    vt.deploy_update_in_guest(env, work, st, "v3", "3", vt.required_failing_service)
    st.make_disk()
    b1 = st.boot()
    vt.first_boot_good(st, b1, v1)
    check(b1.get("deployDone", "").split()[0:1] == ["0"], f"guest deploy of v2 failed: {b1.get('deployDone')}")
    v2 = b1.grubenv.get("bootdeploy_trial")
    check(v2 not in (None, v1) and b1.grubenv.get("boot_counter") == "3",
          f"the guest's deploy armed a trial of 3 for the update: {b1.grubenv}")
    check(vm_grub.menu_order(st.disk)[:2] == [v2, v1], f"menu: v2 then v1: {vm_grub.menu_order(st.disk)}")
    b2 = st.boot()
    check(vt.reached_report(b2) and b2.get("booted") == v2, f"the update boots first: {b2.get('booted')}")
    check(b2.get("deployDone", "").split()[0:1] == ["0"], f"guest deploy of v3 failed: {b2.get('deployDone')}")
    e2 = st.entry_of(v2)
    check(isinstance(e2, dict) and e2["left"] is None, f"boot-health blessed v2's entry: {st.entries_names()}")
    v3 = b2.grubenv.get("bootdeploy_trial")
    check(v3 not in (None, v1, v2) and b2.grubenv.get("boot_counter") == "3", f"a new trial for v3: {b2.grubenv}")
    b3 = st.boot()
    check(b3.get("booted") == v3, f"v3 boots once: {b3.get('booted')}")
    check(b3.end in ("reboot", "poweroff"), f"its failed boot ends in a reboot: {b3.end}")
    b4 = st.boot()
    check(vt.reached_report(b4) and b4.get("booted") == v2, f"back on {v2}: {b4.get('booted')}")
    hs = b4.get("healthStatus", "")
    check("bdvm-required.service" in hs, f"boot-health names the failed service: {hs[:300]}")
    check_settled(st, v2)
    e3 = st.entry_of(v3)
    check(isinstance(e3, dict) and e3["left"] == 0, f"v3's entry is marked bad: {st.entries_names()}")
    return st.machine


class OneTry(GrubSetup):
    TRIES = 1


class OneTryBios(BiosSetup):
    TRIES = 1


# A kernel that panics (an initramfs it cannot unpack; panic=5): GRUB spends the one try, boots v1. 3 boots.
def panics(env, work, cls):
    st, v1 = factory(env, work, cls)
    vt.deploy_update_in_guest(env, work, st, "v2", "2", vt.broken_initramfs)
    st.make_disk()
    b1 = st.boot()
    vt.first_boot_good(st, b1, v1)
    v2 = b1.grubenv.get("bootdeploy_trial")
    check(v2 not in (None, v1) and b1.grubenv.get("boot_counter") == "1", f"a trial of 1 armed: {b1.grubenv}")
    b2 = st.boot()
    check(not vt.reached_report(b2), "the broken update never reaches the report")
    check("Kernel panic" in b2.text or b2.end in ("reboot", "timeout"), f"it panics: {b2.end}")
    check(b2.grubenv.get("boot_counter") == "0", f"GRUB saved the spent try: {b2.grubenv}")
    b3 = st.boot()
    check(vt.reached_report(b3) and b3.get("booted") == v1, f"GRUB fell back to {v1}: {b3.get('booted')}")
    # The spent trial stays spent (boot-health on v1 leaves it; no commit re-arms it).
    env_ = vm_grub.read_env(st.disk) or {}
    check(env_.get("bootdeploy_trial") == v2 and env_.get("boot_counter") == "0",
          f"the spent trial stays spent after boot-health ran on {v1}, so GRUB never tries it again: {env_}")
    check(f"boot-deploy: {v2} has no tries left" in b3.text or cls.FIRMWARE == "bios",
          "GRUB said why it booted the previous deployment")
    return st.machine


def all_bad(env, work, cls):
    with setup_class(cls):
        return vt.scenario_all_bad(env, work)


def power_cuts(env, work, cls):
    with setup_class(cls):
        return vt.power_cuts(env, work, finalize=False, rounds=2)


SCENARIOS = [
    ("g1", "GRUB/OVMF: an update blessed, then one whose required service fails is rolled back", lambda e, w: blessed_then_failing(e, w, GrubSetup)),
    ("g2", "GRUB/OVMF: a kernel that panics: GRUB spends the try and falls back", lambda e, w: panics(e, w, OneTry), "full"),
    ("g3", "GRUB/OVMF: every deployment bad: up, degraded, no reboot loop", lambda e, w: all_bad(e, w, GrubSetup), "full"),
    ("g4", "GRUB/OVMF: power cuts during deploy: the next boot is healthy", lambda e, w: power_cuts(e, w, GrubSetup), "full"),
    ("g5", "GRUB/SeaBIOS: an update blessed, then one whose required service fails is rolled back", lambda e, w: blessed_then_failing(e, w, BiosSetup)),
    ("g6", "GRUB/SeaBIOS: a kernel that panics: GRUB spends the try and falls back", lambda e, w: panics(e, w, OneTryBios), "full"),
]
