#!/bin/bash
# Run by scripts/bench.sh inside its chroot (a tmpfs root) in a private mount namespace:
# times ostree-prepare-root and bd-prepare-root doing a full preparation of fresh copies of their
# prepared sysroots. Usage: prepare-root-inner.sh P BPR OPR (P holds S/, B/ and cmdline).
set -euo pipefail
P=$1 BPR=$2 OPR=$3
mount -t tmpfs tmpfs /run
mkdir -p "$P/ot-base" "$P/ot" "$P/bd-base" "$P/bd" "$P/run"
mount -t tmpfs tmpfs "$P/run"
# The prepared sysroots on tmpfs, so that both read the same kind of filesystem.
mount -t tmpfs tmpfs "$P/ot-base"; cp -a "$P/S/." "$P/ot-base/"
mount -t tmpfs tmpfs "$P/bd-base"; cp -a "$P/B/." "$P/bd-base/"
# ostree-prepare-root reads only /proc/cmdline; ours is given the same file.
mount --bind "$P/cmdline" /proc/cmdline
# Before each run: a fresh bind of the prepared sysroot (the last run moved a deployment onto it).
hyperfine -N --style none --warmup 20 --runs 300 --export-json "$P/full.json" \
  --prepare "sh -c 'umount -R $P/ot 2>/dev/null; mount --bind $P/ot-base $P/ot'" -n ostree-prepare-root "$OPR $P/ot" \
  --prepare "sh -c 'umount -R $P/bd 2>/dev/null; mount --bind $P/bd-base $P/bd'" -n bd-prepare-root \
  "$BPR --sysroot $P/bd --cmdline-file $P/cmdline --run-dir $P/run --kmsg /dev/null"
# Check that both really prepared their root: the last run's result is still mounted.
findmnt -n "$P/ot" >/dev/null && [ -d "$P/ot/sysroot/ostree" ] || { echo "ostree-prepare-root did not prepare $P/ot" >&2; exit 1; }
findmnt -n "$P/bd" >/dev/null && [ -d "$P/bd/sysroot/bootdeploy" ] && [ -s "$P/run/booted.json" ] || { echo "bd-prepare-root did not prepare $P/bd" >&2; exit 1; }
findmnt -no OPTIONS "$P/bd/usr" | grep -q '^ro' || { echo "bd-prepare-root: /usr is not read-only" >&2; exit 1; }
findmnt -no OPTIONS "$P/ot/usr" | grep -q '^ro' || { echo "ostree-prepare-root: /usr is not read-only" >&2; exit 1; }
echo "prepare-root: both prepared their sysroot (checked after the last run)"
