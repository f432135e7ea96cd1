"""U-Boot 2023.01 (Debian's u-boot-qemu) on the suite's disk: the 32-bit `qemu-x86` ROM as QEMU's BIOS
(MACHINE-FACTS: the 64-bit ROM resets instead of starting the Debian kernel). Its distro boot finds
the ESP (a GPT partition of the EFI system type counts as bootable), then `/boot.scr` on it: the
BootDeploy boot script, which reads `loader/entries/bootdeploy.env` and the counter `bdcount.a`/`.b`.

The readers below are the test's own (docs/UBOOT.md's rules), not the project's: a state the project
misreads is then seen by the assertions.
"""
import os
import re

import vmlib

ROM = "/usr/lib/u-boot/qemu-x86/u-boot.rom"


def missing_tools():
    return [p for p in (ROM,) if not os.path.exists(p)]


class UBootMachine(vmlib.Machine):
    """QEMU with U-Boot as its firmware (no pflash, no EFI variables), the disk on virtio."""

    def qemu_cmd(self):
        return ["timeout", str(vmlib.BOOT_TIMEOUT), "qemu-system-x86_64",
                "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1024", "-smp", "2",
                "-nographic", "-serial", "mon:stdio", "-no-reboot", "-nic", "none",
                "-bios", ROM] + self.disk_args()

    # The script gave up (it then falls through to U-Boot's prompt, which waits for the timeout).
    GAVE_UP = ("BootDeploy: the kernel of ", "SCRIPT FAILED")

    # Seen once in ~30 boots on the loaded machine: U-Boot hung in its video set-up, before any of our
    # code ran (nothing written). A real board's watchdog power-cycles then: so does the harness.
    STARTED = "Hit any key to stop autoboot"
    START_LIMIT = 90.0

    def _watch(self, p, b, kill_when, kill_delay, t0):
        def early_hang():
            import time
            return time.monotonic() - t0 > self.START_LIMIT and self.STARTED not in b.text
        orig = vmlib.STUCK
        class Hang(tuple):   # STUCK's `any(x in text ...)`: true once the firmware has hung
            def __iter__(self):
                return iter(tuple(orig) + (("",) if early_hang() else ()))
        vmlib.STUCK = Hang(orig)
        try:
            return vmlib.Machine._watch(p, b, kill_when, kill_delay, t0)
        finally:
            vmlib.STUCK = orig

    def boot(self, **kw):
        old = vmlib.STUCK
        vmlib.STUCK = old + self.GAVE_UP
        try:
            for attempt in (1, 2):
                b = super().boot(**kw)
                if attempt == 2 or self.STARTED in b.text or b.end != "stuck":
                    return b
                kw.get("log", print)(f"           U-Boot hung before autoboot ({b.seconds:.0f}s, nothing ran): power-cycling")
        finally:
            vmlib.STUCK = old


def parse_env_text(text):
    """`env import -t` text as a dict (None for text that is not: a line without '=')."""
    out = {}
    for line in text.rstrip("\0").split("\n"):
        if line == "" or line.startswith("#"):
            continue
        if "=" not in line:
            return None
        k, _, v = line.partition("=")
        if k in out:
            return None
        out[k] = v
    return out


def parse_copy(text):
    """One counter copy: (trial or None, left, seq), or None when the copy is not valid."""
    if text is None or "\0" in text.rstrip("\0"):
        return None
    v = parse_env_text(text)
    if v is None or sorted(v) != ["bdc_left", "bdc_seq", "bdc_trial", "bdc_zend"]:
        return None
    if v["bdc_seq"] not in ("0", "1", "2") or v["bdc_zend"] != v["bdc_seq"]:
        return None
    if not re.fullmatch(r"[0-9]", v["bdc_left"]) or v["bdc_trial"] == "":
        return None
    return (None if v["bdc_trial"] == "-" else v["bdc_trial"], int(v["bdc_left"]), int(v["bdc_seq"]))


def read_counter(disk):
    """The counter as the boot script reads it: {'trial', 'left', 'seq', 'a', 'b'} (a/b: each copy,
    None when missing or invalid), or None when neither copy is valid."""
    a = parse_copy(disk.esp_read("/bdcount.a"))
    b = parse_copy(disk.esp_read("/bdcount.b"))
    if a and b:
        cur = b if b[2] == (a[2] + 1) % 3 else a
    else:
        cur = a or b
    if cur is None:
        return None
    return {"trial": cur[0], "left": cur[1], "seq": cur[2], "a": a, "b": b}


def plan_order(disk):
    """bd_N_id of loader/entries/bootdeploy.env in order (0 = what the script boots first)."""
    v = parse_env_text(disk.esp_read("/loader/entries/bootdeploy.env") or "") or {}
    out = []
    for n in range(int(v.get("bd_count", "0") or 0)):
        out.append(v.get(f"bd_{n}_id"))
    return out


def script_lines(b):
    """What the boot script said on the console ('BootDeploy: ...')."""
    return [line.strip() for line in b.text.splitlines() if line.strip().startswith("BootDeploy:")]


def script_as_on_fat(path, work):
    """The factory image is built on the host, where the ESP is an ext4 directory standing in for the
    FAT, so boot-deploy compiled its script with `ext4write`; the disk's ESP is FAT. Re-make it as
    boot-deploy makes it on a FAT partition (`fatwrite`), with the real mkimage (time 0 as ours)."""
    import struct
    raw = open(path, "rb").read()
    size = struct.unpack(">I", raw[64:68])[0]
    text = raw[72:72 + size].decode()
    check_text = text.replace(" ext4write ", " fatwrite ")
    if check_text == text:
        return False
    src = os.path.join(work, "boot.scr.txt")
    with open(src, "w") as f:
        f.write(check_text)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    vmlib.sh(["mkimage", "-A", "x86", "-O", "linux", "-T", "script", "-C", "none",
              "-n", "BootDeploy boot script", "-d", src, path + ".tmp"], env=env)
    os.rename(path + ".tmp", path)
    return True
