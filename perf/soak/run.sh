#!/usr/bin/env bash
# Soak: the release daemon with its embedded default rules under a steady,
# reconciled kestrel-loadgen load for DURATION seconds (default 1800), with
# periodic bursts of process churn, alert-raising trigger passes, SIGHUP
# reloads and SIGUSR1 rotations of a file output, sampled every INTERVAL
# seconds (default 5):
#
#   RSS (VmRSS, RssAnon), kestrel_memory_heap_bytes, CPU (utime+stime delta
#   from /proc/PID/stat, % of one core), events/s, kernel drops, queue
#   depths (per-CPU ring bytes pending, deferral queues, output front and
#   sink queues), alerts, reloads, the 1-minute load average.
#
#   sudo perf/soak/run.sh [--duration SECS] [--rate OPS] [--uring-rate OPS]
#                         [--interval SECS] [--burst-every SECS] [--burst-rate OPS]
#                         [--burst-secs SECS] [--hup-every SECS] [--usr1-every SECS]
#                         [--trigger-every SECS] [--out DIR]
#
# Writes perf/runs/<stamp>-soak/ (or --out): samples.csv, soak.png (gnuplot,
# installed with apt-get when missing), summary.md, env.txt, commands.log,
# the loadgen reports, the first and last metrics scrapes, logs.tar.xz.
# Uses the binaries in CARGO_TARGET_DIR (default target/). The machine is not
# required to be quiet: the load average is in every sample.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

DURATION=1800
RATE=2000
URING_RATE=300
INTERVAL=5
BURST_EVERY=60
BURST_RATE=500
BURST_SECS=5
HUP_EVERY=90
USR1_EVERY=300
TRIGGER_EVERY=300
OUT=""
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
num() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || die "$1 wants a positive whole number, got '$2'"; }
while [ $# -gt 0 ]; do
    case $1 in
    --duration) num "$1" "${2:-}"; DURATION=$2; shift 2 ;;
    --rate) num "$1" "${2:-}"; RATE=$2; shift 2 ;;
    --uring-rate) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--uring-rate wants a whole number (0: off)"; URING_RATE=$2; shift 2 ;;
    --interval) num "$1" "${2:-}"; INTERVAL=$2; shift 2 ;;
    --burst-every) num "$1" "${2:-}"; BURST_EVERY=$2; shift 2 ;;
    --burst-rate) num "$1" "${2:-}"; BURST_RATE=$2; shift 2 ;;
    --burst-secs) num "$1" "${2:-}"; BURST_SECS=$2; shift 2 ;;
    --hup-every) num "$1" "${2:-}"; HUP_EVERY=$2; shift 2 ;;
    --usr1-every) num "$1" "${2:-}"; USR1_EVERY=$2; shift 2 ;;
    --trigger-every) num "$1" "${2:-}"; TRIGGER_EVERY=$2; shift 2 ;;
    --out) [ -n "${2:-}" ] || die "--out wants a directory"; OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[ "$DURATION" -ge 60 ] || die "--duration must be at least 60 s (the load runs DURATION-20 s)"
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release --bins"
[ -x "$LOADGEN" ] || die "$LOADGEN missing: cargo build --release --bins"
if ! command -v gnuplot > /dev/null; then
    log "installing gnuplot-nox"
    apt-get install -y gnuplot-nox > /tmp/kestrel-soak-apt.log 2>&1 ||
        die "apt-get install gnuplot-nox failed (see /tmp/kestrel-soak-apt.log)"
fi

OUT=${OUT:-$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-soak}
perf_init "$OUT"
OUT=$RUN_DIR
CMDLINE="perf/soak/run.sh --duration $DURATION --rate $RATE --uring-rate $URING_RATE --interval $INTERVAL --burst-every $BURST_EVERY --burst-rate $BURST_RATE --burst-secs $BURST_SECS --hup-every $HUP_EVERY --usr1-every $USR1_EVERY --trigger-every $TRIGGER_EVERY"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(worktree_desc)"
    echo "kestrel: $KESTREL"
    env_cpu
    echo "command: $CMDLINE"
    echo "load_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "others_at_start: $(others_running)"
} > "$OUT/env.txt"

LOAD_SECS=$((DURATION - 20))
ALERTS_FILE=$PERF_TMP/alerts.json
daemon_start "$OUT" kestrel -o file_output.enabled=true -o "file_output.filename=$ALERTS_FILE" \
    -o file_output.keep_alive=true
KPID=$DAEMON_PID
TCK=$(getconf CLK_TCK)
scrape "$DAEMON_URL" "$OUT/metrics.start.prom"

# Background jobs: the reconciled loads, and the bursts / trigger passes.
LG_PIDS=()
loadgen "$OUT/loadgen-mixed.json" --scenario mixed --threads 1 --rate "$RATE" \
    --duration "$LOAD_SECS" --daemon "$DAEMON_URL" &
