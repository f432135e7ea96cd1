"""Helpers of the UKI scenarios (scenarios_uki.py)."""
import os
import re
import shutil
import struct
import subprocess

import vmlib

STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
# virt-fw-vars (PyPI's virt-firmware, not packaged in Debian 12) lives in a venv beside the cached base.
VENV = "/var/cache/bootdeploy-vm/venv-virt-firmware"
VIRT_FW_VARS = os.path.join(VENV, "bin", "virt-fw-vars")
OVMF_CODE_SECBOOT = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
# The owner GUID of our test keys in PK, KEK and db (any GUID will do; this one is ours).
OWNER = "a6e0d1b2-5c3f-4e8a-9b7d-0c1e2f3a4b5c"
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
# The guest says whether the firmware booted it with Secure Boot on (the variable's byte after its
# 4 attribute bytes), and what the kernel logged about it.
SECURE_BOOT_REPORT = (
    f"echo \"BDVM secureBoot=$(od -An -t u1 -j4 -N1 {SECURE_BOOT_VAR} | tr -d ' ')\"\n"
    "echo \"BDVM secureBootKernel=$(dmesg | grep -i 'secure boot' | sed 's/^\\[[ 0-9.]*\\] //' | tr '\\n' ' ')\"\n")


def have_uki_tools():
    return os.path.isfile(STUB) and shutil.which("objcopy") is not None


def ensure_virt_fw_vars(log):
    """Creates the venv with virt-firmware when it is missing (python3-venv, PyPI); returns why not, or None."""
    if os.path.exists(VIRT_FW_VARS):
        return None
    log(f"           creating {VENV} (pip install virt-firmware)")
    for c in (["python3", "-m", "venv", VENV], [os.path.join(VENV, "bin", "pip"), "install", "-q", "virt-firmware"]):
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode != 0:
            return f"{' '.join(c)} failed: {(r.stdout + r.stderr).strip()[-300:]}"
    return None if os.path.exists(VIRT_FW_VARS) else f"{VIRT_FW_VARS} after pip install"


def secure_boot_missing():
    """What is missing for the Secure Boot scenario, or None."""
    for p, why in ((OVMF_CODE_SECBOOT, "OVMF_CODE_4M.secboot.fd (package ovmf)"),
                   (VIRT_FW_VARS, f"virt-fw-vars (python3 -m venv {VENV} && {VENV}/bin/pip install virt-firmware)")):
        if not os.path.exists(p):
            return why
    for t in ("sbsign", "sbverify", "openssl"):
        if shutil.which(t) is None:
            return t
    return None


def make_keys(d):
    """One self-signed test certificate serves as PK, KEK and db; returns (key, cert)."""
    key, crt = os.path.join(d, "test-db.key"), os.path.join(d, "test-db.crt")
    subprocess.run(["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-sha256",
                    "-subj", "/CN=BootDeploy VM test key/", "-keyout", key, "-out", crt], check=True, capture_output=True)
    return key, crt


def enrolled_vars(crt, out):
    """OVMF variables with our certificate as PK, KEK and db and Secure Boot on."""
    subprocess.run([VIRT_FW_VARS, "--input", vmlib.OVMF_VARS, "--output", out,
                    "--set-pk", OWNER, crt, "--add-kek", OWNER, crt, "--add-db", OWNER, crt, "--secure-boot"],
                   check=True, capture_output=True)


def sign_in_place(path, key, crt):
    tmp = path + ".signed"
    subprocess.run(["sbsign", "--key", key, "--cert", crt, "--output", tmp, path], check=True, capture_output=True)
    os.replace(tmp, path)


class SecureBootMachine(vmlib.Machine):
    """OVMF's Secure Boot build (SMM, secure flash) with the given enrolled variables."""

    def qemu_cmd(self):
        c = super().qemu_cmd()
        out = []
        for x in c:
            if x == "q35":
                x = "q35,smm=on"
            out.append(x.replace(f"file={vmlib.OVMF_CODE}", f"file={OVMF_CODE_SECBOOT}"))
        i = out.index("-machine")
        return out[:i] + ["-global", "driver=cfi.pflash01,property=secure,value=on"] + out[i:]


