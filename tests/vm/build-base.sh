#!/bin/bash
# Builds (or reuses) the cached base of the real-boot suite: a Debian bookworm tree made by
# debootstrap, the Debian cloud kernel and its modules, and a plain dracut initramfs (no bootdeploy
# module). Everything project-specific is added later, per run, so this cache survives code changes.
#
# Usage: tests/vm/build-base.sh CACHE_ROOT      prints the cache directory on stdout (last line)
# The directory is keyed by a hash of every input; a half-built one is never reused (the `done`
# marker is written last).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${1:?cache root}

log() { echo "build-base: $*" >&2; }
die() { echo "build-base: ERROR: $*" >&2; exit 1; }

# The kernel: the newest installed linux-image-*-cloud-amd64 on the host (a Debian package).
kver=$(ls -1 /lib/modules 2>/dev/null | grep -- '-cloud-amd64$' | sort -V | tail -1 || true)
[ -n "$kver" ] || die "no cloud kernel in /lib/modules: apt-get install linux-image-cloud-amd64"
[ -r "/boot/vmlinuz-$kver" ] || die "/boot/vmlinuz-$kver missing (linux-image-$kver broken?)"

# The mirror: the bookworm entry of the host's apt sources (deb822 or one-line format).
mirror=$(awk '/^URIs:/{u=$2} /^Suites:/{ if ($0 ~ / bookworm( |$)/ && u !~ /security/) {print u; exit} }' \
           /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
    mirror=$(grep -hE '^deb +[^ ]+ +bookworm +' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
             | awk '{print $2; exit}' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

packages=systemd,systemd-sysv,udev,kmod,dbus,libmount1,libblkid1,libsystemd0,e2fsprogs,dracut-core,cpio,zstd
drivers="virtio_blk virtio_pci virtio_scsi vfat nls_cp437 nls_ascii ext4 efivarfs autofs4"
# Hash the inputs (this script, the kernel package, the mirror, the package list, dracut version).
dracut_ver=$(dpkg-query -W -f='${Version}' dracut-core 2>/dev/null || echo none)
kpkg_ver=$(dpkg-query -W -f='${Version}' "linux-image-$kver" 2>/dev/null || echo none)
key=$( { cat "$0" "$here/make-initramfs.sh"; echo "$kver $kpkg_ver $mirror $packages $drivers $dracut_ver"; } | sha256sum | cut -c1-16)
dir=$cache_root/base-$key
if [ -e "$dir/done" ]; then
    log "reusing $dir"
    echo "$dir"
    exit 0
fi

mkdir -p "$cache_root"
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
t0=$(date +%s)

# debootstrap, retried: mirrors fail transiently. A failed attempt leaves a partial tree: start over.
tree=$dir.tmp/rootfs
ok=0
for attempt in 1 2 3; do
    log "debootstrap bookworm from $mirror (attempt $attempt)"
    rm -rf "$tree"
    if debootstrap --variant=minbase --include="$packages" bookworm "$tree" "$mirror" \
          >"$dir.tmp/debootstrap.log" 2>&1; then ok=1; break; fi
    tail -5 "$dir.tmp/debootstrap.log" >&2
    sleep $((attempt * 10))
done
[ $ok = 1 ] || die "debootstrap failed 3 times; see $dir.tmp/debootstrap.log"

# The kernel's modules go into the tree (the guest loads vfat, efivarfs... from there); the kernel
# image and the initramfs go next to it, for the boot entries.
mkdir -p "$tree/usr/lib/modules"
cp -a "/lib/modules/$kver" "$tree/usr/lib/modules/"
cp "/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
cp "/boot/vmlinuz-$kver" "$tree/usr/lib/modules/$kver/vmlinuz"

# Settle the tree: a fixed machine-id (so no first-boot logic runs), a hostname, no login prompts,
# no timers or units that only cost boot time in a test VM.
echo 0123456789abcdef0123456789abcdef >"$tree/etc/machine-id"
echo bdvm >"$tree/etc/hostname"
: >"$tree/etc/fstab"
for u in getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service \
         man-db.timer dpkg-db-backup.timer systemd-networkd-wait-online.service \
         systemd-pstore.service; do
    ln -sf /dev/null "$tree/etc/systemd/system/$u"
done
# Keep the journal in memory: the physical root's free space is for deployments.
mkdir -p "$tree/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$tree/etc/systemd/journald.conf.d/bdvm.conf"
rm -rf "$tree/var/cache/apt/archives/"*.deb "$tree/var/lib/apt/lists/"* 2>/dev/null || true

# The plain initramfs (no bootdeploy): proves firmware -> systemd-boot -> kernel -> systemd alone.
log "dracut (plain) for $kver"
"$here/make-initramfs.sh" "$tree" "$kver" "$dir.tmp/initramfs-plain.img" "" "$drivers" \
    >"$dir.tmp/dracut.log" 2>&1 || { tail -20 "$dir.tmp/dracut.log" >&2; die "dracut failed"; }

echo "$kver" >"$dir.tmp/kver"
echo "$drivers" >"$dir.tmp/drivers"
du -sm "$tree" | cut -f1 >"$dir.tmp/tree-mb"
echo $(( $(date +%s) - t0 )) >"$dir.tmp/build-seconds"
touch "$dir.tmp/done"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
log "built $dir in $(cat "$dir/build-seconds") s"
echo "$dir"
