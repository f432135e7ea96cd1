#!/bin/bash
# Makes a dracut initramfs inside the guest tree (chroot), so that the initramfs carries the guest's
# own binaries and whatever dracut modules `make install DESTDIR=TREE` put there (50bootdeploy).
# Usage: make-initramfs.sh TREE KVER OUT "EXTRA_DRACUT_MODULES" "DRIVERS"
set -euo pipefail
tree=${1:?tree} kver=${2:?kver} out=${3:?out} extra=${4-} drivers=${5:?drivers}
[ -d "$tree/usr/lib/modules/$kver" ] || { echo "make-initramfs: no modules for $kver in $tree" >&2; exit 1; }
add=()
for m in $extra; do add+=(--add "$m"); done
# A private mount namespace: the chroot's /proc, /sys, /dev vanish with it.
unshare -m --propagation private /bin/bash -euo pipefail -c '
    tree=$1; shift; out=$1; shift
    mount -t proc proc "$tree/proc"
    mount --rbind /sys "$tree/sys"
    mount --rbind /dev "$tree/dev"
    mount -t tmpfs tmpfs "$tree/tmp"
    mkdir "$tree/tmp/no-conf.d"
    # Not host-only (the image must boot on any virtio machine), but only the modules a systemd
    # initramfs for a local ext4 root needs: fewer files, faster to load under TCG.
    chroot "$tree" dracut --force --no-hostonly --no-hostonly-cmdline --kver "$0" \
        --conf /dev/null --confdir /tmp/no-conf.d \
        -m "bash systemd systemd-initrd dracut-systemd systemd-udevd systemd-journald systemd-tmpfiles systemd-modules-load systemd-sysctl kernel-modules rootfs-block udev-rules base fs-lib shutdown" \
        "$@" /tmp/initramfs.img
    cp "$tree/tmp/initramfs.img" "$out"
' "$kver" "$tree" "$out" "${add[@]}" --add-drivers "$drivers" --compress zstd --no-early-microcode
ls -l "$out" >&2