def bootctl_list(disk, dest):
    """The real `bootctl list --json=short` over a copy of the disk's ESP (bind-mounted on itself in a
    private mount namespace, so bootctl sees the root of a filesystem): entries in menu order, or None
    without bootctl/unshare."""
    import json
    if shutil.which("bootctl") is None or shutil.which("unshare") is None:
        return None
    disk.esp_pull(dest)
    sh = ("mount --bind \"$0\" \"$0\" && SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 "
          "bootctl --esp-path=\"$0\" --boot-path=\"$0\" --no-variables --no-pager list --json=short")
    r = subprocess.run(["unshare", "-m", "sh", "-c", sh, dest], capture_output=True, text=True)
    if r.returncode != 0:
        raise vmlib.VMError(f"bootctl list over {dest} failed ({r.returncode}): {r.stderr.strip()}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


# Our Type #2 entries: EFI/Linux/bootdeploy-<rank>-<stateroot>[+LEFT[-DONE]].efi (rank: at least 3 digits).
UKI_NAME_RE = re.compile(r"^(?P<base>bootdeploy-(?P<rank>\d{3,})-(?P<stateroot>[^+]+?))"
                         r"(?:\+(?P<left>\d+)(?:-(?P<done>\d+))?)?\.efi$", re.I)


def parse_uki_name(name):
    """name, base (the name without counter and .efi), rank, left/done (None without a counter); None if not ours."""
    m = UKI_NAME_RE.match(name)
    if not m:
        return None
    left = m.group("left")
    return {"name": name, "base": m.group("base"), "rank": int(m.group("rank")), "stateroot": m.group("stateroot"),
            "left": int(left) if left is not None else None,
            "done": int(m.group("done") or 0) if left is not None else None}


def pe_sections(stream, wanted, what):
    """The text of the wanted sections of a PE image read from a stream, reading no further than the last of
    them (.osrel and .cmdline come before .initrd and .linux, so this reads a few hundred KiB)."""
    buf = bytearray()

    def need(n):
        while len(buf) < n:
            chunk = stream.read(max(n - len(buf), 1 << 16))
            if not chunk:
                raise vmlib.VMError(f"{what}: not a complete PE image (ended at byte {len(buf)}, needed {n})")
            buf.extend(chunk)
    need(0x40)
    if bytes(buf[:2]) != b"MZ":
        raise vmlib.VMError(f"{what}: no MZ header")
    pe = struct.unpack_from("<I", buf, 0x3c)[0]
    need(pe + 24)
    if bytes(buf[pe:pe + 4]) != b"PE\0\0":
        raise vmlib.VMError(f"{what}: no PE signature at {pe:#x}")
    nsec = struct.unpack_from("<H", buf, pe + 6)[0]
    table = pe + 24 + struct.unpack_from("<H", buf, pe + 20)[0]
    need(table + 40 * nsec)
    where = {}
    for i in range(nsec):
        o = table + 40 * i
        name = bytes(buf[o:o + 8]).rstrip(b"\0").decode("ascii", "replace")
        vsize, _vaddr, rawsize, rawptr = struct.unpack_from("<IIII", buf, o + 8)
        where[name] = (rawptr, min(vsize, rawsize) if vsize else rawsize)
    out = {}
    for w in wanted:
        if w in where:
            p, n = where[w]
            need(p + n)
            out[w] = bytes(buf[p:p + n]).rstrip(b"\0").decode("utf-8", "replace")
    return out


def esp_image_sections(disk, path, wanted=(".cmdline", ".osrel")):
    """Sections of an image on the disk's ESP, streamed with mtype (the image is not copied whole)."""
    p = subprocess.Popen(["mtype", "-i", disk.esp, "::" + path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=vmlib.mtools_env())
    try:
        return pe_sections(p.stdout, wanted, f"ESP {path}")
    finally:
        p.kill()
        p.wait()


def file_image_sections(path, wanted=(".cmdline", ".osrel")):
    with open(path, "rb") as f:
        return pe_sections(f, wanted, path)


def _with_deployment(e, secs):
    found = re.findall(r"(?:^|\s)bootdeploy=(\S+)", secs.get(".cmdline", ""))
    e["deployment"] = found[-1] if found else None
    e["cmdline"] = secs.get(".cmdline")
    e["osrel"] = secs.get(".osrel")
    return e


def esp_ukis(disk):
    """Our Type #2 entries on the disk's ESP, highest rank first, each with the deployment its .cmdline boots
    (read from the image every time: a name says nothing about what it boots)."""
    out = []
    for n in disk.esp_list("/EFI/Linux"):
        e = parse_uki_name(n)
        if e is not None:
            out.append(_with_deployment(e, esp_image_sections(disk, f"/EFI/Linux/{n}")))
    return sorted(out, key=lambda e: -e["rank"])


def dir_ukis(boot_dir):
    """The same over a host directory standing in for the boot partition."""
    d = os.path.join(boot_dir, "EFI", "Linux")
    out = []
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        e = parse_uki_name(n)
        if e is not None:
            out.append(_with_deployment(e, file_image_sections(os.path.join(d, n))))
    return sorted(out, key=lambda e: -e["rank"])


def os_release(text):
    out = {}
    for line in (text or "").splitlines():
        k, sep, v = line.strip().partition("=")
        if sep and not k.startswith("#"):
            out[k] = v.strip().strip("\"'")
    return out


def sbverify(path, crt):
    """Whether the image's signature verifies with the certificate (sbverify --cert)."""
    return subprocess.run(["sbverify", "--cert", crt, path], capture_output=True).returncode == 0
