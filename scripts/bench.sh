#!/bin/bash
# BootDeploy against its peer (Debian's ostree 2022.7) on the same work, in one run; prints a table
# of medians and ratios (ours / theirs: below 1 means we are faster or smaller). Method and the
# latest figures: docs/PERFORMANCE.md. Never a pass/fail test: the numbers are reported, not judged.
#
# Usage (root): scripts/bench.sh     (make bench builds the binaries first)
#   BIN=DIR        the release binaries (default .build-bench/release, else .build/release)
#   RUNS=N         timed runs per deploy/status/cleanup measurement (default 5)
#   SIZES="1 10 50" existing deployments at which deploy, status and cleanup are measured
#   FILES=N        small files in the generated tree (default 3000)
#   BENCH_KEEP=1   keep the work directory (its path is printed)
#
# Everything happens inside a private mount namespace, on loop-mounted ext4 images in a temporary
# directory that is removed at the end; nothing on the host is mounted or changed.
# Exit status: 0 when every measurement that could be made was made (n/a lines name what was
# missing and why), 1 when a measurement failed, 2 when the script cannot run at all.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

if [ "$(id -u)" -ne 0 ]; then echo "bench: needs root (loop mounts, a private mount namespace)" >&2; exit 2; fi
# The whole run in a private mount namespace: loop mounts and binds vanish with it, whatever happens.
if [ -z "${BENCH_IN_NAMESPACE:-}" ]; then
    exec env BENCH_IN_NAMESPACE=1 unshare -m --propagation private "$0" "$@"
fi

if [ -z "${BIN:-}" ]; then
    BIN=$REPO/.build-bench/release
    [ -x "$BIN/boot-deploy" ] || BIN=$REPO/.build/release
fi
[ -d "$BIN" ] || { echo "bench: BIN=$BIN is not a directory" >&2; exit 2; }
BIN=$(cd "$BIN" && pwd)   # absolute: prepare-root runs in a chroot
RUNS=${RUNS:-5}
SIZES=${SIZES:-"1 10 50"}
FILES=${FILES:-3000}
BD=$BIN/boot-deploy BH=$BIN/boot-health BPR=$BIN/bd-prepare-root
OPR=/usr/lib/ostree/ostree-prepare-root
[ -x "$BD" ] || { echo "bench: $BD is missing: build it (make bench does) or set BIN" >&2; exit 2; }
# Without the peer or the deployment tools there is nothing to compare; the other parts are
# skipped with an n/a line when what they need is missing.
missing=()
for t in ostree strace mkfs.ext4 findmnt chattr fsfreeze unshare; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then echo "bench: missing ${missing[*]}: scripts/install-deps.sh bench" >&2; exit 2; fi

W=$(mktemp -d /var/tmp/bootdeploy-bench.XXXXXX)
mkdir -p "$W/samples"; : >"$W/rows"; : >"$W/notes"; LOG=$W/log; : >"$LOG"
PIDS=()
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    # A freeze left by an interrupted run would hang the unmount.
    for m in $(findmnt -rno TARGET | grep "^$W" | sort -r); do fsfreeze -u "$m" 2>/dev/null || true; done
    for m in $(findmnt -rno TARGET | grep "^$W" | sort -r); do umount -l "$m" 2>/dev/null || true; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: work directory kept: $W"; exit $rc; fi
    chattr -R -i "$W" 2>/dev/null || true   # ostree makes its deployment directories immutable
    rm -rf "$W"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
say() { echo "bench: $*" >&2; }
FAILED=()
# section NAME FUNCTION: runs one part in a subshell; a failure is reported and the rest still runs.
section() {
    say "$1 ..."
    local t0=$SECONDS rc
    # Not in an if/&&/|| context: there bash would ignore set -e inside the subshell too.
    set +e
    ( set -euo pipefail; "$2" ) 2>>"$LOG"
    rc=$?
    set -e
    if [ $rc -eq 0 ]; then say "$1 done ($((SECONDS - t0)) s)"
    else FAILED+=("$1"); say "$1 FAILED:"; tail -8 "$LOG" | sed 's/^/    /' >&2; fi
}

