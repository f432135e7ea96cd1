"""Real boots of UKI deployments (docs/UKI.md) on OVMF + systemd-boot.

A UKI deployment is a Boot Loader Spec Type #2 entry on the ESP, `EFI/Linux/bootdeploy-<rank>-<stateroot>
[+LEFT[-DONE]].efi`, with no Type #1 entry: systemd-boot finds it there, counts its tries on its file name, and
boot-health blesses or marks it bad by renaming it. Ranks are fresh on every commit, so the scenarios never
name a file in advance: they find each deployment's image by the `bootdeploy=` of its `.cmdline`.

u1 (CI): two UKI deployments made on the host with `deploy --uki`: the factory one and a failing update (its
required service fails), the default with tries. systemd-boot starts the update's image, boot-health marks
it bad, the machine falls back to the factory deployment's UKI, which boots and is blessed.
"""
import json
import os
import re
import shutil

import sys

import uki_vmlib

# The suite's own module (run as __main__): its Fail/Skip are the ones main() catches.
vmtest = sys.modules["__main__"] if hasattr(sys.modules.get("__main__"), "Setup") else __import__("vmtest")
check, required_failing_service, required_good_service = vmtest.check, vmtest.required_failing_service, vmtest.required_good_service
dep_name, reached_report = vmtest.dep_name, vmtest.reached_report
broken_initramfs = vmtest.broken_initramfs
# The .osrel fields systemd-boot and bootctl would order by before the file name: none may be set.
VERSION_KEYS = ("IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID")


class UKISetup(vmtest.Setup):
    def deploy_args(self, tree, version, stage=False):
        return super().deploy_args(tree, version, stage) + ["--uki"]

    def boot(self, **kw):
        b = super().boot(**kw)
        self.env.log(f"           ESP EFI/Linux: {' '.join(self.disk.esp_list('/EFI/Linux'))}")
        return b

    def ukis(self):
        """Our Type #2 entries on the disk's ESP, highest rank (the default) first."""
        return uki_vmlib.esp_ukis(self.disk)

    def uki_of(self, deployment):
        es = [e for e in self.ukis() if e["deployment"] == deployment]
        return es[0] if len(es) == 1 else (es if es else None)

    def uki_names(self):
        return [e["name"] for e in self.ukis()]

    def status_ukis(self):
        """What `status --json` says of each deployment's UKI (its `uki`, None without)."""
        doc = json.loads(self.run_bd("status", "--json"))
        return {f"{d['stateroot']}/{d['id']}": d.get("uki") for d in doc["deployments"]}

    def our_type1(self, names):
        return [n for n in names if n.endswith(".conf") and n.startswith(("bd-", "bootdeploy-"))]


