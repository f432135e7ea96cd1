"""Machinery of the real-boot suite (tests/vm): disk images without mounting the ESP, OVMF + systemd-boot
under QEMU/TCG, the serial console protocol of the guest's report unit (guest/report).

Nothing here knows a scenario; vmtest.py composes these pieces.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import time

SECTOR = 512
ESP_START = 2048                       # sectors (1 MiB)
ESP_MIB = 512                          # smaller FAT32 is misread as FAT16 by OVMF (MACHINE-FACTS)
ROOT_START = ESP_START + ESP_MIB * 2048
ROOT_MIB = 3584
DISK_MIB = 1 + ESP_MIB + ROOT_MIB + 1
ESP_OFFSET = ESP_START * SECTOR
ROOT_OFFSET = ROOT_START * SECTOR
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
ESP_PARTUUID = "5b1c3e2a-0d6f-4c8e-9a77-0000000000e5"
ROOT_PARTUUID = "5b1c3e2a-0d6f-4c8e-9a77-00000000a001"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
SD_BOOT_EFI = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
BOOT_TIMEOUT = 300
# Console text after which a boot can never go on: stop at once instead of waiting for the timeout.
STUCK = ("Freezing execution", "You are in emergency mode", "Give root password for maintenance",
         "Cannot open access to console, the root account is locked", "Press Enter for maintenance")
STUCK_GRACE = 3.0


class VMError(Exception):
    pass


def sh(cmd, **kw):
    """Runs a command, failing loudly with its output."""
    kw.setdefault("check", True)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw)
    except subprocess.CalledProcessError as e:
        raise VMError(f"command failed ({e.returncode}): {' '.join(map(str, cmd))}\n{e.stdout}\n{e.stderr}")


def mtools_env():
    env = dict(os.environ)
    env["MTOOLS_SKIP_CHECK"] = "1"
    return env


class Disk:
    """A GPT disk image: p1 vfat ESP (filled with mtools), p2 ext4 root (filled by mkfs.ext4 -d)."""

    def __init__(self, path):
        self.path = path
        self.vars = path + ".vars.fd"

    @property
    def esp(self):
        return f"{self.path}@@{ESP_OFFSET}"

    def create(self, esp_dir, root_dir):
        if os.path.exists(self.path):
            os.unlink(self.path)
        with open(self.path, "wb") as f:
            f.truncate(DISK_MIB * 1024 * 1024)
        table = (
            "label: gpt\n"
            f"start={ESP_START}, size={ESP_MIB * 2048}, type={ESP_TYPE}, uuid={ESP_PARTUUID}, name=ESP\n"
            f"start={ROOT_START}, size={ROOT_MIB * 2048}, type={ROOT_TYPE}, uuid={ROOT_PARTUUID}, name=root\n"
        )
        sh(["sfdisk", "-q", self.path], input=table)
        sh(["mkfs.vfat", "-F", "32", "-n", "ESP", "--offset", str(ESP_START), self.path, str(ESP_MIB * 1024)])
        self.esp_push(esp_dir)
        sh(["mkfs.ext4", "-q", "-F", "-L", "root", "-E", f"offset={ROOT_OFFSET}", "-d", root_dir,
            self.path, f"{ROOT_MIB}M"])
        # One private copy of the firmware variables per image (a reused one can strand OVMF in its shell).
        shutil.copyfile(OVMF_VARS, self.vars)

    def esp_push(self, esp_dir):
        """Copies a host directory's content onto the (empty or fresh) ESP."""
        entries = sorted(os.listdir(esp_dir))
        if entries:
            sh(["mcopy", "-s", "-o", "-i", self.esp] + [os.path.join(esp_dir, e) for e in entries] + ["::/"],
               env=mtools_env())

    def esp_reformat_push(self, esp_dir):
        sh(["mkfs.vfat", "-F", "32", "-n", "ESP", "--offset", str(ESP_START), self.path, str(ESP_MIB * 1024)])
        self.esp_push(esp_dir)

    def esp_pull(self, dest):
        """Copies the whole ESP into a fresh host directory (to assert on names and contents)."""
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.makedirs(dest)
        sh(["mcopy", "-s", "-n", "-i", self.esp, "::/*", dest + "/"], env=mtools_env())
        return dest

    def esp_list(self, path="/loader/entries"):
        """File names in a directory of the ESP, as the FAT stores them (long names)."""
        r = sh(["mdir", "-b", "-i", self.esp, "::" + path], env=mtools_env(), check=False)
        if r.returncode != 0:
            return []
        names = []
        for line in r.stdout.splitlines():
            line = line.strip()
            if line:
                names.append(line.rstrip("/").split("/")[-1])
        return sorted(n for n in names if n not in (".", ".."))

    def esp_read(self, path):
        r = sh(["mtype", "-i", self.esp, "::" + path], env=mtools_env(), check=False)
        return r.stdout if r.returncode == 0 else None