# ---------------------------------------------------------------------------------------------
# The machine: one ext4 "physical root" holding the tree and both sysroots (so that both deployers
# hard-link on one filesystem), and one ext4 /boot per deployer, so that the bytes each one
# writes to /boot are counted on its own device.
make_fs() {  # make_fs IMAGE SIZE MOUNTPOINT
    truncate -s "$2" "$1"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$1" >/dev/null
    mkdir -p "$3"; mount -o loop "$1" "$3"
}
# The tree, our sysroot, /boot and run directory, ostree's sysroot (its /boot is $OTS/boot).
TREE=$W/root/tree BDS=$W/root/bd BDR=$W/run-bd BDB=$W/boot-bd OTS=$W/root/ot
setup() {
    make_fs "$W/root.img" 3G "$W/root"
    "$HERE/bench/mktree.sh" "$TREE" "$FILES"
    # Ours.
    mkdir -p "$BDS" "$BDR"; make_fs "$W/boot-bd.img" 256M "$BDB"
    "$BD" init --sysroot "$BDS" --boot "$BDB" --stateroot os
    # ostree: its /boot is $OTS/boot, a mount of its own too. The tree is committed once (the
    # import is the updater's cost in both worlds, not part of a deploy).
    mkdir -p "$OTS"; ostree admin init-fs "$OTS" >/dev/null
    make_fs "$W/boot-ot.img" 256M "$OTS/boot"
    ostree admin os-init --sysroot="$OTS" os >/dev/null
    ostree --repo="$OTS/ostree/repo" commit --branch=os/x86_64 --tree=dir="$TREE" >/dev/null
    sync
}

# As argument lists too, for strace, which cannot run a shell function.
BDA=(--sysroot "$BDS" --boot "$BDB" --run-dir "$BDR")
BD_DEPLOY=("$BD" deploy "${BDA[@]}" --stateroot os --tree "$TREE" --karg root=LABEL=x)
OT_DEPLOY=(ostree admin deploy --sysroot="$OTS" --os=os --retain --karg=root=LABEL=x os/x86_64)
bd() { "$BD" "$1" "${BDA[@]}" "${@:2}"; }
bd_deploy() { "${BD_DEPLOY[@]}" "$@"; }
# --retain: ostree would otherwise delete every older deployment but the previous default; ours
# never deletes on deploy, so this is the same work.
ot() { ostree admin "$1" --sysroot="$OTS" "${@:2}"; }
ot_deploy() { "${OT_DEPLOY[@]}" "$@"; }
bd_count() { find "$BDS/bootdeploy/os/deploy" -maxdepth 1 -name '*.json' | wc -l; }
ot_count() { find "$OTS/ostree/deploy/os/deploy" -mindepth 1 -maxdepth 1 -type d | wc -l; }
# The id the last deploy printed (read without a fork, before the next command overwrites it).
last_id() { local id; read -r id <"$W/last.out"; echo "$id"; }
ot_undeploy_newest() { ot undeploy 0 >/dev/null; }

fill() {  # fill N: both sysroots hold exactly N deployments
    while [ "$(bd_count)" -lt "$1" ]; do bd_deploy >/dev/null; done
    while [ "$(ot_count)" -lt "$1" ]; do ot_deploy >/dev/null; done
    [ "$(bd_count)" -eq "$1" ] && [ "$(ot_count)" -eq "$1" ] || { echo "fill $1: have $(bd_count) and $(ot_count)" >&2; return 1; }
}

# One size: RUNS rounds of status, deploy, undeploy (of the new one) and cleanup, ours and ostree's
# interleaved, who goes first alternating, so that load from the rest of the machine falls on both.
measure_size() {
    local n=$1 i who id
    fill "$n"
    sync
    for i in $(seq 1 "$RUNS"); do
        for who in $([ $((i % 2)) -eq 1 ] && echo bd ot || echo ot bd); do
            if [ "$who" = bd ]; then
                timed "status.$n.bd" bd status
                written "deploy.$n.bd" "$BDB" "$BDS" bd_deploy
                id=$(last_id)
                timed "undeploy.$n.bd" bd undeploy "$id"
                timed "cleanup.$n.bd" bd cleanup
            else
                timed "status.$n.ot" ot status
                written "deploy.$n.ot" "$OTS/boot" "$OTS" ot_deploy
                timed "undeploy.$n.ot" ot_undeploy_newest
                timed "cleanup.$n.ot" ot cleanup
                # At the first size only: ostree without the repo prune that ends its deploy.
                if [ "$n" = "${SIZES%% *}" ]; then
                    timed "deploy-noprune.$n.ot" ot_deploy --no-prune; ot_undeploy_newest
                fi
            fi
        done
    done
    # ostree's deploy ends with a prune of its repo; --no-prune shows what the rest costs.
    if [ "$n" = "${SIZES%% *}" ]; then
        traced "deploy-noprune.$n.ot" "${OT_DEPLOY[@]}" --no-prune; ot_undeploy_newest
    fi
    # One traced run each for the flush counts (strace slows a process: never timed).
    traced "deploy.$n.bd" "${BD_DEPLOY[@]}"; bd undeploy "$(last_id)"
    traced "deploy.$n.ot" "${OT_DEPLOY[@]}"; ot_undeploy_newest
    traced "cleanup.$n.bd" "$BD" cleanup "${BDA[@]}"
    traced "cleanup.$n.ot" ostree admin cleanup --sysroot="$OTS"
    [ "$(bd_count)" -eq "$n" ] && [ "$(ot_count)" -eq "$n" ]
}