def check_placed(st, deps):
    """On the host, after the deploys: each deployment is exactly one Type #2 image of ours in EFI/Linux, the
    one `status` names, booting it (.cmdline), with an .osrel that leaves the order to the file name; no
    Type #1 entry of ours. Returns {deployment: image} (uki_vmlib.parse_uki_name + deployment, osrel)."""
    files = uki_vmlib.dir_ukis(st.esp)
    names = [f["name"] for f in files]
    status = st.status_ukis()
    out = {}
    for d in deps:
        fs = [f for f in files if f["deployment"] == d]
        check(len(fs) == 1, f"one image in EFI/Linux boots {d}: {names}")
        f = out[d] = fs[0]
        ref = status.get(d)
        check(isinstance(ref, dict) and ref.get("path") == f"EFI/Linux/{f['name']}",
              f"status names the live image of {d}, EFI/Linux/{f['name']}: {ref}")
        osrel = uki_vmlib.os_release(f["osrel"])
        check(osrel.get("IMAGE_ID") == "bootdeploy" and not any(k in osrel for k in VERSION_KEYS),
              f"the .osrel of {f['name']} has IMAGE_ID=bootdeploy and no {'/'.join(VERSION_KEYS)}: {osrel}")
    check(len(files) == len(deps), f"no other image of ours in EFI/Linux: {names}")
    entries = sorted(os.listdir(os.path.join(st.esp, "loader", "entries")))
    check(not st.our_type1(entries), f"a UKI deployment has no Type #1 entry: loader/entries holds {entries}")
    st.env.log(f"           EFI/Linux after the deploys: {' '.join(names)}; loader/entries: {' '.join(entries)}")
    return out


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
    placed = check_placed(st, (v1, v2))
    check(placed[v2]["rank"] > placed[v1]["rank"] and placed[v2]["left"],
          f"the update is the default (highest rank) with tries: {placed[v2]['name']} vs {placed[v1]['name']}")
    st.make_disk()
    check([e["deployment"] for e in st.ukis()] == [v2, v1], f"the disk's ESP holds both images: {st.uki_names()}")
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
        e = st.uki_of(v2)
        if isinstance(e, dict):
            lefts.append(e["left"])
        check(b.end in ("reboot", "poweroff"), f"a failed boot should end in a reboot, got {b.end}")
    check(v2_booted, "the failing UKI update never booted (its image did not start?)")
    check(back is not None, "the machine never came back to the factory UKI deployment")
    check(reached_report(back), "the fallback boot did not reach the report")
    env.log(f"           the update's counter on the ESP after each of its boots: {lefts}")
    check(all(a > b for a, b in zip(lefts, lefts[1:])), f"the counter must count down: {lefts}")
    e1, e2 = st.uki_of(v1), st.uki_of(v2)
    check(isinstance(e1, dict) and isinstance(e2, dict), f"one image each in EFI/Linux: {st.uki_names()}")
    check(e2["left"] == 0 and e2["done"] >= 1, f"the failed update is marked bad (+0-N.efi): {e2['name']}")
    # The factory UKI deployment was blessed on its good boot, and stays the default.
    b = st.boot()
    check(b.get("booted") == v1, f"the factory deployment must stay the default: {b.get('booted')}")
    e1, e2 = st.uki_of(v1), st.uki_of(v2)
    check(isinstance(e1, dict) and e1["left"] is None, f"the factory UKI is blessed (no counter): {st.uki_names()}")
    check(isinstance(e2, dict) and e2["left"] == 0, f"the failed update stays marked bad: {st.uki_names()}")
    check(b.get("bootCountPath", "") == "", f"a blessed entry is not counted: {b.get('bootCountPath')}")
    # The guest's own `boot-deploy status` reads the names systemd-boot and boot-health left on the ESP.
    try:
        doc = json.loads(b.get("deployStatus") or "")
        guest = {f"{d['stateroot']}/{d['id']}": d for d in doc["deployments"]}
    except (ValueError, KeyError, TypeError):
        doc, guest = {}, {}
    for d, e, state in ((v1, e1, "good"), (v2, e2, "bad")):
        g = guest.get(d) or {}
        check((g.get("uki") or {}).get("path") == f"EFI/Linux/{e['name']}" and g.get("entry") == e["name"]
              and g.get("state") == state, f"the guest's status of {d}: {state}, its image {e['name']}: {g}")
    check(not doc.get("problems"), f"the guest's status has no problems: {doc.get('problems')}")
    entries = st.entries_names()
    check(not st.our_type1(entries) and not [e for e in st.entries() if e["deployment"] in (v1, v2)],
          f"loader/entries holds no entry of ours for a UKI deployment: {entries}")
    # What systemd-boot's own parser makes of the ESP now: bootctl list over a copy of it.
    listed = uki_vmlib.bootctl_list(st.disk, os.path.join(work, "esp-final"))
    if listed is None:
        env.log("           SKIP: bootctl list (bootctl or unshare missing)")
    else:
        env.log(f"           bootctl list: {[(x.get('id'), x.get('triesLeft'), x.get('linux')) for x in listed]}")
        check(len(listed) == 2, f"bootctl lists our two entries: {listed}")
        check(listed[0].get("linux") == f"EFI/Linux/{e1['name']}" and "triesLeft" not in listed[0]
              and listed[0].get("options", "").endswith(f"bootdeploy={v1}"),
              f"bootctl's first (default) entry is the factory UKI as a Type #2 entry, blessed: {listed[0]}")
        check(listed[1].get("linux") == f"EFI/Linux/{e2['name']}" and listed[1].get("triesLeft") == 0
              and listed[1].get("options", "").endswith(f"bootdeploy={v2}"),
              f"bootctl lists the failed update's UKI last with no tries left: {listed[1]}")
    return st.machine


