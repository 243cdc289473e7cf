#!/usr/bin/env bash
# CPU profile of kestrel's daemon under a flat-out workload on CPU 0:
# `perf record -g` of the daemon process for a few seconds, reported by
# symbol (self time) and by thread. Writes perf/runs/<stamp>-profile/.
#
#   sudo perf/diagnose/profile.sh [seconds=5] [kestrel options...]
#
#   sudo perf/diagnose/profile.sh 5 -o kestrel.pin_workers=false
#
# Profiles two workloads in turn: the openat+close loop and
# `kestrel-loadgen run --scenario exec`. perf samples with the cpu-clock
# software event (the VM exposes no PMU), so time spent with interrupts
# off is attributed to where they are re-enabled (finish_task_switch after
# a context switch).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

SECS=${1:-5}
shift || true
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release -p kestrel -p kestrel-loadgen"
ensure_tools perf
OUT=$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-profile
perf_init "$OUT"
build_loop
echo kestrel > "$PERF_TMP/target"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "kestrel: $KESTREL (built from the working tree at $(worktree_desc))"
    echo "options: $*"
    env_cpu
    echo "loadavg: $(cat /proc/loadavg)"
} > "$OUT/env.txt"

for w in openclose exec; do
    daemon_start "$OUT" "$w" "$@"
    sleep 1
    case $w in
    openclose)
        note_cmd "loop openclose 100000000 0 target (killed after the profile)"
        "$PERF_TMP/loop" openclose 100000000 0 "$PERF_TMP/target" > /dev/null &
        ;;
    exec)
        note_cmd "$LOADGEN run --scenario exec --threads 1 --pin --rate max --duration $((SECS + 3))"
        "$LOADGEN" run --scenario exec --threads 1 --pin --rate max --duration $((SECS + 3)) --quiet > /dev/null 2>&1 &
        ;;
    esac
    wpid=$!
    sleep 1
    note_cmd "perf record -F 1999 -g -p $DAEMON_PID -- sleep $SECS  # $OUT/$w.*.txt"
    perf record -q -F 1999 -g -p "$DAEMON_PID" -o "$PERF_TMP/$w.data" -- sleep "$SECS" 2> /dev/null
    kill "$wpid" 2> /dev/null || true
    wait "$wpid" 2> /dev/null || true
    daemon_stop
    perf report -i "$PERF_TMP/$w.data" --no-children --sort sym --stdio -g none 2> /dev/null |
        grep -v '^#' | grep -v '^$' | head -60 > "$OUT/$w.symbols.txt" || true
    perf report -i "$PERF_TMP/$w.data" --no-children --sort pid --stdio -g none 2> /dev/null |
        grep -v '^#' | grep -v '^$' | head -20 > "$OUT/$w.threads.txt" || true
    log "$w: $(head -5 "$OUT/$w.symbols.txt" | tr -s ' ' | tr '\n' ';' || true)"
done
archive_logs "$OUT"