deploy_sizes() {
    local n
    for n in $SIZES; do say "  $n existing"; measure_size "$n"; done
}

# Finalize of a staged update: ours stages (tree, record and kernel now) and finalize writes /boot.
finalize_bench() {
    local i n id
    n=$(bd_count)
    for i in $(seq 1 "$RUNS"); do
        timed "stage.bd" bd_deploy --stage --no-start-unit
        id=$(last_id)
        written "finalize.bd" "$BDB" "$BDS" bd finalize
        bd undeploy "$id"
    done
    timed "stage.bd" bd_deploy --stage --no-start-unit
    id=$(last_id)
    traced "finalize.bd" "$BD" finalize "${BDA[@]}"
    bd undeploy "$id"
    [ "$(bd_count)" -eq "$n" ]
}

# ---------------------------------------------------------------------------------------------
# Early boot.
prepare_root_sizes() {
    local a b ROWS_FILE=$W/rows.late   # after the timings in the table
    a=$(stat -c %s "$BPR"); b=$(stat -c %s "$OPR")
    row "prepare-root: file size (stripped)" "$a B" "$b B" "$(ratio "$a" "$b")" "ours carries the Swift runtime (static); Debian's is C"
    a=$(ldd "$BPR" | grep -c '=>' || true); b=$(ldd "$OPR" | grep -c '=>' || true)
    row "prepare-root: shared libraries (ldd)" "$a" "$b" "-" "ours: $(ldd "$BPR" | awk '/=>/ {printf "%s ", $1}')"
    echo "ldd $OPR: $(ldd "$OPR" | awk '/=>/ {printf "%s ", $1}')" >>"$W/notes"
    # What an initramfs must carry for each: the binary and every library ldd resolves.
    a=$(footprint "$BPR"); b=$(footprint "$OPR")
    row "prepare-root: binary + its shared libraries" "$a B" "$b B" "$(ratio "$a" "$b")" "sum of file sizes (libc counted for both)"
}
footprint() {
    local total f
    total=$(stat -c %s "$1")
    for f in $(ldd "$1" | awk '/=> \// {print $3}'); do total=$((total + $(stat -L -c %s "$f"))); done
    echo "$total"
}

# hyperfine_median KEY JSON: hyperfine's median (seconds) into KEY, in µs; also its run count.
hyperfine_median() {
    /usr/bin/python3 - "$2" "$W/samples/$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
open(sys.argv[2], "w").write("%d\n" % round(r["median"] * 1e6))
PY
}

# The failure both take when the command line names no deployment: read the command line, refuse,
# one line on stderr, exit 1. Nothing is mounted, so it runs anywhere; a command line file without
# ostree= or bootdeploy= is bind-mounted over /proc/cmdline (ostree-prepare-root reads only that).
prepare_root_fail() {
    local P=$W/pr-fail
    mkdir -p "$P/sysroot" "$P/run"
    echo "root=LABEL=x rw quiet" >"$P/cmdline"
    mount --bind "$P/cmdline" /proc/cmdline
    hyperfine -N -i --style none --warmup 20 --runs 300 --export-json "$P/bd.json" \
        "$BPR --sysroot $P/sysroot --cmdline-file $P/cmdline --run-dir $P/run --kmsg /dev/null" >>"$LOG" 2>&1
    hyperfine -N -i --style none --warmup 20 --runs 300 --export-json "$P/ot.json" "$OPR $P/sysroot" >>"$LOG" 2>&1
    umount /proc/cmdline
    hyperfine_median pr.fail.bd "$P/bd.json"; hyperfine_median pr.fail.ot "$P/ot.json"
}

