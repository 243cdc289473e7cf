#!/usr/bin/env bash
# What an idle kestrel costs, and how late it alerts after a quiet period:
# the daemon with its defaults (idle workers park and the probe wakes them)
# against workers that keep polling (`-o kestrel.worker_park=false`, every
# 500 us, and every 1 ms), alternated over rounds. In each sample the
# daemon starts, settles for 5 s, then for SECS seconds the only load is one
# read of /etc/shadow a second (a `Read Sensitive File` alert, so the alert
# latency of an event arriving at a quiet CPU is measured too).
#
#   sudo perf/idle/run.sh [rounds] [secs]
#
# Writes perf/runs/<stamp>-idle/ (raw.tsv, summary.md, metrics scrapes,
# daemon logs). Uses the binaries in CARGO_TARGET_DIR (default target/).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

ROUNDS=${1:-3}
SECS=${2:-30}
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release -p kestrel"

OUT=$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-idle
perf_init "$OUT"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "kestrel: $KESTREL (built from the working tree at $(worktree_desc))"
    echo "loadavg: $(cat /proc/loadavg)"
    echo "rounds=$ROUNDS secs=$SECS"
} > "$OUT/env.txt"

# label|kestrel options
VARIANTS=(
    "park|"
    "poll-500us|-o kestrel.worker_park=false"
    "poll-1ms|-o kestrel.worker_park=false -o kestrel.worker_max_idle_sleep_us=1000"
)

# Nanoseconds on CPU of every thread of a process (schedstat's first field).
cpu_ns() { # pid
    local t sum=0 v
    for t in /proc/"$1"/task/*/schedstat; do
        read -r v _ < "$t" 2> /dev/null || continue
        sum=$((sum + v))
    done
    echo "$sum"
}

# A metric's value from a scrape: name with its labels, as printed.
metric() { # file pattern
    awk -v p="$2" '$1 == p { print $2; found=1 } END { if (!found) print "nan" }' "$1"
}
metric_sum() { # file name
    awk -v n="$2" 'index($1, n "{") == 1 || $1 == n { s += $2 } END { print s + 0 }' "$1"
}

printf 'round\tvariant\tsecs\tcpu_ns\tcpu_share\tparks\tidle_polls\talerts\talert_p50_s\talert_p99_s\n' > "$OUT/raw.tsv"
n=${#VARIANTS[@]}
for r in $(seq 1 "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
        v=${VARIANTS[$(((i + r - 1) % n))]}
        label=${v%%|*}
        opts=${v#*|}
        tag=r$r-$label
        # shellcheck disable=SC2086 # options are words
        daemon_start "$OUT" "$tag" $opts
        sleep 5
        scrape "$DAEMON_URL" "$OUT/$tag.before.prom"
        a=$(cpu_ns "$DAEMON_PID")
        t0=$(date +%s%N)
        for _ in $(seq 1 "$SECS"); do
            head -c1 /etc/shadow > /dev/null
            sleep 1
        done
        b=$(cpu_ns "$DAEMON_PID")
        t1=$(date +%s%N)
        scrape "$DAEMON_URL" "$OUT/$tag.after.prom"
        daemon_stop
        parks=$(($(metric_sum "$OUT/$tag.after.prom" kestrel_worker_parks_total) - $(metric_sum "$OUT/$tag.before.prom" kestrel_worker_parks_total)))
        polls=$(($(metric_sum "$OUT/$tag.after.prom" kestrel_worker_idle_polls_total) - $(metric_sum "$OUT/$tag.before.prom" kestrel_worker_idle_polls_total)))
        alerts=$(metric_sum "$OUT/$tag.after.prom" kestrel_alerts_total)
        p50=$(metric "$OUT/$tag.after.prom" 'kestrel_alert_latency_seconds{quantile="0.5"}')
        p99=$(metric "$OUT/$tag.after.prom" 'kestrel_alert_latency_seconds{quantile="0.99"}')
        share=$(python3 -c "print(f'{($b - $a) / ($t1 - $t0):.5f}')")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$label" "$SECS" "$((b - a))" "$share" \
            "$parks" "$polls" "$alerts" "$p50" "$p99" >> "$OUT/raw.tsv"
        log "$tag: cpu share $share, parks $parks, idle polls $polls, alerts $alerts, alert p50 ${p50}s p99 ${p99}s"
    done
done

python3 - "$OUT" > "$OUT/summary.md" << 'PY'
import csv, statistics, sys, os
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "raw.tsv")), delimiter="\t"))
env = open(os.path.join(out, "env.txt")).read().strip()
print(f"# kestrel idle cost: {os.path.basename(out)}\n\n```\n{env}\n```\n")
print("Medians over rounds (variants alternated within each round). CPU: all of the daemon's threads over the window, "
      "as a share of one core. Alert latency: kernel timestamp to alert, over the daemon's life (one alert a second).\n")
print("| variant | rounds | daemon CPU (share of one core) | worker parks/s | idle polls/s | alert latency p50 / p99 |")
print("|---|---|---|---|---|---|")
def med(xs):
    xs = [float(x) for x in xs if x not in ("", "nan")]
    return statistics.median(xs) if xs else float("nan")
for label in dict.fromkeys(r["variant"] for r in rows):
    rs = [r for r in rows if r["variant"] == label]
    secs = float(rs[0]["secs"])
    print(f"| {label} | {len(rs)} | {100 * med(r['cpu_share'] for r in rs):.2f}% "
          f"| {med(r['parks'] for r in rs) / secs:.1f} | {med(r['idle_polls'] for r in rs) / secs:.0f} "
          f"| {1e6 * med(r['alert_p50_s'] for r in rs):.0f} µs / {1e6 * med(r['alert_p99_s'] for r in rs):.0f} µs |")
PY
cat "$OUT/summary.md"
