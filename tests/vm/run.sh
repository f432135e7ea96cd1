#!/bin/bash
# The real-boot suite (make check-vm): builds the release binaries in its own scratch path, the cached
# base (debootstrap + kernel + initramfs), then runs the scenarios of tests/vm/vmtest.py under QEMU/TCG.
# Environment: BDVM_ONLY=0,1,2 (scenario numbers), BDVM_FULL=1 (also the scenarios CI leaves out), BDVM_WORK (console logs, images), BDVM_CACHE,
# BDVM_NO_BUILD=1 (use the binaries already in .build-vm/release).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "tests/vm: must run as root (debootstrap, chroot, mkfs)" >&2; exit 2; }
cache=${BDVM_CACHE:-/var/cache/bootdeploy-vm}
work=${BDVM_WORK:-/var/tmp/bootdeploy-vm-work}
scratch=.build-vm
for t in qemu-system-x86_64 debootstrap mcopy mkfs.vfat sfdisk mkfs.ext4 python3 timeout; do
    command -v "$t" >/dev/null || { echo "tests/vm: missing $t (scripts/install-deps.sh vm)" >&2; exit 2; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "tests/vm: missing OVMF (apt-get install ovmf)" >&2; exit 2; }

t0=$(date +%s)
if [ -z "${BDVM_NO_BUILD:-}" ]; then
    echo "tests/vm: swift build -c release (scratch $scratch)"
    swift build -c release --static-swift-stdlib -Xlinker -s --scratch-path "$scratch" 2>&1 | tail -3
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "tests/vm: release build failed" >&2; exit 1; }
fi
t1=$(date +%s)
base=$(tests/vm/build-base.sh "$cache" | tail -1)
t2=$(date +%s)
echo "tests/vm: release build $((t1 - t0))s, base $((t2 - t1))s ($base)"
mkdir -p "$work"
exec python3 tests/vm/vmtest.py --base "$base" --bindir "$scratch/release" --work "$work" --only "${BDVM_ONLY:-}"
