#!/usr/bin/env bash
# Where does kestrel's cost on a traced workload go? Runs perf/probe-overhead's
# openat+close loop (and getppid loop) on CPU 0 under kestrel with its default
# rules, in variants that differ only in configuration, alternated over
# rounds, and records for each sample the loop's speed, each worker's context
# switches and CPU time (schedstat), the probe's in-kernel run time per
# program call (BPF statistics) and drops. Writes
# perf/runs/<stamp>-diagnose/ (raw.tsv, summary.md, metrics scrapes).
#
#   sudo perf/diagnose/run.sh [rounds] [openclose-iterations] [getppid-iterations]
#
# Besides the loops, `kestrel-loadgen run --scenario open --pin --rate max`
# with 1 and 2 threads (LG_SECS seconds, default 10) reconciled against the
# daemon, for the rate, drops, event latency and CPU per event of each variant.
#
# Uses the binaries in CARGO_TARGET_DIR (default target/), built from the
# working tree: cargo build --release -p kestrel -p kestrel-loadgen.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

ROUNDS=${1:-5}
N_OPEN=${2:-300000}
N_GETPPID=${3:-5000000}
LG_SECS=${LG_SECS:-10}
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release -p kestrel -p kestrel-loadgen"

OUT=$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-diagnose
perf_init "$OUT"
build_loop
echo kestrel > "$PERF_TMP/target"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "kestrel: $KESTREL (built from the working tree at $(worktree_desc))"
    env_cpu
    echo "loadavg: $(cat /proc/loadavg)"
    echo "rounds=$ROUNDS openclose=$N_OPEN getppid=$N_GETPPID loadgen_secs=$LG_SECS"
} > "$OUT/env.txt"

# label -> kestrel options
VARIANTS=(
    "bare|"
    "default|"
    "same-cpu|-o kestrel.worker_cpu_offset=0"
    "other-nice-10|-o kestrel.worker_scheduler=other -o kestrel.worker_nice=-10"
    "other-nice0|-o kestrel.worker_scheduler=other -o kestrel.worker_nice=0"
    "unpinned|-o kestrel.pin_workers=false"
    "unpinned-other|-o kestrel.pin_workers=false -o kestrel.worker_scheduler=other -o kestrel.worker_nice=0"
)

# Sum of a per-thread field over kestrel's worker threads, worker order.
worker_stat() { # pid field(ctx|cpu)
    local t
    for t in $(find /proc/"$1"/task -mindepth 1 -maxdepth 1 | sort -t/ -k5 -n); do
        grep -q '^kestrel-worker-' "$t/comm" 2> /dev/null || continue
        case $2 in
        ctx) awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {printf "%d ", s}' "$t/status" ;;
        cpu) awk '{printf "%d ", $1 / 1000}' "$t/schedstat" ;; # µs on CPU
        esac
    done
}

bpf_runtime() { # prints "run_time_ns run_cnt" of kestrel's sys_exit program
    bpftool prog show 2> /dev/null | awk '/name kst_sys_exit/ {
        for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t = $(i+1); if ($i == "run_cnt") c = $(i+1) } }
        END { print (t ? t : 0), (c ? c : 0) }'
}

printf 'round\tvariant\tloop\tops\tns_per_op\tworker_ctxsw\tworker_cpu_us\tbpf_ns_per_call\tbpf_calls\tdrops\n' > "$OUT/raw.tsv"
prev_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled='"$prev_stats"'; perf_cleanup' EXIT
# BPF run-time statistics add two clock reads per program run (tens of ns);
# they are on for every variant alike.
sysctl -qw kernel.bpf_stats_enabled=1
for r in $(seq 1 "$ROUNDS"); do
    # Rotated every round, reversed every other round (round_order, lib.sh).
    mapfile -t order < <(round_order "$r" "${VARIANTS[@]}")
    for v in "${order[@]}"; do
        label=${v%%|*}
        read -r -a opts <<< "${v#*|}"
        for loop in openclose getppid open-1t open-2t; do
            tag="r$r-$label-$loop"
            c0=() t0=() c1=() t1=() daemon_args=()
            if [ "$label" != bare ]; then
                daemon_start "$OUT" "$tag" "${opts[@]}"
                sleep 1
                read -r -a c0 <<< "$(worker_stat "$DAEMON_PID" ctx)"
                read -r -a t0 <<< "$(worker_stat "$DAEMON_PID" cpu)"
                daemon_args=(--daemon "$DAEMON_URL")
            fi
            read -r b0 n0 <<< "$(bpf_runtime)"
            case $loop in
            openclose)
                ops=$N_OPEN
                ns=$("$PERF_TMP/loop" openclose "$N_OPEN" 0 "$PERF_TMP/target")
                ;;
            getppid)
                ops=$N_GETPPID
                ns=$("$PERF_TMP/loop" getppid "$N_GETPPID" 0)
                ;;
            open-*)
                loadgen "$OUT/$tag.json" --scenario open --threads "${loop//[!0-9]/}" --pin --rate max \
                    --duration "$LG_SECS" "${daemon_args[@]}" || true
                read -r ops ns < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["ops"], 1e9 / d["rate_per_s"] if d.get("rate_per_s") else 0)' "$OUT/$tag.json")
                ;;
            esac
            read -r b1 n1 <<< "$(bpf_runtime)"
            drops=0
            if [ "$label" != bare ]; then
                read -r -a c1 <<< "$(worker_stat "$DAEMON_PID" ctx)"
                read -r -a t1 <<< "$(worker_stat "$DAEMON_PID" cpu)"
                scrape "$DAEMON_URL" "$OUT/$tag.metrics.prom"
                drops=$(python3 "$PERF_DIR/promtext.py" "$OUT/$tag.metrics.prom" kestrel_kernel_events_dropped_total |
                    awk '{ print ($1 == "nan" ? 0 : int($1)) }')
                gzip -9f "$OUT/$tag.metrics.prom"
                daemon_stop
            fi
            ctx="" cpu=""
            for i in "${!c1[@]}"; do
                ctx+="w$i:$((c1[i] - ${c0[i]:-0})) "
                cpu+="w$i:$((t1[i] - ${t0[i]:-0})) "
            done
            # Bare has no program of its own; a previous daemon's program
            # may still be listed while the kernel frees it.
            per=$(awk -v b=$((b1 - b0)) -v n=$((n1 - n0)) 'BEGIN { printf "%.0f", (n > 0 ? b / n : 0) }')
            if [ "$label" = bare ]; then per=0 n1=0 n0=0; fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$label" "$loop" "$ops" "$ns" "$ctx" "$cpu" \
                "$per" "$((n1 - n0))" "$drops" >> "$OUT/raw.tsv"
            log "$tag: $ns ns/op, ctxsw $ctx, cpu µs $cpu, bpf $per ns/call, drops $drops"
        done
    done
done

python3 "$PERF_DIR/diagnose/summarize.py" "$OUT" > "$OUT/summary.md"
archive_logs "$OUT"
cat "$OUT/summary.md"