# Full preparation, both against a prepared fake sysroot on tmpfs: the deployment bound onto
# itself, the physical root at sysroot/, /usr read-only, the deployment moved onto the sysroot.
# Each run gets a fresh bind of the prepared sysroot (hyperfine --prepare). Done in a chroot whose
# / is a tmpfs: ostree-prepare-root 2022.7 makes /sysroot.tmp in the real root directory.
prepare_root_full() {
    local P=$W/pr-full
    mkdir -p "$P/tree/usr/lib/modules/6.1.0-pr" "$P/tree/usr/etc" "$P/tree/usr/bin" "$P/tree/sysroot" "$P/S"
    echo k >"$P/tree/usr/lib/modules/6.1.0-pr/vmlinuz"; echo i >"$P/tree/usr/lib/modules/6.1.0-pr/initramfs.img"
    printf 'ID=bench\nVERSION_ID=1\nPRETTY_NAME="Bench"\n' >"$P/tree/usr/etc/os-release"
    ostree admin init-fs "$P/S" >/dev/null; ostree admin os-init --sysroot="$P/S" os >/dev/null
    ostree --repo="$P/S/ostree/repo" commit --branch=os/x86_64 --tree=dir="$P/tree" >/dev/null
    ostree admin deploy --sysroot="$P/S" --os=os --karg=root=LABEL=x os/x86_64 >/dev/null
    # Ours, made by our own tool into a second sysroot.
    mkdir -p "$P/B/boot" "$P/B/run"
    "$BD" init --sysroot "$P/B" --boot "$P/B/boot" --stateroot os
    local id; id=$("$BD" deploy --sysroot "$P/B" --boot "$P/B/boot" --run-dir "$P/B/run" --stateroot os --tree "$P/tree" --karg root=LABEL=x)
    echo "root=LABEL=x rw $(grep -ho 'ostree=[^ ]*' "$P/S/boot/loader/entries/"*.conf | head -1) bootdeploy=$id" >"$P/cmdline"
    # The chroot: a tmpfs root with the host's programs bound in, and the work directory.
    local C=$P/chroot d
    mkdir -p "$C"; mount -t tmpfs tmpfs "$C"
    for d in usr lib lib64 bin sbin etc dev proc sys "${W#/}" "${BIN#/}"; do
        [ -e "/$d" ] || continue
        mkdir -p "$C/$d"; mount --rbind "/$d" "$C/$d"
    done
    mkdir -p "$C/run" "$C/tmp"
    cp "$HERE/bench/prepare-root-inner.sh" "$P/inner.sh"
    chroot "$C" /bin/bash "$P/inner.sh" "$P" "$BPR" "$OPR" >>"$LOG" 2>&1
    hyperfine_median pr.full.ot "$P/full.json"
    /usr/bin/python3 - "$P/full.json" "$W/samples/pr.full.bd" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][1]
open(sys.argv[2], "w").write("%d\n" % round(r["median"] * 1e6))
PY
}

# ---------------------------------------------------------------------------------------------
# boot-health against a systemd stand-in (python3-dbusmock's systemd template on a private bus).
health_bench() {
    "$HERE/bench/health.sh" "$W/health" "$BD" "$BH" "$W/samples" "$RUNS" >>"$LOG" 2>&1
    # The peers keep nothing resident that watches units (greenboot is shell scripts that systemd
    # runs; systemd-bless-boot runs once and exits), so the figure beside ours is the peak RSS of
    # one `systemd-bless-boot status`, from start to exit: what the peer's blessing program costs
    # at all. Here it stops early ("not supported in containers"), after loading what it links.
    local bless=/usr/lib/systemd/systemd-bless-boot i
    [ -x "$bless" ] && [ -x /usr/bin/time ] || return 0
    for i in $(seq "$RUNS"); do
        /usr/bin/time -f %M -o "$W/bless.rss" "$bless" status >/dev/null 2>&1 || true
        tail -1 "$W/bless.rss" >>"$W/samples/health.rss.peer"
    done
}

