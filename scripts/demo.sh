#!/bin/bash
# make demo: BootDeploy's main job on a throwaway machine under ./demo/ — a physical root and a
# /boot as plain directories, two deployments made from small generated OS trees, a rollback,
# a cleanup, the early-boot mount of the default deployment (as root, in a private mount
# namespace), and — with boot-health — a failed boot and the automatic fallback.
# Every step runs the real tools; nothing is simulated that the tools do not do themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/debug}
D=$PWD/demo
rm -rf "$D"; mkdir -p "$D"/{sysroot,boot,run,trees}
BD() { local c=$1; shift; "$BIN/boot-deploy" "$c" --sysroot "$D/sysroot" --boot "$D/boot" --run-dir "$D/run" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
entries() {
    local dir="$D/boot/loader/entries"
    echo "-- $D/boot/loader$( [ -L "$D/boot/loader" ] && echo " -> $(readlink "$D/boot/loader")" )/entries:"
    for f in "$dir"/*.conf; do [ -e "$f" ] || continue; echo "   $(basename "$f")"; sed 's/^/      /' "$f"; done
}
make_tree() { # name version kernel-content
    local t="$D/trees/$1"
    mkdir -p "$t"/usr/lib/modules/6.1.0-demo "$t"/etc "$t"/usr/bin "$t"/var/lib
    printf 'demo kernel %s\n' "$3" > "$t/usr/lib/modules/6.1.0-demo/vmlinuz"
    printf 'demo initramfs %s\n' "$3" > "$t/usr/lib/modules/6.1.0-demo/initramfs.img"
    printf 'NAME="Demo OS"\nPRETTY_NAME="Demo OS %s"\nVERSION_ID=%s\n' "$2" "$2" > "$t/usr/lib/os-release"
    echo "demo" > "$t/etc/hostname"
    printf '#!/bin/sh\necho "Demo OS %s"\n' "$2" > "$t/usr/bin/demo"; chmod +x "$t/usr/bin/demo"
}

step "init the stateroot 'demo'"
BD init --stateroot demo
make_tree v1 1.0 one
make_tree v2 2.0 two

step "deploy Demo OS 1.0"
BD deploy --stateroot demo --tree "$D/trees/v1" --karg root=LABEL=demo-root --karg quiet
entries

step "deploy Demo OS 2.0: it becomes the default, with a boot counter (+3-0)"
BD deploy --stateroot demo --tree "$D/trees/v2" --karg root=LABEL=demo-root --karg quiet
entries
BD status

if command -v bootctl >/dev/null && [ "$(id -u)" = 0 ]; then
    step "bootctl (systemd-boot's own tool) reads the same order"
    unshare -m --propagation private sh -c 'mount --bind "$0" "$0" &&
      SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 bootctl --esp-path="$0" --boot-path="$0" \
      --no-variables --no-pager list' "$D/boot" | grep -E 'title|id:|version|options' || true
fi

step "roll back: 1.0 becomes the default again, 2.0 stays second"
BD rollback
entries
BD status

step "roll forward again, then remove 1.0 and clean up its kernel"
BD set-default "$(BD status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["deployments"]; print([x for x in d if x["version"]=="2.0"][0]["id"])')"
V1=$(BD status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["deployments"]; print([x for x in d if x["version"]=="1.0"][0]["id"])')
BD undeploy "$V1"
BD cleanup
entries
BD validate

step "deploy 1.0 again (a second deployment with the same kernel shares /boot's copy)"
BD deploy --stateroot demo --tree "$D/trees/v1" --karg root=LABEL=demo-root
find "$D/boot/bootdeploy" -type f | sed "s|$D/||"

if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    step "early boot: prepare-root mounts the default deployment at a fake /sysroot (private mount namespace)"
    DEFAULT=$(BD status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["deployments"]; print([x for x in d if x["default"]][0]["stateroot"]+"/"+[x for x in d if x["default"]][0]["id"])')
    echo "BOOT_IMAGE=/vmlinuz root=LABEL=demo-root bootdeploy=$DEFAULT" > "$D/cmdline"
    mkdir -p "$D/initrd-sysroot"
    unshare -m --propagation private bash -c '
        set -e
        mount --bind "$1/sysroot" "$1/initrd-sysroot"
        "$2/bd-prepare-root" --sysroot "$1/initrd-sysroot" --cmdline-file "$1/cmdline" --run-dir "$1/run"
        echo "-- mounts below the fake /sysroot:"
        findmnt -R -o TARGET,SOURCE,OPTIONS "$1/initrd-sysroot" | sed "s|$1/||g"
        echo "-- /usr/bin/demo in the new root says: $("$1/initrd-sysroot/usr/bin/demo")"
    ' _ "$D" "$PWD/$BIN"
    echo "-- $D/run/booted.json:"; cat "$D/run/booted.json"; echo
    BD status
else
    step "early boot: skipped (needs root for a private mount namespace)"
fi

if [ -x "$BIN/boot-health" ] && [ -f scripts/demo-health.sh ]; then
    source scripts/demo-health.sh
else
    step "health and automatic rollback: not part of this build yet"
fi
step "done: everything is under $D"
