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
#   perf/idle/run.sh --rebuild perf/runs/<stamp>-idle   # raw.tsv's metric columns and
#                                                      # summary.md again from the scrapes
#
# Writes perf/runs/<stamp>-idle/ (raw.tsv, summary.md, metrics scrapes,
# daemon logs in logs.tar.xz). Uses the binaries in CARGO_TARGET_DIR
# (default target/).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

if [ "${1:-}" = --rebuild ]; then
    [ -d "${2:-}" ] || die "usage: perf/idle/run.sh --rebuild <run folder>"
    python3 "$PERF_DIR/idle/summarize.py" --rebuild-raw "$2" > "$2/summary.md.tmp"
    mv "$2/summary.md.tmp" "$2/summary.md"
    cat "$2/summary.md"
    exit 0
fi

ROUNDS=${1:-3}
SECS=${2:-30}
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release -p kestrel"

OUT=$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-idle
perf_init "$OUT"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "kestrel: $KESTREL (built from the working tree at $(worktree_desc))"
    env_cpu
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

# The sum of a metric's samples whose labels match, from a scrape ("nan"
# when none). Label values are quoted and may contain spaces (rule names),
# so the scrape is parsed, not split on blanks (perf/promtext.py).
metric() { # file name [label=value...]
    python3 "$PERF_DIR/promtext.py" "$@"
}
# The same as an integer (0 when absent), for counters.
metric_int() { # file name
    python3 "$PERF_DIR/promtext.py" "$@" | awk '{ print ($1 == "nan" ? 0 : int($1)) }'
}

printf 'round\tvariant\tsecs\tcpu_ns\tcpu_share\tparks\tidle_polls\talerts\talert_p50_s\talert_p99_s\n' > "$OUT/raw.tsv"
for r in $(seq 1 "$ROUNDS"); do
    mapfile -t order < <(round_order "$r" "${VARIANTS[@]}")
    for v in "${order[@]}"; do
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
        parks=$(($(metric_int "$OUT/$tag.after.prom" kestrel_worker_parks_total) - $(metric_int "$OUT/$tag.before.prom" kestrel_worker_parks_total)))
        polls=$(($(metric_int "$OUT/$tag.after.prom" kestrel_worker_idle_polls_total) - $(metric_int "$OUT/$tag.before.prom" kestrel_worker_idle_polls_total)))
        alerts=$(metric_int "$OUT/$tag.after.prom" kestrel_alerts_total)
        p50=$(metric "$OUT/$tag.after.prom" kestrel_alert_latency_seconds quantile=0.5)
        p99=$(metric "$OUT/$tag.after.prom" kestrel_alert_latency_seconds quantile=0.99)
        gzip -9f "$OUT/$tag.before.prom" "$OUT/$tag.after.prom"
        share=$(python3 -c "print(f'{($b - $a) / ($t1 - $t0):.5f}')")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$label" "$SECS" "$((b - a))" "$share" \
            "$parks" "$polls" "$alerts" "$p50" "$p99" >> "$OUT/raw.tsv"
        log "$tag: cpu share $share, parks $parks, idle polls $polls, alerts $alerts, alert p50 ${p50}s p99 ${p99}s"
    done
done

python3 "$PERF_DIR/idle/summarize.py" "$OUT" > "$OUT/summary.md"
archive_logs "$OUT"
cat "$OUT/summary.md"
