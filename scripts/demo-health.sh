# Sourced by scripts/demo.sh: a failed boot and the automatic fallback, with the real tools.
# What the demo cannot do on plain directories is said, not faked: there is no firmware here, so
# systemd-boot's own rename of the counter at boot (+3-0 -> +2-1) does not happen (the VM suite,
# make check-vm, shows it on a real ESP), and there is no system bus, so the reboot request fails.
HB() { local c=$1; shift; "$BIN/boot-health" "$c" --sysroot "$D/sysroot" --boot "$D/boot" --run-dir "$D/run" \
    --cmdline-file "$D/cmdline" --config "$D/health" --vendor-config "$D/health-vendor" --efivars "$D/efivars" \
    --greenboot-dir "$D/greenboot" "$@"; }
mkdir -p "$D/health/check/required.d" "$D/health-vendor" "$D/efivars" "$D/greenboot"

step "an update to Demo OS 3.0 whose service will not start"
make_tree v3 3.0 three
BD deploy --stateroot demo --tree "$D/trees/v3" --karg root=LABEL=demo-root --karg quiet
entries
V3=$(BD status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["deployments"]; x=[x for x in d if x["default"]][0]; print(x["stateroot"]+"/"+x["id"])')

if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    step "boot it: prepare-root mounts $V3 (as the initramfs would)"
    echo "BOOT_IMAGE=/vmlinuz root=LABEL=demo-root bootdeploy=$V3" > "$D/cmdline"
    unshare -m --propagation private bash -c '
        mount --bind "$1/sysroot" "$1/initrd-sysroot" && "$2/bd-prepare-root" --sysroot "$1/initrd-sysroot" --cmdline-file "$1/cmdline" --run-dir "$1/run"
    ' _ "$D" "$PWD/$BIN"
else
    echo "BOOT_IMAGE=/vmlinuz root=LABEL=demo-root bootdeploy=$V3" > "$D/cmdline"
fi

step "boot-health check: the required check of Demo OS 3.0's service fails"
cat > "$D/health/check/required.d/10-demo-service" <<'CHECK'
#!/bin/sh
echo "demo-service is not answering on port 8080" >&2
exit 1
CHECK
chmod +x "$D/health/check/required.d/10-demo-service"
HB check || true

step "boot-health run: marks $V3 bad and moves it out of first place (the reboot request has no system bus here)"
HB run 2>&1 || true
entries
BD status
step "boot-health status: why it acted, kept across reboots"
HB status || true
