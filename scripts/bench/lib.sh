# Helpers for scripts/bench.sh (sourced, not run). Needs: W (work dir), LOG.
# Times come from bash's $EPOCHREALTIME (microseconds, no fork), so the clock costs the same for
# every command measured; samples are kept one per line in $W/samples/<key>.

# timed KEY CMD...: runs CMD once, appends its wall time in µs to KEY; stdout goes to $W/last.out.
# A command that fails stops the section with its stderr: a failed run is not a measurement.
timed() {
    local key=$1 t0 t1; shift
    t0=${EPOCHREALTIME/./}
    if ! "$@" >"$W/last.out" 2>"$W/last.err"; then
        echo "command failed: $*" >&2; tail -5 "$W/last.err" >&2; return 1
    fi
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$W/samples/$key"
}

# sample KEY VALUE: records a value measured some other way.
sample() { echo "$2" >>"$W/samples/$1"; }

# median KEY: the median of KEY's samples (mean of the middle two for an even count), or nothing.
median() {
    [ -s "$W/samples/$1" ] || return 0
    sort -n "$W/samples/$1" | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# count KEY: how many samples KEY has.
count() { [ -s "$W/samples/$1" ] && wc -l <"$W/samples/$1" || echo 0; }

# ms µs -> "12.3 ms"
ms() { [ -n "$1" ] && awk -v u="$1" 'BEGIN {printf (u >= 100000 ? "%.0f ms" : "%.1f ms"), u / 1000}' || echo "n/a"; }

# ratio A B -> "0.42x" (A/B), or "-" when either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b}'; }

# row WHAT OURS THEIRS RATIO [NOTE]: one line of the result table.
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"${ROWS_FILE:-$W/rows}"; }

# na WHAT WHY: a line for something that could not be measured, and why.
na() { row "$1" "n/a" "n/a" "-" "$2"; echo "n/a: $1: $2" >>"$W/notes"; }

# timed_row WHAT KEY_OURS KEY_THEIRS [NOTE]: median wall times and their ratio.
timed_row() {
    local a b; a=$(median "$2"); b=$(median "$3")
    row "$1" "$(ms "$a")" "$(ms "$b")" "$(ratio "$a" "$b")" "${4:-median of $(count "$2")}"
}

# value_row WHAT KEY_OURS KEY_THEIRS UNIT [NOTE]: median of counted values and their ratio.
value_row() {
    local a b; a=$(median "$2"); b=$(median "$3")
    row "$1" "${a:-n/a} $4" "${b:-n/a} $4" "$(ratio "$a" "$b")" "${5:-}"
}

# flushes FILE: from a trace of `strace -f -o FILE -e trace=fsync,fdatasync,syncfs,sync,ioctl`,
# prints "fsync fdatasync syncfs sync freezes". A call split by another thread is counted once
# (its "<... resumed>" half is not a call).
flushes() {
    awk '
        / resumed>/ { next }
        / fsync\(/ { f++ } / fdatasync\(/ { d++ } / syncfs\(/ { s++ } / sync\(\)/ { y++ }
        / ioctl\([0-9]+, FIFREEZE/ { z++ }
        END { printf "%d %d %d %d %d\n", f, d, s, y, z }' "$1"
}

# traced KEY CMD...: runs CMD once under strace; records KEY.flush (fsync+fdatasync+syncfs+sync
# calls) and KEY.freeze (FIFREEZE ioctls), and keeps the split in KEY.split.
traced() {
    local key=$1; shift
    if ! strace -f -qq -o "$W/trace" -e trace=fsync,fdatasync,syncfs,sync,ioctl "$@" >"$W/last.out" 2>"$W/last.err"; then
        echo "command failed under strace: $*" >&2; tail -5 "$W/last.err" >&2; return 1
    fi
    local f d s y z
    read -r f d s y z < <(flushes "$W/trace")
    sample "$key.flush" $((f + d + s + y))
    sample "$key.freeze" "$z"
    echo "fsync $f, fdatasync $d, syncfs $s, sync $y" >"$W/samples/$key.split"
}

# kib_written DIR: KiB the filesystem holding DIR has written to its (loop) device since mount,
# from ext4's lifetime_write_kbytes (data, metadata and journal); flushed first.
kib_written() {
    local dev
    sync -f "$1"
    dev=$(findmnt -no SOURCE --target "$1")
    cat "/sys/fs/ext4/${dev##*/}/lifetime_write_kbytes"
}

# written KEY BOOT ROOT CMD...: one timed run of CMD (into KEY) that also records the KiB written
# to BOOT's filesystem (KEY.boot) and to ROOT's (KEY.root).
written() {
    local key=$1 boot=$2 root=$3 b0 b1 r0 r1; shift 3
    b0=$(kib_written "$boot"); r0=$(kib_written "$root")
    timed "$key" "$@"
    b1=$(kib_written "$boot"); r1=$(kib_written "$root")
    sample "$key.boot" $((b1 - b0))
    sample "$key.root" $((r1 - r0))
}