# ---------------------------------------------------------------------------------------------
# align: tab-separated columns padded to their widest cell (column(1) is not always installed).
align() {
    awk -F'\t' '{for (i = 1; i <= NF; i++) {c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i)} if (NF > nf) nf = NF}
        END {for (r = 1; r <= NR; r++) {line = ""; for (i = 1; i <= nf; i++) line = line sprintf(i < nf ? "%-" w[i] "s  " : "%s", c[r, i]); sub(/ +$/, "", line); print line}}'
}
T0=$SECONDS
say "binaries from $BIN; work in $W; $RUNS runs per point; sizes $SIZES; tree of $FILES files"
section "setup (images, tree, ostree commit)" setup
if [[ " ${FAILED[*]} " == *" setup "* ]]; then exit 1; fi
section "deploy/status/cleanup at $SIZES existing" deploy_sizes
if "$BD" finalize --help >/dev/null 2>&1 && "$BD" deploy --help 2>/dev/null | grep -q -- '--stage'; then
    # At the size measured last, so that the number of entries finalize rewrites is stated.
    section "finalize of a staged deployment" finalize_bench
else
    na "finalize (staged deployment)" "finalize not implemented"
fi
if [ ! -x "$BPR" ]; then
    na "prepare-root" "$BPR is missing"
elif [ ! -x "$OPR" ]; then
    na "prepare-root" "$OPR is missing (package ostree-boot)"
else
    section "prepare-root sizes" prepare_root_sizes
    if command -v hyperfine >/dev/null; then
        section "prepare-root failure path" prepare_root_fail
        section "prepare-root full preparation" prepare_root_full
    else
        na "prepare-root timings" "hyperfine is not installed (scripts/install-deps.sh bench)"
    fi
fi
if [ ! -x "$BH" ]; then
    na "boot-health run" "$BH is missing"