def write_uki_conf(st, text):
    with open(os.path.join(st.sysroot, "bootdeploy", st.STATEROOT, "uki.conf"), "w") as f:
        f.write(text)


# u2 (full): Secure Boot on, our test certificate enrolled as PK, KEK and db (virt-fw-vars), systemd-boot
# signed with it. The factory deployment's UKI is signed; the update's is not, and it is the default with
# one try. What OVMF and systemd-boot 252 do with it: systemd-boot counts the try (renames the image to
# +0-1.efi, and loads it under that name), LoadImage of the unsigned image fails ("Error loading
# \EFI\Linux\bootdeploy-<rank>-os+0-1.efi: Access Denied"), systemd-boot exits with that status, the
# firmware tries its next boot option (the EFI shell, refused as unsigned too: "Security Violation"), and
# within the same power-on systemd-boot runs again: the exhausted image sorts last and the signed UKI boots
# with Secure Boot on and is blessed. A second power-on boots it again with no refusal on the console.
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
    status = st.status_ukis()
    signed = {d: u["signed"] for d, u in status.items() if u}
    v1 = [d for d, s in signed.items() if s]
    v2 = [d for d, s in signed.items() if not s]
    check(len(v1) == 1 and len(v2) == 1, f"one signed and one unsigned UKI deployment: {status}")
    v1, v2 = v1[0], v2[0]
    placed = check_placed(st, (v1, v2))
    # The signature survives the renames of a commit: the factory image, renamed to a fresh rank when the
    # update was deployed, still verifies with our certificate; the update's has no signature.
    for d, want in ((v1, True), (v2, False)):
        r = uki_vmlib.sbverify(os.path.join(st.esp, "EFI", "Linux", placed[d]["name"]), crt)
        check(r == want, f"sbverify --cert of {placed[d]['name']} ({d}): {'ok' if r else 'refused'}")
    st.every_boot(uki_vmlib.SECURE_BOOT_REPORT)
    st.make_disk()
    uki_vmlib.enrolled_vars(crt, st.disk.vars)
    st.machine = uki_vmlib.SecureBootMachine(st.disk, st.work, os.path.basename(st.work))
    first = st.ukis()
    check([e["deployment"] for e in first] == [v2, v1] and first[0]["left"] == 1,
          f"the unsigned update is the default with one try: {st.uki_names()}")
    v2base = first[0]["base"]
    b1 = st.boot()
    refused = re.findall(r"Error loading ([^\r\n:]+): ([^\r\n]+)", b1.text)
    env.log(f"           systemd-boot: {refused}")
    check(len(refused) == 1, f"systemd-boot reports one image it could not load: {refused}")
    path, why = refused[0]
    path = path.strip().replace("\\", "/").lstrip("/")
    got = uki_vmlib.parse_uki_name(os.path.basename(path))
    check(os.path.dirname(path).lower() == "efi/linux" and got is not None and got["base"] == v2base,
          f"the refused image is the unsigned update's ({v2base} in EFI/Linux): {refused[0][0]}")
    check(re.search(r"Access Denied|Security Violation", why), f"the firmware refused it for its signature: {why}")
    check(b1.get("booted") == v1 and reached_report(b1),
          f"the signed UKI boots in the same power-on: booted {b1.get('booted')} ({b1.end})")
    check(b1.get("secureBoot") == "1" and "Secure boot enabled" in (b1.get("secureBootKernel") or ""),
          f"Secure Boot is on in the guest: SecureBoot={b1.get('secureBoot')}, kernel: {b1.get('secureBootKernel')}")
    e2 = st.uki_of(v2)
    check(isinstance(e2, dict) and e2["left"] == 0 and e2["base"] == v2base,
          f"systemd-boot spent the unsigned update's try: {st.uki_names()}")
    e1 = st.uki_of(v1)
    check(isinstance(e1, dict) and e1["left"] is None, f"the signed UKI is blessed (no counter): {st.uki_names()}")
    b2 = st.boot()
    check("Error loading" not in b2.text, "the next power-on starts the signed image first, with no refusal")
    check(b2.get("booted") == v1 and reached_report(b2),
          f"the signed UKI boots again: booted {b2.get('booted')} ({b2.end})")
    check(b2.get("secureBoot") == "1" and b2.get("bootCountPath", "") == "",
          f"Secure Boot on, blessed entry not counted: {b2.get('secureBoot')} {b2.get('bootCountPath')}")
    return st.machine


