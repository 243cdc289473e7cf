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
    for t in $(ls -d /proc/"$1"/task/* | sort -t/ -k5 -n); do
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
    for v in "${VARIANTS[@]}"; do
        label=${v%%|*}
        read -r -a opts <<< "${v#*|}"
        for loop in openclose getppid open-1t open-2t; do
            tag="r$r-$label-$loop"
            c0=() t0=() c1=() t1=() daemon_args=()
            if [ "$label" != bare ]; then
                daemon_start "$OUT" "$tag" "${opts[@]}"
                sleep 1
                c0=($(worker_stat "$DAEMON_PID" ctx))
                t0=($(worker_stat "$DAEMON_PID" cpu))
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
                c1=($(worker_stat "$DAEMON_PID" ctx))
                t1=($(worker_stat "$DAEMON_PID" cpu))
                scrape "$DAEMON_URL" "$OUT/$tag.metrics.prom"
                drops=$(awk '/^kestrel_kernel_events_dropped_total/ {s += $2} END {print s + 0}' "$OUT/$tag.metrics.prom")
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

python3 - "$OUT" > "$OUT/summary.md" <<'PY'
import csv, json, os, statistics, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "raw.tsv")), delimiter="\t"))
m = statistics.median
def w(s, i):
    v = [int(x.split(":")[1]) for x in s.split()]
    return v[i] if i < len(v) else 0
def lat(x, k):
    try:
        d = json.load(open(os.path.join(out, f"r{x['round']}-{x['variant']}-{x['loop']}.json")))
        return d["daemon"]["event_latency_ns"][k] / 1e3, d["daemon"]["cpu_seconds"] / d["daemon"]["events_processed"] * 1e6
    except Exception:
        return None, None
print("Medians over rounds (variants alternated within each round). ops/s: loop iterations (one openat+close, or one getppid) or loadgen "
      "operations per second over all threads. Worker columns per operation; worker 0 reads CPU 0's ring.\n")
print("| variant | workload | ops/s (vs bare) | worker 0 ctx switches/op | worker 0 CPU µs/op | worker 1 CPU µs/op "
      "| kst_sys_exit ns/call | event latency p50 / p99 (µs) | kestrel CPU s per M events | drops (sum) |")
print("|---|---|---|---|---|---|---|---|---|---|")
keys = []
for r in rows:
    if (r["variant"], r["loop"]) not in keys:
        keys.append((r["variant"], r["loop"]))
for k in keys:
    rs = [x for x in rows if (x["variant"], x["loop"]) == k]
    per = lambda f, i: m(w(x[f], i) / max(int(x["ops"]), 1) for x in rs)
    rate = m(1e9 / float(x["ns_per_op"]) for x in rs if float(x["ns_per_op"]) > 0)
    l50 = [lat(x, "p50")[0] for x in rs]
    l99 = [lat(x, "p99")[0] for x in rs]
    cpu = [lat(x, "p50")[1] for x in rs]
    ls = f"{m(l50):.0f} / {m(l99):.0f}" if None not in l50 else ""
    cs = f"{m(cpu):.2f}" if None not in cpu else ""
    bare = [x for x in rows if (x["variant"], x["loop"]) == ("bare", k[1])]
    vs = ""
    if bare and k[0] != "bare":
        b = m(1e9 / float(x["ns_per_op"]) for x in bare if float(x["ns_per_op"]) > 0)
        vs = f" ({rate / b:.3f}x)"
    print(f"| {k[0]} | {k[1]} | {rate / 1e3:.1f} K{vs} | {per('worker_ctxsw', 0):.3f} | {per('worker_cpu_us', 0):.3f} "
          f"| {per('worker_cpu_us', 1):.3f} | {'–' if k[0] == 'bare' or any(not x['bpf_ns_per_call'] for x in rs) else m(int(x['bpf_ns_per_call']) for x in rs)} | {ls} | {cs} "
          f"| {sum(int(x['drops']) for x in rs)} |")
PY
cat "$OUT/summary.md"