elif [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import dbusmock' 2>/dev/null && command -v dbus-daemon >/dev/null && command -v gdbus >/dev/null; then
    section "boot-health run" health_bench
else
    na "boot-health run" "needs dbus-daemon, gdbus and python3-dbusmock (scripts/install-deps.sh bench)"
fi

# ---------------------------------------------------------------------------------------------
# The table.
for n in $SIZES; do
    [ -s "$W/samples/deploy.$n.bd" ] || continue
    timed_row "deploy, $n existing: wall" "deploy.$n.bd" "deploy.$n.ot"
    if [ -s "$W/samples/deploy-noprune.$n.ot" ]; then
        timed_row "deploy, $n existing: wall, ostree --no-prune" "deploy.$n.bd" "deploy-noprune.$n.ot" "ostree without its repo prune; median of $(count "deploy-noprune.$n.ot")"
        value_row "deploy, $n existing: fsync+fdatasync+syncfs, ostree --no-prune" "deploy.$n.bd.flush" "deploy-noprune.$n.ot.flush" calls "ostree: $(cat "$W/samples/deploy-noprune.$n.ot.split" 2>/dev/null)"
    fi
    value_row "deploy, $n existing: KiB written to /boot" "deploy.$n.bd.boot" "deploy.$n.ot.boot" KiB "ext4 lifetime_write_kbytes, median"
    value_row "deploy, $n existing: KiB written to the root fs" "deploy.$n.bd.root" "deploy.$n.ot.root" KiB "tree links, records, journal"
    value_row "deploy, $n existing: fsync+fdatasync+syncfs" "deploy.$n.bd.flush" "deploy.$n.ot.flush" calls "ours: $(cat "$W/samples/deploy.$n.bd.split" 2>/dev/null); ostree: $(cat "$W/samples/deploy.$n.ot.split" 2>/dev/null)"
    value_row "deploy, $n existing: FIFREEZE of /boot" "deploy.$n.bd.freeze" "deploy.$n.ot.freeze" ""
    timed_row "status, $n existing: wall" "status.$n.bd" "status.$n.ot"
    timed_row "cleanup (nothing to remove), $n existing: wall" "cleanup.$n.bd" "cleanup.$n.ot"
    value_row "cleanup, $n existing: fsync+fdatasync+syncfs" "cleanup.$n.bd.flush" "cleanup.$n.ot.flush" calls "ours: $(cat "$W/samples/cleanup.$n.bd.split" 2>/dev/null); ostree: $(cat "$W/samples/cleanup.$n.ot.split" 2>/dev/null)"
    timed_row "undeploy the newest, $n existing: wall" "undeploy.$n.bd" "undeploy.$n.ot"
done
# How each tool's cost grows with the number of deployments: the median at the largest size over
# the median at the smallest, for each tool from its own samples (issue #17: deploy <= 1.2x, status flat).
first=${SIZES%% *} last=${SIZES##* }
if [ "$first" != "$last" ]; then
    for what in deploy status; do
        [ -s "$W/samples/$what.$first.bd" ] && [ -s "$W/samples/$what.$last.bd" ] || continue
        row "$what cost, $last vs $first existing (growth)" \
            "$(ratio "$(median "$what.$last.bd")" "$(median "$what.$first.bd")")" \
            "$(ratio "$(median "$what.$last.ot")" "$(median "$what.$first.ot")")" "-" \
            "each tool's own median at $last over its median at $first"
    done
fi
if [ -s "$W/samples/finalize.bd" ]; then
    why="ostree: 'admin deploy --stage' refuses offline: Cannot stage deployment: Not currently booted into an OSTree system"
    last=${SIZES##* }
    row "deploy --stage (before finalize), $last existing: wall" "$(ms "$(median stage.bd)")" "n/a" "-" "$why"
    row "finalize, $last existing: wall" "$(ms "$(median finalize.bd)")" "n/a" "-" "for scale: ostree's whole deploy at $last: $(ms "$(median "deploy.$last.ot")")"
    row "finalize: fsync+fdatasync+syncfs" "$(median finalize.bd.flush) calls" "n/a" "-" "$(cat "$W/samples/finalize.bd.split")"
    row "finalize: KiB written to /boot" "$(median finalize.bd.boot) KiB" "n/a" "-" ""
fi
if [ -s "$W/samples/pr.fail.bd" ]; then
    timed_row "prepare-root, missing karg (fail, exit 1): start to exit" pr.fail.bd pr.fail.ot "hyperfine -N, 300 runs, median"
fi
if [ -s "$W/samples/pr.full.bd" ]; then
    timed_row "prepare-root, full preparation: start to exit" pr.full.bd pr.full.ot "hyperfine -N, 300 runs, median; ours also binds /var, writes booted.json"
fi
if [ -s "$W/samples/health.bless" ]; then
    row "boot-health run: StartupFinished -> blessed" "$(ms "$(median health.bless)")" "-" "-" "empty check set, median of $(count health.bless); includes gdbus sending the signal (alone: $(ms "$(median health.gdbus)"))"
    row "boot-health run: process start -> blessed" "$(ms "$(median health.cold)")" "-" "-" "startup already finished, median of $(count health.cold)"
    if [ -s "$W/samples/health.rss.peer" ]; then
        row "boot-health run: peak RSS while watching 3 units" "$(median health.rss) KiB" "$(median health.rss.peer) KiB" \
            "$(ratio "$(median health.rss)" "$(median health.rss.peer)")" "ours: VmHWM after 3 s of watching; peer: systemd-bless-boot status, start to exit (it does not watch)"
    else
        row "boot-health run: peak RSS while watching 3 units" "$(median health.rss) KiB" "n/a" "-" "VmHWM after 3 s of watching; no systemd-bless-boot or /usr/bin/time for the peer's figure"
    fi
    row "boot-health run: wake-ups while watching, 3 s" "$(median health.wakeups)" "-" "-" "context switches, all threads"
fi

{
    echo
    echo "BootDeploy vs ostree $(ostree --version | awk '/Version/ {print $2}' | tr -d "'") -- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
    echo "ratio = ours / ostree's (below 1: ours is faster / smaller / fewer)"
    echo
    (printf 'what\tours\tostree\tratio\tnote\n'; cat "$W/rows" "$W/rows.late" 2>/dev/null) | align
    [ -s "$W/notes" ] && { echo; sed 's/^/note: /' "$W/notes"; }
    [ ${#FAILED[@]} -gt 0 ] && echo && printf 'FAILED: %s\n' "${FAILED[@]}"
    echo "($((SECONDS - T0)) s)"
} | tee "$W/table.txt"
if [ -d "$REPO/.build-bench" ]; then cp "$W/table.txt" "$REPO/.build-bench/bench-table.txt"; fi
[ ${#FAILED[@]} -eq 0 ]
