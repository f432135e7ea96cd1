#!/bin/bash
# Makes the OS tree both deployers get: FILES small files (0.1-4 KiB, in 60 directories), a few
# symlinks, usr/etc (the vendor /etc, as ostree requires) with os-release, and a kernel and an
# initramfs of KERNEL_KIB and INITRD_KIB random bytes under usr/lib/modules/KVER/.
# Usage: mktree.sh DIR [FILES] [KERNEL_KIB] [INITRD_KIB]
set -euo pipefail
dir=$1 files=${2:-3000} kkib=${3:-6144} ikib=${4:-10240} kver=6.1.0-bench
mkdir -p "$dir"/usr/{bin,lib/modules/$kver,share/doc,etc/default} "$dir"/{var/lib,sysroot}
for i in $(seq 0 59); do mkdir -p "$dir/usr/share/pkg$i" "$dir/usr/lib/pkg$i"; done
# One awk process writes every file: a fork per file would take longer than the benchmark.
awk -v d="$dir" -v n="$files" 'BEGIN {
    srand(42); line = "the quick brown fox jumps over the lazy dog 0123456789\n"
    for (i = 0; i < n; i++) {
        f = sprintf("%s/usr/%s/pkg%d/file%04d", d, (i % 2 ? "share" : "lib"), i % 60, i)
        size = 100 + int(rand() * 4000); s = ""
        while (length(s) < size) s = s line
        printf "%s", substr(s, 1, size) > f; close(f)
    }
    for (i = 0; i < 40; i++) { f = sprintf("%s/usr/etc/default/conf%02d", d, i); print "KEY" i "=value" > f; close(f) }
}'
for i in $(seq 0 19); do ln -sf "../lib/pkg$i/file$(printf %04d $((i * 2)))" "$dir/usr/bin/tool$i"; done
printf 'ID=bench\nVERSION_ID=1\nPRETTY_NAME="Bench OS 1"\n' >"$dir/usr/etc/os-release"
cp "$dir/usr/etc/os-release" "$dir/usr/lib/os-release"
echo bench >"$dir/usr/etc/hostname"
head -c $((kkib * 1024)) /dev/urandom >"$dir/usr/lib/modules/$kver/vmlinuz"
head -c $((ikib * 1024)) /dev/urandom >"$dir/usr/lib/modules/$kver/initramfs.img"