class Boot:
    """One QEMU run (one boot, with -no-reboot): its console log and the parsed BDVM lines."""

    def __init__(self, log_path):
        self.log_path = log_path
        self.report = {}
        self.lines = []
        self.seconds = 0.0
        self.end = "unknown"          # poweroff | reboot | killed | timeout | exited
        self.rc = None

    @property
    def text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def parse(self):
        self.report = {}
        for raw in self.text.splitlines():
            line = raw.replace("\r", "")
            if "BDVM-ACTION" in line:
                continue
            m = re.search(r"(?:^|[^\w-])BDVM (\w+=.*)$", line)
            if not m:
                continue
            kv = m.group(1)
            k, _, v = kv.partition("=")
            self.lines.append((k, v))
            self.report[k] = v.strip()
        t = self.text
        if self.end == "exited":
            if "reboot: Power down" in t:
                self.end = "poweroff"
            elif "reboot: Restarting system" in t:
                self.end = "reboot"
        return self

    def get(self, k, default=None):
        return self.report.get(k, default)


def kill_group(p):
    """SIGKILL to the boot's process group (timeout and QEMU): the power cut."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
    # QEMU may take a moment to die after its group is killed; its image lock goes with it.
    time.sleep(0.5)


class Machine:
    """Runs an image's boots one at a time; every console log is kept, one file per boot."""

    def __init__(self, disk, work, name, nvme=False):
        self.disk = disk
        self.work = work
        self.name = name
        self.boots = []
        # NVMe instead of virtio: Debian's cloud kernel drives it (and ext4) without modules, so the
        # root can be mounted with no initramfs (scenario 8).
        self.nvme = nvme

    def qemu_cmd(self):
        return ["timeout", str(BOOT_TIMEOUT), "qemu-system-x86_64",
                "-accel", "tcg,thread=multi", "-cpu", "max", "-machine", "q35", "-m", "1024", "-smp", "2",
                "-nographic", "-serial", "mon:stdio", "-no-reboot", "-nic", "none",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.disk.vars}",
                ] + self.disk_args()

    def disk_args(self):
        if self.nvme:
            return ["-drive", f"if=none,id=d,file={self.disk.path},format=raw", "-device", "nvme,drive=d,serial=bd"]
        return ["-drive", f"file={self.disk.path},format=raw,if=virtio"]

    def boot(self, kill_when=None, kill_delay=(0.0, 0.0), log=print):
        """Boots once. kill_when: a console substring after which QEMU is killed (power cut) after a random
        delay drawn from kill_delay (seconds)."""
        n = len(self.boots) + 1
        b = Boot(os.path.join(self.work, f"{self.name}.boot{n:02d}.log"))
        t0 = time.monotonic()
        with open(b.log_path, "wb") as out, open(os.devnull, "rb") as devnull:
            # Own session: a power cut kills timeout and QEMU together (killpg), leaving no QEMU holding
            # the image's lock.
            p = subprocess.Popen(self.qemu_cmd(), stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                killed_at, stuck = self._watch(p, b, kill_when, kill_delay, t0)
            except BaseException:
                kill_group(p)   # never leave a QEMU behind (Ctrl-C, harness error)
                raise
            b.rc = p.returncode
        b.seconds = time.monotonic() - t0
        if stuck:
            b.end = "stuck"
        elif killed_at is not None:
            b.end = "killed"
        elif b.rc == 124:
            b.end = "timeout"
        else:
            b.end = "exited"
        b.parse()
        self.boots.append(b)
        log(f"  boot {n}: {b.end} after {b.seconds:.1f}s, booted={b.get('booted')} "
            f"entry={b.get('entrySelected')} state={b.get('systemState')}  [{os.path.basename(b.log_path)}]")
        return b

    @staticmethod
    def _watch(p, b, kill_when, kill_delay, t0):
        """Follows the console until QEMU exits; cuts the power when asked or when the boot is stuck."""
        deadline = None
        stuck_at = None
        while p.poll() is None:
            time.sleep(0.2)
            text = b.text
            if kill_when is not None and deadline is None and kill_when in text:
                deadline = time.monotonic() + random.uniform(*kill_delay)
            if stuck_at is None and any(x in text for x in STUCK):
                stuck_at = time.monotonic()
            if stuck_at is not None and time.monotonic() - stuck_at > STUCK_GRACE:
                kill_group(p)
                return None, True
            if deadline is not None and time.monotonic() >= deadline:
                kill_group(p)
                return time.monotonic() - t0, False
        return None, False


def bls_entry(title, linux, initrd, options, sort_key=None, version=None):
    s = f"title {title}\n"
    if sort_key:
        s += f"sort-key {sort_key}\n"
    if version:
        s += f"version {version}\n"
    s += f"linux {linux}\n"
    for i in initrd if isinstance(initrd, list) else [initrd]:
        s += f"initrd {i}\n"
    s += f"options {options}\n"
    return s


def make_esp_skeleton(esp_dir):
    """systemd-boot as the removable-media loader; loader.conf with no `default` (it defeats fallback)."""
    os.makedirs(os.path.join(esp_dir, "EFI", "BOOT"), exist_ok=True)
    shutil.copyfile(SD_BOOT_EFI, os.path.join(esp_dir, "EFI", "BOOT", "BOOTX64.EFI"))
    os.makedirs(os.path.join(esp_dir, "loader", "entries"), exist_ok=True)
    with open(os.path.join(esp_dir, "loader", "loader.conf"), "w") as f:
        f.write("timeout 0\nconsole-mode keep\neditor no\n")
