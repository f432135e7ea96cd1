#!/bin/bash
# Run by scripts/bench.sh: `boot-health run` against systemd's stand-in (python3-dbusmock's systemd
# template on a private dbus-daemon, as Tests/HealthTests do), on a sysroot and /boot made by
# boot-deploy itself. Records, one value per line in SAMPLES/:
#   health.bless    µs from StartupFinished (emitted with gdbus) to the entry blessed, checks empty
#   health.gdbus    µs one such `gdbus call` takes by itself (part of health.bless)
#   health.cold     µs from starting boot-health (startup already finished) to the entry blessed
#   health.rss      peak RSS (VmHWM, KiB) after watching 3 required units for 3 s
#   health.wakeups  context switches of all its threads in those 3 s
# Usage: health.sh DIR BOOT-DEPLOY BOOT-HEALTH SAMPLES [RUNS]
set -euo pipefail
D=$1 BD=$2 BH=$3 S=$4 RUNS=${5:-5}
PY=/usr/bin/python3
mkdir -p "$D"/{tree/usr/lib/modules/6.1.0-h,tree/usr/etc,sysroot,boot,run,config,vendor,greenboot,efivars}
echo k >"$D/tree/usr/lib/modules/6.1.0-h/vmlinuz"; echo i >"$D/tree/usr/lib/modules/6.1.0-h/initramfs.img"
printf 'ID=bench\nVERSION_ID=1\n' >"$D/tree/usr/etc/os-release"
"$BD" init --sysroot "$D/sysroot" --boot "$D/boot" --stateroot os
"$BD" deploy --sysroot "$D/sysroot" --boot "$D/boot" --run-dir "$D/run" --stateroot os --tree "$D/tree" --karg root=LABEL=x >/dev/null
id=$("$BD" deploy --sysroot "$D/sysroot" --boot "$D/boot" --run-dir "$D/run" --stateroot os --tree "$D/tree" --karg root=LABEL=x)
E=$D/boot/loader/entries
counted=$(grep -lE "bootdeploy=$id( |\$)" "$E"/*.conf | head -1); counted=${counted##*/}   # bd-os-002+3-0.conf
base=${counted%%+*}
# What systemd-boot does when it starts the entry: one try used, the name says so, and the
# firmware variable names the new file.
booted=$base+2-1.conf blessed=$base.conf
reset_boot() {
    [ -e "$E/$blessed" ] && mv "$E/$blessed" "$E/$booted"
    [ -e "$E/$counted" ] && mv "$E/$counted" "$E/$booted"
    rm -rf "$D/sysroot/bootdeploy/health" "$D/run"; mkdir -p "$D/run"
}
reset_boot
$PY - "$D/efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f" "$booted" <<'PY'
import sys
open(sys.argv[1], "wb").write(b"\x06\0\0\0" + ("\\loader\\entries\\" + sys.argv[2] + "\0").encode("utf-16-le"))
PY
echo "root=LABEL=x rw quiet bootdeploy=$id" >"$D/cmdline"

# The bus and the stand-in, children of this script; killed on exit.
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done' EXIT
dbus-daemon --session --nofork --nopidfile --address="unix:path=$D/bus" </dev/null >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -S "$D/bus" ] && break; sleep 0.05; done
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$D/bus
$PY -m dbusmock -t systemd -l "$D/calls.log" </dev/null >"$D/mock.out" 2>&1 & pids+=($!)
mock() { gdbus call --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest org.freedesktop.systemd1 --object-path "${2:-/org/freedesktop/systemd1}" --method "org.freedesktop.DBus.Mock.$1" "${@:3}" >/dev/null; }
for _ in $(seq 150); do mock AddMockUnit "" reboot.target 2>/dev/null && break; sleep 0.1; done
mock AddMethod "" org.freedesktop.systemd1.Manager Subscribe "" "" ""
mock AddProperty "" org.freedesktop.systemd1.Manager FinishTimestampMonotonic "<uint64 0>"
finished() { mock UpdateProperties "" org.freedesktop.systemd1.Manager "{'FinishTimestampMonotonic': <uint64 $1>}"; }
emit_startup_finished() {
    mock EmitSignal "" org.freedesktop.systemd1.Manager StartupFinished tttttt \
        "[<uint64 1>, <uint64 2>, <uint64 3>, <uint64 4>, <uint64 5>, <uint64 6>]"
}