LG_PIDS+=($!)
if [ "$URING_RATE" -gt 0 ]; then
    loadgen "$OUT/loadgen-iouring.json" --scenario iouring --threads 1 --rate "$URING_RATE" \
        --duration "$LOAD_SECS" --daemon "$DAEMON_URL" &
    LG_PIDS+=($!)
fi
BURST_PID=""
TRIG_PID=""
BURSTS=0
TRIGGERS=0
HUPS=0
ROTATIONS=0
soak_cleanup() {
    local p
    for p in "${LG_PIDS[@]}" $BURST_PID $TRIG_PID; do
        kill -TERM "$p" 2> /dev/null || true
    done
    perf_cleanup
}
trap soak_cleanup EXIT

# /proc/PID/stat fields 14 and 15 (utime, stime) after the command name.
cpu_ticks() { sed 's/^.*) //' "/proc/$KPID/stat" | awk '{ print $12 + $13 }'; }

# One CSV row's metrics part from a scrape: totals, maxima over CPUs,
# workers and sinks.
prom_fields() { # file
    awk '
    /^#/ || NF < 2 { next }
    {
        name = $1; sub(/\{.*/, "", name)
        v = $NF + 0
        sink = ""
        if (match($1, /sink="[^"]*"/)) sink = substr($1, RSTART + 6, RLENGTH - 7)
    }
    name == "kestrel_memory_heap_bytes" { heap = v }
    name == "kestrel_worker_events_processed_total" { ev += v }
    name == "kestrel_worker_records_total" { rec += v }
    name == "kestrel_kernel_events_dropped_total" { kd += v }
    name == "kestrel_worker_deferred_dropped_total" { dov += v }
    name == "kestrel_worker_decode_errors_total" { de += v }
    name == "kestrel_ring_used_bytes" { ru += v; if (v > rumax) rumax = v }
    name == "kestrel_ring_fill_ratio" { if (v > rf) rf = v }
    name == "kestrel_worker_deferred_queue_length" { dq += v; if (v > dqmax) dqmax = v }
    name == "kestrel_output_queue_depth" && sink == "front" { fq = v }
    name == "kestrel_output_queue_depth" && sink != "front" { if (v > sq) sq = v }
    name == "kestrel_worker_alerts_total" { al += v }
    name == "kestrel_output_alerts_dropped_total" { od += v }
    name == "kestrel_reloads_total" { rl += v }
    END {
        printf "%d,%d,%d,%d,%d,%d,%d,%d,%.6f,%d,%d,%d,%d,%d,%d,%d",
            heap / 1024, ev, rec, kd, dov, de, rumax, ru, rf, dq, dqmax, fq, sq, al, od, rl
    }' "$1"
}

echo "t_s,utc,load1,rss_kib,rss_anon_kib,threads,cpu_pct,events_per_s,heap_kib,events_total,records_total,kernel_drops_total,deferred_overflow_total,decode_errors_total,ring_used_max_bytes,ring_used_sum_bytes,ring_fill_max_ratio,deferred_queue_sum,deferred_queue_max,front_queue,sink_queue_max,alerts_total,output_dropped_total,reloads_total,mark" > "$OUT/samples.csv"
START=$(date +%s.%N)
prev_t=""
prev_ticks=""
prev_ev=""
next=0
last_burst=0
last_hup=0
last_usr1=0
last_trig=$((TRIGGER_EVERY / 2 - TRIGGER_EVERY))
log "soak: $DURATION s, mixed at $RATE/s + iouring at $URING_RATE/s, sampling every $INTERVAL s into $OUT"
while :; do
    now=$(date +%s.%N)
    el=$(awk -v a="$now" -v b="$START" 'BEGIN { printf "%d", a - b }')
    [ "$el" -le "$DURATION" ] || break
    mark=""
    # The disturbances, while the load runs.
    if [ "$el" -lt "$LOAD_SECS" ]; then
        if [ $((el - last_burst)) -ge "$BURST_EVERY" ] && { [ -z "$BURST_PID" ] || ! kill -0 "$BURST_PID" 2> /dev/null; }; then
            [ -n "$BURST_PID" ] && { wait "$BURST_PID" 2> /dev/null || true; }
            BURSTS=$((BURSTS + 1))
            note_cmd "$LOADGEN run --scenario exec --threads 1 --rate $BURST_RATE --duration $BURST_SECS --quiet  # burst $BURSTS"
            "$LOADGEN" run --scenario exec --threads 1 --rate "$BURST_RATE" --duration "$BURST_SECS" --quiet \
                > /dev/null 2>> "$OUT/bursts.log" &
            BURST_PID=$!
            last_burst=$el
            mark+="burst;"
        fi
        if [ $((el - last_trig)) -ge "$TRIGGER_EVERY" ] && { [ -z "$TRIG_PID" ] || ! kill -0 "$TRIG_PID" 2> /dev/null; }; then
            [ -n "$TRIG_PID" ] && { wait "$TRIG_PID" 2> /dev/null || true; }
            TRIGGERS=$((TRIGGERS + 1))
            note_cmd "$LOADGEN run --scenario trigger --quiet  # trigger pass $TRIGGERS"
            "$LOADGEN" run --scenario trigger --quiet > /dev/null 2>> "$OUT/triggers.log" &
            TRIG_PID=$!
            last_trig=$el
            mark+="trigger;"
        fi
        if [ $((el - last_hup)) -ge "$HUP_EVERY" ] && [ "$el" -gt 0 ]; then
            kill -HUP "$KPID"
            HUPS=$((HUPS + 1))
            last_hup=$el
            mark+="hup;"
        fi
        if [ $((el - last_usr1)) -ge "$USR1_EVERY" ] && [ "$el" -gt 0 ]; then
            ROTATIONS=$((ROTATIONS + 1))
            mv "$ALERTS_FILE" "$ALERTS_FILE.$ROTATIONS" 2> /dev/null || true
            kill -USR1 "$KPID"
            last_usr1=$el
            mark+="usr1;"
        fi
    fi
    kill -0 "$KPID" 2> /dev/null || die "kestrel died during the soak (see $OUT/kestrel.daemon.log)"
    curl -sf -m 4 "$DAEMON_URL/metrics" > "$PERF_TMP/m.prom" || { log "warning: scrape failed at $el s"; : > "$PERF_TMP/m.prom"; }
    t=$(date +%s.%N)
    ticks=$(cpu_ticks)
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$KPID/status")
    anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$KPID/status")
    thr=$(awk '/^Threads:/ { print $2 }' "/proc/$KPID/status")
    pf=$(prom_fields "$PERF_TMP/m.prom")
    ev=${pf#*,}
    ev=${ev%%,*}
    if [ -n "$prev_t" ]; then
        cpu=$(awk -v a="$ticks" -v b="$prev_ticks" -v t="$t" -v u="$prev_t" -v k="$TCK" 'BEGIN { printf "%.1f", (a - b) / k / (t - u) * 100 }')
        eps=$(awk -v a="$ev" -v b="$prev_ev" -v t="$t" -v u="$prev_t" 'BEGIN { printf "%.0f", (a - b) / (t - u) }')
    else
        cpu=""
        eps=""
    fi
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' \
        "$(awk -v a="$t" -v b="$START" 'BEGIN { printf "%.1f", a - b }')" "$(date -u +%H:%M:%S)" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$rss" "$anon" "$thr" "$cpu" "$eps" "$pf" "${mark%;}" >> "$OUT/samples.csv"
    prev_t=$t
    prev_ticks=$ticks
    prev_ev=$ev
    next=$((next + INTERVAL))
    sleep "$(awk -v n="$next" -v s="$START" -v now="$(date +%s.%N)" 'BEGIN { d = s + n - now; if (d < 0) d = 0; printf "%.3f", d }')"
done

log "soak done; waiting for the load generators' reconciliation"
LG_FAIL=0
for p in "${LG_PIDS[@]}"; do
    wait "$p" || LG_FAIL=1
done
LG_PIDS=()
for p in $BURST_PID $TRIG_PID; do wait "$p" 2> /dev/null || true; done
BURST_PID=""
TRIG_PID=""
scrape "$DAEMON_URL" "$OUT/metrics.end.prom"
echo "load_at_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"
echo "disturbances: bursts=$BURSTS triggers=$TRIGGERS hups=$HUPS rotations=$ROTATIONS" >> "$OUT/env.txt"
RSS_END_STATUS=$(grep -E '^(VmRSS|VmHWM|RssAnon|Threads)' "/proc/$KPID/status" | tr -s ' \t' ' ' | paste -sd ';')
echo "status_at_end: $RSS_END_STATUS" >> "$OUT/env.txt"
daemon_stop
# Alerts in the file output, all rotations together.
FILE_LINES=$(cat "$ALERTS_FILE"* 2> /dev/null | wc -l)
echo "file_output_lines: $FILE_LINES" >> "$OUT/env.txt"
echo "loadgen_exit_nonzero: $LG_FAIL" >> "$OUT/env.txt"

gnuplot -e "csv='$OUT/samples.csv'; png='$OUT/soak.png'; cpu='$(cpu_model) ($(nproc) CPUs, shared)'" \
    "$PERF_DIR/soak/plot.gp" || log "warning: gnuplot failed"
python3 "$PERF_DIR/soak/summarize.py" "$OUT" > "$OUT/summary.md"
gzip -9f "$OUT/metrics.start.prom" "$OUT/metrics.end.prom"
archive_logs "$OUT"
cat "$OUT/summary.md"
