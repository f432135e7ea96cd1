"""GRUB 2.06 (Debian's, no blscfg) on the suite's disk: UEFI (a standalone EFI image as the removable
loader on OVMF) and BIOS (SeaBIOS: boot.img in the MBR, core.img in the gap before the ESP of the GPT
disk). boot-deploy finds /boot/grub on the ESP and writes the stub grub.cfg, the menu and the grubenv.
"""
import hashlib
import os
import shutil
import struct
import subprocess

import vmlib
from vmlib import VMError, sh

GRUB_LIB = "/usr/lib/grub"
CORE_LBA = 64        # inside the gap between the GPT (LBA 1-33) and the ESP (LBA 2048)

# The prefix stays where the modules are (the EFI image's memdisk; core.img has them all loaded).
EARLY_CFG = """insmod part_gpt
insmod part_msdos
insmod fat
insmod ext2
search --no-floppy --set=root --file /grub/grub.cfg
configfile ($root)/grub/grub.cfg
"""
SERIAL = "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n"
BIOS_MODULES = ("biosdisk part_gpt part_msdos fat ext2 normal configfile search search_fs_file linux test "
                "loadenv echo true serial terminal").split()


def missing_tools(firmware):
    need = [os.path.join(GRUB_LIB, "x86_64-efi" if firmware == "efi" else "i386-pc", "linux.mod")]
    out = [p for p in need if not os.path.exists(p)]
    tool = "grub-mkstandalone" if firmware == "efi" else "grub-mkimage"
    if shutil.which(tool) is None:
        out.append(tool)
    return out


def _cached(cache, label, key, build):
    h = hashlib.sha256(key.encode())
    ver = subprocess.run(["grub-mkimage", "--version"], capture_output=True, text=True).stdout
    h.update(ver.encode())
    out = os.path.join(cache, f"{label}-{h.hexdigest()[:16]}")
    if not os.path.exists(out):
        tmp = out + ".tmp"
        build(tmp)
        os.rename(tmp, out)
    return out


def efi_image(cache, work):
    """A standalone x86_64 EFI GRUB (all modules in its memdisk) whose embedded config finds the ESP."""
    def build(dest):
        cfg = os.path.join(work, "grub-early.cfg")
        with open(cfg, "w") as f:
            f.write(EARLY_CFG)
        sh(["grub-mkstandalone", "-O", "x86_64-efi", "-o", dest, "--locales=", "--themes=", "--fonts=",
            f"boot/grub/grub.cfg={cfg}"])
    return _cached(cache, "grub-efi", EARLY_CFG, build)


def bios_core(cache, work):
    """An i386-pc core.img with every module the stub and the menu use (no module directory needed)."""
    def build(dest):
        cfg = os.path.join(work, "grub-early.cfg")
        with open(cfg, "w") as f:
            f.write(SERIAL + EARLY_CFG)
        sh(["grub-mkimage", "-O", "i386-pc", "-o", dest, "-p", "/grub", "-c", cfg] + BIOS_MODULES)
    return _cached(cache, "grub-core", SERIAL + EARLY_CFG + " ".join(BIOS_MODULES), build)


def install_bios(disk_path, core_path):
    """boot.img's code into the protective MBR (the partition table kept), core.img at CORE_LBA, and
    the two sector numbers patched as grub-bios-setup does (boot.img's kernel sector at 0x5c; the
    first blocklist entry at the end of core.img's first sector)."""
    boot = bytearray(open(os.path.join(GRUB_LIB, "i386-pc", "boot.img"), "rb").read())
    core = bytearray(open(core_path, "rb").read())
    if len(core) > (2048 - CORE_LBA) * 512:
        raise VMError(f"core.img too big for the gap: {len(core)} bytes")
    struct.pack_into("<Q", boot, 0x5c, CORE_LBA)
    struct.pack_into("<Q", core, 0x200 - 12, CORE_LBA + 1)
    with open(disk_path, "r+b") as f:
        f.seek(0)
        f.write(boot[:440])
        f.seek(CORE_LBA * 512)
        f.write(core)


class BiosMachine(vmlib.Machine):
    """The same boots without pflash: QEMU's default firmware, SeaBIOS."""

    def qemu_cmd(self):
        return ["timeout", str(vmlib.BOOT_TIMEOUT), "qemu-system-x86_64",
                "-accel", "tcg,thread=multi", "-cpu", "max", "-machine", "q35", "-m", "1024", "-smp", "2",
                "-nographic", "-serial", "mon:stdio", "-no-reboot", "-nic", "none"] + self.disk_args()


def read_env(disk):
    """The grubenv on the ESP as a dict (None when absent)."""
    text = disk.esp_read("/grub/grubenv")
    if text is None:
        return None
    out = {}
    for line in text.split("\n")[1:]:
        if line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        out[k] = v
    return out


def menu_order(disk):
    """bootdeploy= of each menuentry of the menu on the ESP, in menu order."""
    import re
    text = disk.esp_read("/loader/entries/bootdeploy.grub.cfg") or ""
    return re.findall(r"'bootdeploy=([^']+)'", text)
