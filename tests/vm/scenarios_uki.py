"""Real boots of UKI deployments (docs/UKI.md) on OVMF + systemd-boot.

u1 (CI): two UKI deployments made on the host with `deploy --uki`: the factory one and a failing
update (its required service fails), the default with tries. systemd-boot starts the update's
image through its entry's `efi` line, boot-health fails it, the machine falls back to the factory
deployment's UKI, which boots and is blessed.
"""
import os
import re
import shutil

import sys

import uki_vmlib

# The suite's own module (run as __main__): its Fail/Skip are the ones main() catches.
vmtest = sys.modules["__main__"] if hasattr(sys.modules.get("__main__"), "Setup") else __import__("vmtest")
check, required_failing_service, required_good_service = vmtest.check, vmtest.required_failing_service, vmtest.required_good_service
dep_name, reached_report, rank = vmtest.dep_name, vmtest.reached_report, vmtest.rank
broken_initramfs = vmtest.broken_initramfs


class UKISetup(vmtest.Setup):
    def deploy_args(self, tree, version, stage=False):
        return super().deploy_args(tree, version, stage) + ["--uki"]


def efi_line(st, dep):
    e = st.entry_of(dep)
    if not isinstance(e, dict):
        return None
    text = st.disk.esp_read(f"/loader/entries/{e['name']}") or ""
    m = re.search(r"^efi (\S+)$", text, re.M)
    return m.group(1) if m else None


def scenario_uki_fallback(env, work):
    env.require("boot-deploy deploy", "boot-deploy status", "boot-health", "dracut-module", "units")
    if not uki_vmlib.have_uki_tools():
        raise vmtest.Skip("objcopy or the systemd stub is missing (scripts/install-deps.sh check)")
    st = UKISetup(env, work)
    v1tree = env.os_tree(work, "tree-v1", "1", required_good_service)
    st.initial(v1tree, "1")
    shutil.rmtree(v1tree)
    v2tree = env.os_tree(work, "tree-v2", "2", required_failing_service)
    st.run_bd("deploy", *st.deploy_args(v2tree, "2"))
    shutil.rmtree(v2tree)
    recs = st.records()
    check(len(recs) == 2 and all(r.get("uki") for r in recs), f"two UKI deployment records: {recs}")
    v1 = dep_name(min(recs, key=lambda r: r["created"] + r["id"]))
    v2 = [dep_name(r) for r in recs if dep_name(r) != v1][0]
    for r in recs:
        check(os.path.isfile(os.path.join(st.esp, r["uki"]["path"])), f"the UKI of {dep_name(r)} is on the ESP")
    st.make_disk()
    for dep in (v1, v2):
        check((efi_line(st, dep) or "").startswith("/bootdeploy/os/uki/"), f"the entry of {dep} starts its UKI: {st.entries_names()}")
    back = None
    lefts = []
    v2_booted = False
    for _ in range(6):
        b = st.boot()
        bt = b.get("booted")
        if bt == v1:
            back = b
            break
        if bt == v2:
            v2_booted = True
        e = st.entry_of(v2)
        if isinstance(e, dict):
            lefts.append(e["left"])
        check(b.end in ("reboot", "poweroff"), f"a failed boot should end in a reboot, got {b.end}")
    check(v2_booted, "the failing UKI update never booted (its image did not start?)")
    check(back is not None, "the machine never came back to the factory UKI deployment")
    check(reached_report(back), "the fallback boot did not reach the report")
    env.log(f"           the update's counter on the ESP after each of its boots: {lefts}")
    check(all(a > b for a, b in zip(lefts, lefts[1:])), f"the counter must count down: {lefts}")
    e1, e2 = st.entry_of(v1), st.entry_of(v2)
    check(isinstance(e1, dict) and isinstance(e2, dict), f"one ESP entry each: {st.entries_names()}")
    check(e2["left"] == 0 or rank(e2) < rank(e1), f"the bad update must not stay first: {e2['name']} vs {e1['name']}")
    # The factory UKI deployment was blessed on its good boot, and stays the default.
    b = st.boot()
    check(b.get("booted") == v1, f"the factory deployment must stay the default: {b.get('booted')}")
    e1 = st.entry_of(v1)
    check(isinstance(e1, dict) and e1["left"] is None, f"the factory UKI entry is blessed: {e1}")
    check(b.get("bootCountPath", "") == "", f"a blessed entry is not counted: {b.get('bootCountPath')}")
    # What systemd-boot's own parser makes of the ESP now: bootctl list over a copy of it.
    listed = uki_vmlib.bootctl_list(st.disk, os.path.join(work, "esp-final"))
    if listed is None:
        env.log("           SKIP: bootctl list (bootctl or unshare missing)")
    else:
        images = {dep_name(r): "/" + r["uki"]["path"] for r in recs}
        env.log(f"           bootctl list: {[(x['id'], x.get('triesLeft'), x.get('efi')) for x in listed]}")
        check(len(listed) == 2, f"bootctl lists our two entries: {listed}")
        check(listed[0].get("efi") == images[v1] and "triesLeft" not in listed[0],
              f"bootctl's first (default) entry starts the factory UKI, blessed: {listed[0]}")
        check(listed[1].get("efi") == images[v2] and listed[1].get("triesLeft") == 0,
              f"bootctl lists the failed update's UKI last with no tries left: {listed[1]}")
    return st.machine


