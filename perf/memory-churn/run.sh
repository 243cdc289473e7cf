#!/usr/bin/env bash
# Memory under churn: what a burst of short-lived processes, distinct files
# and sockets leaves behind in a kestrel daemon. Issue 14, "Bounded memory";
# the container churn is perf/container-churn/run.sh.
#
# Starts the release daemon with its default rules plus
# perf/memory-churn/state_rules.yaml (rules that raise nothing but make the
# daemon capture and keep socket, fd and process state: every connect,
# accept, sendto and close is applied to the socket cache), waits WARMUP
# seconds, then runs three churns with perf/memory-churn/churn.c, one after
# another:
#
#   procs    PROCS processes, one after another: fork + _exit, and every
#            EXEC_EVERY-th child execs /bin/true instead
#   files    FILES distinct files created, closed and unlinked, then
#            HOLD_FILES more held open at once, closed, unlinked
#   sockets  SOCKETS loopback TCP connections (both ends held) and SOCKETS
#            UDP sockets that each sent one datagram, held at once, closed
#
# For every churn it samples the daemon before, while descriptors are held
# (files, sockets), right after the churning process closed them (it is
# still alive: entries of closed descriptors must already be gone), right
# after the churn ended, and SETTLE seconds later: VmRSS, RssAnon,
# kestrel_memory_heap_bytes and every state-table gauge. VmRSS and RssAnon
# are also sampled every 0.5 s during the churn (peak). Kernel drops must
# stay 0 and "back at baseline" is checked against the tolerances below.
#
#   sudo perf/memory-churn/run.sh [--quick | --divisor N] [--out DIR]
#
# Sizes (environment): PROCS=1000000 EXEC_EVERY=10 FILES=100000
# HOLD_FILES=10000 SOCKETS=10000 SETTLE=10 WARMUP=5; --divisor N divides
# the four counts by N, --quick is --divisor 100 (about a minute). Tolerances: HEAP_TOL_KIB=2048 (heap), ANON_TOL_KIB=8192
# (RssAnon), ENTRY_TOL=300 (process table and socket cache entries: other
# processes on the machine come and go).
#
# Writes perf/runs/<stamp>-memory-churn/ (raw.tsv, peaks.tsv, summary.md,
# metrics scrapes, logs). Uses the binaries in CARGO_TARGET_DIR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

PROCS=${PROCS:-1000000}
EXEC_EVERY=${EXEC_EVERY:-10}
FILES=${FILES:-100000}
HOLD_FILES=${HOLD_FILES:-10000}
SOCKETS=${SOCKETS:-10000}
SETTLE=${SETTLE:-10}
WARMUP=${WARMUP:-5}
HEAP_TOL_KIB=${HEAP_TOL_KIB:-2048}
ANON_TOL_KIB=${ANON_TOL_KIB:-8192}
ENTRY_TOL=${ENTRY_TOL:-300}
OUT=""
DIVISOR=1
while [ $# -gt 0 ]; do
    case $1 in
    --quick) DIVISOR=100 ;;
    --divisor) DIVISOR=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,37p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $DIVISOR =~ ^[1-9][0-9]*$ ]] || die "--divisor must be a positive whole number (got '$DIVISOR')"
PROCS=$((PROCS / DIVISOR)) FILES=$((FILES / DIVISOR))
HOLD_FILES=$((HOLD_FILES / DIVISOR)) SOCKETS=$((SOCKETS / DIVISOR))
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release -p kestrel"
for v in PROCS EXEC_EVERY FILES HOLD_FILES SOCKETS SETTLE WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done

OUT=${OUT:-$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-memory-churn}
perf_init "$OUT"
OUT=$RUN_DIR
RULES=$PERF_DIR/memory-churn/state_rules.yaml
{
    echo "date: $(date -u +%FT%TZ)"
    echo "kestrel: $KESTREL (built from the working tree at $(worktree_desc))"
    env_cpu
    echo "procs: $PROCS (every ${EXEC_EVERY}th execs /bin/true); files: $FILES (+ $HOLD_FILES held); sockets: $SOCKETS tcp + $SOCKETS udp"
    echo "rules: default rules + perf/memory-churn/state_rules.yaml; settle: $SETTLE s"
    echo "tolerances: heap +$HEAP_TOL_KIB KiB, RssAnon +$ANON_TOL_KIB KiB, entries +$ENTRY_TOL"
    echo "others running at start: $(others_running)"
} > "$OUT/env.txt"

CHURN=$PERF_TMP/churn
cc -O2 -Wall -o "$CHURN" "$PERF_DIR/memory-churn/churn.c" || die "cannot compile churn.c"
DIR=$(mktemp -d /var/tmp/kestrel-memchurn.XXXXXX)
SAMPLER_PID=""
CHURN_PID=""
stop_all() {
    [ -n "$SAMPLER_PID" ] && { kill "$SAMPLER_PID" 2> /dev/null || true; wait "$SAMPLER_PID" 2> /dev/null || true; }
    [ -n "$CHURN_PID" ] && { kill "$CHURN_PID" 2> /dev/null || true; wait "$CHURN_PID" 2> /dev/null || true; }
    rm -rf "$DIR"
}
trap 'stop_all; perf_cleanup' EXIT