bh() {
    "$BH" run --sysroot "$D/sysroot" --boot "$D/boot" --cmdline-file "$D/cmdline" --run-dir "$D/run" \
        --config "$D/config" --vendor-config "$D/vendor" --efivars "$D/efivars" --greenboot-dir "$D/greenboot" \
        --no-kmsg </dev/null >>"$D/bh.out" 2>&1 &
    BHPID=$!; pids+=("$BHPID")
}
# wait_blessed: polls (2 ms) until the entry is blessed; fails after 20 s or if boot-health exited.
wait_blessed() {
    local i
    for i in $(seq 10000); do
        [ -e "$E/$blessed" ] && return 0
        kill -0 "$BHPID" 2>/dev/null || { [ -e "$E/$blessed" ] && return 0; echo "boot-health exited:" >&2; tail -5 "$D/bh.out" >&2; return 1; }
        sleep 0.002
    done
    echo "not blessed after 20 s" >&2; tail -5 "$D/bh.out" >&2; return 1
}
stop_bh() { kill -KILL "$BHPID" 2>/dev/null || true; wait "$BHPID" 2>/dev/null || true; }

: >"$D/config/boot-health.conf"
for _ in $(seq "$RUNS"); do
    # Started before systemd's startup finished: it reads the property (0), then waits for the signal.
    reset_boot; finished 0; : >"$D/calls.log"
    bh
    for _ in $(seq 200); do grep -q FinishTimestampMonotonic "$D/calls.log" 2>/dev/null && break; sleep 0.01; done
    sleep 0.3
    [ -e "$E/$booted" ] || { echo "blessed before startup finished" >&2; exit 1; }
    finished 4242
    t0=${EPOCHREALTIME/./}
    emit_startup_finished
    wait_blessed
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$S/health.bless"
    stop_bh
    # The cost of the signal's sender alone.
    t0=${EPOCHREALTIME/./}; emit_startup_finished; t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$S/health.gdbus"
    # Started after startup finished: the whole run, process start to blessed.
    reset_boot
    t0=${EPOCHREALTIME/./}
    bh
    wait_blessed
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$S/health.cold"
    stop_bh
done

# Watching: three required units, active, for a grace period longer than we look.
# (The template's object path for a unit: its name with . and - as _.)
for u in a b c; do
    mock AddMockUnit "" "bench$u.service"
    mock UpdateProperties "/org/freedesktop/systemd1/unit/bench${u}_service" org.freedesktop.systemd1.Unit "{'ActiveState': <'active'>}"
done
printf '[Boot]\nRequiredUnits=bencha.service benchb.service benchc.service\nGracePeriod=5min\n' >"$D/config/boot-health.conf"
switches() { cat /proc/"$BHPID"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n + 0}'; }
reset_boot
bh
wait_blessed
sleep 0.3
kill -0 "$BHPID" || { echo "boot-health stopped watching:" >&2; tail -5 "$D/bh.out" >&2; exit 1; }
c0=$(switches); sleep 3; c1=$(switches)
kill -0 "$BHPID" || { echo "boot-health stopped watching:" >&2; tail -5 "$D/bh.out" >&2; exit 1; }
# It must really be watching the three: they were checked, and passed, before the blessing.
$PY - "$D/sysroot/bootdeploy/health/status.json" <<'PY'
import json, sys
units = json.load(open(sys.argv[1]))["lastRun"]["units"]
assert [u["result"] for u in units] == ["passed"] * 3, units
PY
awk '/VmHWM/ {print $2}' "/proc/$BHPID/status" >>"$S/health.rss"
echo $((c1 - c0)) >>"$S/health.wakeups"
stop_bh
echo "health: $(wc -l <"$S/health.bless") runs"
