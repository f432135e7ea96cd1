#!/bin/bash
# Installs the Debian packages a make target needs, only those that are missing.
# Usage: scripts/install-deps.sh build|check|demo|vm|bench|deb
set -euo pipefail
build=(pkg-config libmount-dev libblkid-dev libsystemd-dev libgcrypt20-dev)
check=("${build[@]}" systemd systemd-boot systemd-boot-efi mtools dosfstools fdisk e2fsprogs xfsprogs util-linux
       strace dbus python3 python3-dbusmock libglib2.0-bin grub-common dracut-core cpio busybox-static kmod
       binutils tzdata qemu-system-x86 ovmf prometheus-node-exporter grub-pc-bin grub-efi-amd64-bin
       u-boot-tools sbsigntool openssl)
demo=("${build[@]}" python3 util-linux systemd-boot)
# python3-venv: the Secure Boot scenario (u2) makes a venv with virt-firmware (virt-fw-vars) from PyPI.
vm=("${check[@]}" qemu-system-x86 ovmf debootstrap linux-image-cloud-amd64 dracut u-boot-qemu python3-venv)
bench=("${check[@]}" ostree ostree-boot hyperfine time)
# make deb / make check-deb: debhelper and lintian build and check the package (Build-Depends of
# debian/control plus the tools); the package test installs it into a copy of the VM suite's
# Debian root and runs dracut there; node_exporter serves the metrics in the check suite.
deb=("${build[@]}" git debhelper dpkg-dev fakeroot lintian man-db dracut-core)
declare -n want="${1:?profile}"
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || apt-get update
apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/bootdeploy-apt.log 2>&1 || {
    tail -30 /tmp/bootdeploy-apt.log >&2; exit 1; }