def write_uki_conf(st, text):
    with open(os.path.join(st.sysroot, "bootdeploy", st.STATEROOT, "uki.conf"), "w") as f:
        f.write(text)


# u2 (full): Secure Boot on, our test certificate enrolled as PK, KEK and db (virt-fw-vars), systemd-boot
# signed with it. The factory deployment's UKI is signed; the update's is not, and it is the default with
# one try. What OVMF and systemd-boot 252 do with it (seen on the console of the first run): systemd-boot
# counts the try (renames the entry to +0-1), LoadImage of the unsigned image fails ("Error loading
# \bootdeploy\os\uki\<digest>.efi: Access Denied"), systemd-boot exits with that status, the firmware
# tries its next boot option (the EFI shell, refused as unsigned too: "Security Violation"), and within
# the same power-on systemd-boot runs again: the exhausted entry sorts last and the signed UKI boots with
# Secure Boot on and is blessed. A second power-on boots it again with no refusal on the console.
def scenario_uki_secure_boot(env, work):
    env.require("boot-deploy deploy", "boot-deploy status", "boot-health", "dracut-module", "units")
    missing = (uki_vmlib.ensure_virt_fw_vars(env.log) or uki_vmlib.secure_boot_missing()
               or (None if uki_vmlib.have_uki_tools() else "objcopy or the systemd stub"))
    if missing:
        raise vmtest.Skip(f"missing {missing}")
    st = UKISetup(env, work)
    key, crt = uki_vmlib.make_keys(work)
    uki_vmlib.sign_in_place(os.path.join(st.esp, "EFI", "BOOT", "BOOTX64.EFI"), key, crt)
    v1tree = env.os_tree(work, "tree-v1", "1", required_good_service)
    st.run_bd("init", "--stateroot", st.STATEROOT)
    write_uki_conf(st, f"uki yes\nsign-key {key}\nsign-cert {crt}\nsigning required\n")
    st.run_bd("deploy", *st.deploy_args(v1tree, "1"))
    shutil.rmtree(v1tree)
    write_uki_conf(st, "uki yes\nsigning optional\n")
    v2tree = env.os_tree(work, "tree-v2", "2", required_good_service)
    st.run_bd("deploy", *st.deploy_args(v2tree, "2"), "--tries", "1")
    shutil.rmtree(v2tree)
    recs = st.records()
    signed = {dep_name(r): r["uki"]["signed"] for r in recs}
    images = {dep_name(r): r["uki"]["path"] for r in recs}
    v1 = [d for d, s in signed.items() if s]
    v2 = [d for d, s in signed.items() if not s]
    check(len(v1) == 1 and len(v2) == 1, f"one signed and one unsigned UKI deployment: {signed}")
    v1, v2 = v1[0], v2[0]
    st.every_boot(uki_vmlib.SECURE_BOOT_REPORT)
    st.make_disk()
    uki_vmlib.enrolled_vars(crt, st.disk.vars)
    st.machine = uki_vmlib.SecureBootMachine(st.disk, st.work, os.path.basename(st.work))
    first = st.entries()
    check(first and max(first, key=rank)["deployment"] == v2, f"the unsigned update is the default: {first}")
    check(all((efi_line(st, d) or "").endswith(os.path.basename(images[d])) for d in (v1, v2)),
          f"each entry starts its own UKI: {images}")
    b1 = st.boot()
    refused = re.findall(r"Error loading ([^\r\n:]+): ([^\r\n]+)", b1.text)
    env.log(f"           systemd-boot: {refused}")
    check(len(refused) == 1, f"systemd-boot reports one image it could not load: {refused}")
    path, why = refused[0]
    check(path.replace("\\", "/").lstrip("/") == images[v2],
          f"the refused image is the unsigned update's: {path} vs {images[v2]}")
    check(re.search(r"Access Denied|Security Violation", why), f"the firmware refused it for its signature: {why}")
    check(b1.get("booted") == v1 and reached_report(b1),
          f"the signed UKI boots in the same power-on: booted {b1.get('booted')} ({b1.end})")
    check(b1.get("secureBoot") == "1" and "Secure boot enabled" in (b1.get("secureBootKernel") or ""),
          f"Secure Boot is on in the guest: SecureBoot={b1.get('secureBoot')}, kernel: {b1.get('secureBootKernel')}")
    e2 = st.entry_of(v2)
    check(isinstance(e2, dict) and e2["left"] == 0, f"systemd-boot spent the unsigned update's try: {st.entries_names()}")
    e1 = st.entry_of(v1)
    check(isinstance(e1, dict) and e1["left"] is None, f"the signed UKI's entry is blessed: {e1}")
    b2 = st.boot()
    check("Error loading" not in b2.text, "the next power-on starts the signed image first, with no refusal")
    check(b2.get("booted") == v1 and reached_report(b2),
          f"the signed UKI boots again: booted {b2.get('booted')} ({b2.end})")
    check(b2.get("secureBoot") == "1" and b2.get("bootCountPath", "") == "",
          f"Secure Boot on, blessed entry not counted: {b2.get('secureBoot')} {b2.get('bootCountPath')}")
    return st.machine