# u3 (full): the update's UKI carries an initramfs the kernel cannot unpack, so its kernel panics
# (panic=5 reboots) before anything could judge it: only systemd-boot's counter ends it. Each of its
# tries is one dead boot; when the counter runs out the image sorts last and the factory UKI boots.
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
    check_placed(st, (v1, v2))
    st.make_disk()
    first = st.ukis()
    check([e["deployment"] for e in first] == [v2, v1] and first[0]["left"] == 2 and first[0]["done"] == 0,
          f"the update's image is the default with 2 tries: {st.uki_names()}")
    dead, back, lefts = 0, None, []
    for _ in range(4):
        b = st.boot()
        if reached_report(b):
            back = b
            break
        check("Kernel panic" in b.text, f"the broken UKI's kernel should panic (boot ended {b.end})")
        dead += 1
        e = st.uki_of(v2)
        lefts.append(e["left"] if isinstance(e, dict) else None)
    env.log(f"           the update's counter after each dead boot: {lefts}")
    check(dead == 2 and lefts == [1, 0], f"the panicking UKI uses exactly its 2 tries: {dead} dead boots, {lefts}")
    check(back is not None and back.get("booted") == v1, f"systemd-boot falls back to the factory UKI {v1}")
    e1, e2 = st.uki_of(v1), st.uki_of(v2)
    check(isinstance(e1, dict) and e1["left"] is None, f"the factory UKI is blessed (no counter): {st.uki_names()}")
    check(isinstance(e2, dict) and e2["left"] == 0 and e2["done"] == 2, f"the update's image is +0-2: {st.uki_names()}")
    listed = uki_vmlib.bootctl_list(st.disk, os.path.join(work, "esp-final"))
    if listed is None:
        env.log("           SKIP: bootctl list (bootctl or unshare missing)")
    else:
        env.log(f"           bootctl list: {[(x.get('id'), x.get('triesLeft'), x.get('linux')) for x in listed]}")
        check([x.get("linux") for x in listed] == [f"EFI/Linux/{e1['name']}", f"EFI/Linux/{e2['name']}"],
              f"bootctl lists the factory UKI first and the exhausted one last: {listed}")
        check(listed[-1].get("options", "").endswith(f"bootdeploy={v2}") and listed[-1].get("triesLeft") == 0,
              f"bootctl's last entry is the exhausted UKI, no tries left: {listed[-1]}")
    return st.machine


SCENARIOS = [
    ("u1", "UKI deployments: a failing UKI update falls back, the factory UKI is blessed", scenario_uki_fallback),
    ("u2", "Secure Boot: a signed UKI boots, an unsigned one is refused by the firmware", scenario_uki_secure_boot, "full"),
    ("u3", "a UKI whose kernel panics uses up its tries, systemd-boot falls back", scenario_uki_panic, "full"),
]