daemon_start "$OUT" kestrel -r "$DEFAULT_RULES" -r "$RULES" -o json_output=true
sleep "$WARMUP"

# Sum of a metric over all its label sets (0 when absent).
metric() { # file name
    awk -v n="$2" '{ k = $1; sub(/\{.*/, "", k) } k == n { s += $2; f = 1 } END { printf "%.0f\n", f ? s : 0 }' "$1"
}
COLS=(kestrel_memory_heap_bytes kestrel_process_table_entries kestrel_process_table_exits_pending
    kestrel_socket_cache_entries kestrel_worker_process_cache_entries kestrel_worker_deferred_queue_length
    kestrel_container_metadata_entries kestrel_container_user_databases
    kestrel_process_table_evictions_total kestrel_socket_cache_evictions_total
    kestrel_kernel_events_dropped_total kestrel_worker_events_processed_total)
printf 'churn\tphase\tsecs\trss_kib\trss_anon_kib\theap_kib\tprocesses\texits_pending\tsockets\tproc_cache\tdeferred\tcontainers\tuser_dbs\tproc_evicted\tsock_evicted\tkernel_drops\tevents\n' > "$OUT/raw.tsv"
T0=$(date +%s.%N)
sample() { # churn phase
    local f="$OUT/metrics.$1.$2.prom" vals=() c
    scrape "$DAEMON_URL" "$f"
    for c in "${COLS[@]}"; do vals+=("$(metric "$f" "$c")"); done
    vals[0]=$((vals[0] / 1024))
    printf '%s\t%s\t%.1f\t%s\t%s\t%s\n' "$1" "$2" "$(echo "$(date +%s.%N) - $T0" | bc)" \
        "$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")" \
        "$(awk '/^RssAnon:/ { print $2 }' "/proc/$DAEMON_PID/status")" \
        "$(IFS=$'\t'; echo "${vals[*]}")" >> "$OUT/raw.tsv"
    gzip -9f "$f"
}
printf 'churn\tsecs\trss_kib\trss_anon_kib\n' > "$OUT/peaks.tsv"
sampler_start() { # churn
    (
        while :; do
            printf '%s\t%s\t%s\t%s\n' "$1" "$(echo "$(date +%s.%N) - $T0" | bc)" \
                "$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")" \
                "$(awk '/^RssAnon:/ { print $2 }' "/proc/$DAEMON_PID/status")"
            sleep 0.5
        done
    ) >> "$OUT/peaks.tsv" 2> /dev/null &
    SAMPLER_PID=$!
}
sampler_stop() {
    kill "$SAMPLER_PID" 2> /dev/null || true
    wait "$SAMPLER_PID" 2> /dev/null || true
    SAMPLER_PID=""
}

# Runs churn.c with its stdout read phase by phase: at every "phase held"
# and "phase closed" line the daemon is sampled, then the child is told to
# go on. Records the wall time of the churn in durations.tsv.
run_churn() { # name args...
    local name=$1
    shift
    local fifo_in="$PERF_TMP/in.$name" fifo_out="$PERF_TMP/out.$name" line t0 t1 rc=0
    mkfifo "$fifo_in" "$fifo_out"
    note_cmd "churn $*  # $name"
    log "$name: churn $*"
    sample "$name" before
    sampler_start "$name"
    t0=$(date +%s.%N)
    "$CHURN" "$@" < "$fifo_in" > "$fifo_out" 2> "$OUT/$name.churn.err" &
    CHURN_PID=$!
    exec {IN}> "$fifo_in" {OUTFD}< "$fifo_out"
    while IFS= read -r line <&"$OUTFD"; do
        echo "$line" >> "$OUT/$name.churn.out"
        case $line in
        "phase held" | "phase closed")
            sleep 1 # the daemon reads the last events (its rings drain within ms)
            sample "$name" "${line#phase }"
            echo go >&"$IN"
            ;;
        esac
    done
    exec {IN}>&- {OUTFD}<&-
    wait "$CHURN_PID" || rc=$?
    CHURN_PID=""
    t1=$(date +%s.%N)
    [ "$rc" = 0 ] || die "$name churn failed with status $rc (see $OUT/$name.churn.err)"
    [ -s "$OUT/$name.churn.err" ] || rm -f "$OUT/$name.churn.err"
    printf '%s\t%.1f\n' "$name" "$(echo "$t1 - $t0" | bc)" >> "$OUT/durations.tsv"
    sample "$name" end
    sleep "$SETTLE"
    sampler_stop
    sample "$name" settled
    rm -f "$fifo_in" "$fifo_out"
}

sample all baseline
run_churn procs procs "$PROCS" "$EXEC_EVERY"
run_churn files files "$FILES" "$HOLD_FILES" "$DIR"
run_churn sockets sockets "$SOCKETS"

rc=0
python3 "$PERF_DIR/memory-churn/summarize.py" "$OUT" "$HEAP_TOL_KIB" "$ANON_TOL_KIB" "$ENTRY_TOL" \
    > "$OUT/summary.md" || rc=$?
daemon_stop
archive_logs "$OUT"
cat "$OUT/summary.md"
exit "$rc"