# u3 (full): the update's UKI carries an initramfs the kernel cannot unpack, so its kernel panics
# (panic=5 reboots) before anything could judge it: only systemd-boot's counter ends it. Each of its
# tries is one dead boot; when the counter runs out the entry sorts last and the factory UKI boots.
def scenario_uki_panic(env, work):
    env.require("boot-deploy deploy", "boot-deploy status", "boot-health", "dracut-module", "units")
    if not uki_vmlib.have_uki_tools():
        raise vmtest.Skip("objcopy or the systemd stub is missing (scripts/install-deps.sh check)")
    st = UKISetup(env, work)
    v1tree = env.os_tree(work, "tree-v1", "1", required_good_service)
    st.initial(v1tree, "1")
    shutil.rmtree(v1tree)
    v2tree = env.os_tree(work, "tree-v2", "2", broken_initramfs)
    st.run_bd("deploy", *st.deploy_args(v2tree, "2"), "--tries", "2")
    shutil.rmtree(v2tree)
    recs = st.records()
    check(len(recs) == 2 and all(r.get("uki") for r in recs), f"two UKI deployment records: {recs}")
    v1 = dep_name(min(recs, key=lambda r: r["created"] + r["id"]))
    v2 = [dep_name(r) for r in recs if dep_name(r) != v1][0]
    st.make_disk()
    e2 = st.entry_of(v2)
    check(isinstance(e2, dict) and e2["left"] == 2 and (efi_line(st, v2) or "").startswith("/bootdeploy/os/uki/"),
          f"the update's entry starts its UKI with 2 tries: {st.entries_names()}")
    dead, back, lefts = 0, None, []
    for _ in range(4):
        b = st.boot()
        if reached_report(b):
            back = b
            break
        check("Kernel panic" in b.text, f"the broken UKI's kernel should panic (boot ended {b.end})")
        dead += 1
        e = st.entry_of(v2)
        lefts.append(e["left"] if isinstance(e, dict) else None)
    env.log(f"           the update's counter after each dead boot: {lefts}")
    check(dead == 2 and lefts == [1, 0], f"the panicking UKI uses exactly its 2 tries: {dead} dead boots, {lefts}")
    check(back is not None and back.get("booted") == v1, f"systemd-boot falls back to the factory UKI {v1}")
    check(st.entry_of(v1)["left"] is None, f"the factory UKI's entry is blessed: {st.entries_names()}")
    listed = uki_vmlib.bootctl_list(st.disk, os.path.join(work, "esp-final"))
    if listed is None:
        env.log("           SKIP: bootctl list (bootctl or unshare missing)")
    else:
        check(listed[-1].get("options", "").endswith(f"bootdeploy={v2}") and listed[-1].get("triesLeft") == 0,
              f"bootctl lists the exhausted UKI entry last: {listed}")
    return st.machine


SCENARIOS = [
    ("u1", "UKI deployments: a failing UKI update falls back, the factory UKI is blessed", scenario_uki_fallback),
    ("u2", "Secure Boot: a signed UKI boots, an unsigned one is refused by the firmware", scenario_uki_secure_boot, "full"),
    ("u3", "a UKI whose kernel panics uses up its tries, systemd-boot falls back", scenario_uki_panic, "full"),
]
