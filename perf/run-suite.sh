#!/usr/bin/env bash
# kestrel's standard system benchmark suite. Builds release binaries, waits
# for a quiet machine, runs every scenario with its conditions alternated
# over several rounds, and writes raw results (every loadgen --json report,
# metrics scrape, daemon log, tool output) plus summary.md to
# perf/runs/<UTC timestamp>/.
#
#   sudo perf/run-suite.sh [options]
#
#   --rounds N          rounds of the ratio section (default 5)
#   --duration S        seconds per ratio sample (default 5)
#   --zd-duration S     seconds of a zero-drop run (default 60)
#   --zd-search S       seconds of a zero-drop search step after a drop (default 15)
#   --zd-attempts N     most zero-drop runs per configuration (default 6)
#   --only LIST         sections, comma-separated: probe-overhead, ratio,
#                       zero-drop, criterion (default: all)
#   --scenarios LIST    ratio workloads (default: open,exec,connect,getppid,
#                       mixed,getppid-loop,openclose-loop)
#   --zd-configs LIST   zero-drop configurations (default: bare-1t,default-1t,
#                       stable-1t,bare-2t,default-2t,stable-2t)
#   --no-build          use the binaries already built (target/suite for a
#                       clean export, with the export in target/suite/src-HEAD;
#                       $CARGO_TARGET_DIR with --worktree)
#   --worktree          build the working tree as it is instead of a clean
#                       export of HEAD
#   --wait-quiet MIN    wait up to MIN minutes for a quiet machine (default 90)
#   --allow-noisy       measure even if the machine never got quiet
#   --out DIR           run folder (default perf/runs/<timestamp>)
#
# The conditions, workloads and what each number means are described in the
# README of each folder under perf/; the method is in BENCHMARKS.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

ROUNDS=5
DURATION=5
ZD_DURATION=60
ZD_SEARCH=15
ZD_ATTEMPTS=6
SECTIONS=probe-overhead,ratio,zero-drop,criterion
SCENARIOS=open,exec,connect,getppid,mixed,getppid-loop,openclose-loop
ZD_CONFIGS=bare-1t,default-1t,stable-1t,bare-2t,default-2t,stable-2t
BUILD=1
WORKTREE=0
WAIT_QUIET=90
ALLOW_NOISY=0
OUT=""
# Iterations of the tight loops (perf/probe-overhead/loop.c): 1-2 s each bare
# on the development VM.
LOOP_GETPPID=${LOOP_GETPPID:-10000000}
LOOP_OPEN=${LOOP_OPEN:-500000}
# The CPU the single-threaded workloads run on (loadgen --pin puts thread 0
# on CPU 0; the loops follow it).
WORK_CPU=0
ALERT_RATE=${ALERT_RATE:-100}

while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --zd-duration) ZD_DURATION=$2; shift ;;
    --zd-search) ZD_SEARCH=$2; shift ;;
    --zd-attempts) ZD_ATTEMPTS=$2; shift ;;
    --only) SECTIONS=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --zd-configs) ZD_CONFIGS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --worktree) WORKTREE=1 ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    --allow-noisy) ALLOW_NOISY=1 ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || die "run as root (the probe, bpftrace and auditd need it)"
has() { [[ ",$SECTIONS," == *",$1,"* ]]; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$PERF_DIR/runs/$STAMP}
perf_init "$OUT"
log "run folder: $OUT"

# ------------------------------------------------------------------ build
# By default the code measured is HEAD exactly: a `git archive` export, so
# that uncommitted work of others in the checkout is not measured. The
# export sits next to the checkout's sibling `shared/` through a symlink so
# that paths like ../shared/reference resolve as in the checkout.
if [ "$WORKTREE" = 1 ]; then
    SRC_DIR=$REPO_DIR
    COMMIT=$(worktree_desc)
else
    # The export builds into a target directory of its own: cargo gives a
    # workspace's artefacts the same names wherever its source lies, so
    # sharing the checkout's target would leave its fingerprints pointing
    # at the export, and later builds in the checkout would miss edits.
    export CARGO_TARGET_DIR=$REPO_DIR/target/suite
    KESTREL=$CARGO_TARGET_DIR/release/kestrel
    LOADGEN=$CARGO_TARGET_DIR/release/kestrel-loadgen
    HOLD=$CARGO_TARGET_DIR/release/examples/overhead_hold
    SRC_DIR=$CARGO_TARGET_DIR/src-HEAD/kestrel
    if [ "$BUILD" = 1 ]; then
        rm -rf "$CARGO_TARGET_DIR/src-HEAD"
        mkdir -p "$SRC_DIR"
        git archive HEAD | tar -x -C "$SRC_DIR"
        git rev-parse HEAD > "$SRC_DIR/.commit"
        ln -s "$REPO_DIR/../shared" "$CARGO_TARGET_DIR/src-HEAD/shared"
    fi
    [ -f "$SRC_DIR/.commit" ] || die "no source export in $SRC_DIR (drop --no-build)"
    COMMIT="$(cat "$SRC_DIR/.commit") (clean export of HEAD)"
fi
if [ "$BUILD" = 1 ]; then
    log "building release binaries from $SRC_DIR into $CARGO_TARGET_DIR"
    (
        cd "$SRC_DIR"
        cargo build -q --release -p kestrel -p kestrel-loadgen
        cargo build -q --release -p kestrel-probe --example overhead_hold
        if has criterion; then
            cargo bench -q -p kestrel --bench engine_match --bench engine_compile --no-run 2> /dev/null
        fi
    )
fi
for b in "$KESTREL" "$LOADGEN" "$HOLD"; do
    [ -x "$b" ] || die "$b is missing (build it or drop --no-build)"
done
cc -O2 -o "$PERF_TMP/loop" "$SRC_DIR/perf/probe-overhead/loop.c"
cc -O2 -o "$PERF_TMP/alert_load" "$PERF_DIR/zero-drop/alert_load.c"
ensure_tools bpftrace auditd

# ------------------------------------------------------------------ quiet
waited=0
noisy=0
while reason=$(machine_busy); do
    if [ "$waited" -ge "$WAIT_QUIET" ]; then
        if [ "$ALLOW_NOISY" = 1 ]; then
            log "machine still busy after $waited min ($reason): measuring anyway, marked noisy"
            noisy=1
            break
        fi
        die "machine still busy after $waited min ($reason); rerun later or pass --allow-noisy"
    fi
    log "machine busy ($reason); waiting"
    sleep 60
    waited=$((waited + 1))
done

{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $COMMIT"
    echo "noisy: $noisy"
    echo "waited_for_quiet_min: $waited"
    echo "settings: rounds=$ROUNDS duration=$DURATION zd_duration=$ZD_DURATION zd_search=$ZD_SEARCH zd_attempts=$ZD_ATTEMPTS sections=$SECTIONS scenarios=$SCENARIOS zd_configs=$ZD_CONFIGS loop_getppid=$LOOP_GETPPID loop_open=$LOOP_OPEN work_cpu=$WORK_CPU alert_rate=$ALERT_RATE"
    echo "kernel: $(uname -a)"
    echo "rustc: $(rustc --version)"
    echo "bpftrace: $(bpftrace --version 2>&1 | head -1)"
    echo "auditd: $(dpkg-query -W -f '${Version}' auditd 2>/dev/null || echo unknown)"
    echo "loadavg at start: $(cat /proc/loadavg)"
    echo "--- lscpu"
    lscpu
    echo "--- free -m"
    free -m
    echo "--- cpufreq / idle"
    cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo "no cpufreq (VM)"
} > "$OUT/env.txt"

# One line per measurement with the load average when it started, so that a
# noisy sample can be told apart afterwards.
# The load average during the suite is mostly its own; "others" lists other
# people's compilers and daemons running when the sample started.
printf 'section\tkey\tloadavg1\tothers\n' > "$OUT/samples.tsv"
sample_note() { # section key
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(cut -d' ' -f1 /proc/loadavg)" \
        "$(others_running | tr '\t' ' ')" >> "$OUT/samples.tsv"
}
# Every 5 s: load average and others' compilers (the criterion section's own
# cargo shows up there at the end).
printf 'time\tloadavg1\tothers\n' > "$OUT/monitor.tsv"
monitor_start "$OUT/monitor.tsv"

# ------------------------------------------------------------------ probe overhead
if has probe-overhead; then
    log "section probe-overhead (perf/probe-overhead/run.sh)"
    d="$OUT/probe-overhead"
    mkdir -p "$d"
    # The script is the probe engineer's; a failed attempt is kept (its
    # partial raw.csv) and retried once.
    po="$SRC_DIR/perf/probe-overhead"
    for attempt in 1 2; do
        before=$(ls "$po/results" 2> /dev/null || true)
        sample_note probe-overhead "attempt$attempt"
        note_cmd "perf/probe-overhead/run.sh 7  # (in $SRC_DIR) $d/attempt$attempt"
        rc=0
        mkdir -p "$d/attempt$attempt"
        "$po/run.sh" 7 > "$d/attempt$attempt/output.txt" 2>&1 || rc=$?
        # Copy what the script wrote (its own results folder) into this run.
        for r in $(ls "$po/results" 2> /dev/null); do
            if ! grep -qx "$r" <<< "$before"; then
                cp -r "$po/results/$r/." "$d/attempt$attempt/"
                if [ "$WORKTREE" = 1 ]; then rm -rf "$po/results/$r"; fi
            fi
        done
        [ "$rc" = 0 ] && break
        log "warning: perf/probe-overhead/run.sh exited $rc (attempt $attempt)"
    done
fi

# ------------------------------------------------------------------ ratios
conditions_for() { # workload
    case $1 in
    # The loops run a fixed number of iterations: under audit-opens an
    # openat+close loop runs at auditd's pace (a few thousand per second),
    # so the loops leave that condition to the time-bounded loadgen runs.
    getppid-loop | openclose-loop)
        echo bare kestrel kestrel-probe empty-hook bpftrace audit-rules ;;
    open | getppid)
        echo bare kestrel empty-hook bpftrace audit-rules audit-opens ;;
    *) echo bare kestrel ;;
    esac
}

# One sample: the workload under one condition.
ratio_sample() { # workload condition round
    local w=$1 c=$2 r=$3 dir="$OUT/ratio/$1" tag="r$3-$2"
    sample_note ratio "$w/$tag"
    cond_start "$c" "$dir" "$tag"
    local url=$DAEMON_URL
    case $w in
    getppid-loop | openclose-loop)
        local kind=${w%-loop} n=$LOOP_GETPPID target=""
        if [ "$kind" = openclose ]; then
            n=$LOOP_OPEN
            target="$PERF_TMP/openclose.target"
            echo kestrel > "$target"
        fi
        note_cmd "loop $kind $n $WORK_CPU $target  # $dir/$tag.txt"
        "$PERF_TMP/loop" "$kind" "$n" "$WORK_CPU" $target > "$dir/$tag.txt" 2>&1 ||
            log "warning: loop $kind failed ($dir/$tag.txt)"
        ;;
    *)
        local args=(--scenario "$w" --threads 1 --pin --rate max --duration "$DURATION")
        [ -n "$url" ] && args+=(--daemon "$url")
        loadgen "$dir/$tag.json" "${args[@]}" || true
        ;;
    esac
    if [ -n "$url" ]; then
        scrape "$url" "$dir/$tag.metrics.prom"
        gzip -9f "$dir/$tag.metrics.prom"
    fi
    cond_stop "$dir" "$tag"
}

if has ratio; then
    log "section ratio: $SCENARIOS, $ROUNDS rounds of $DURATION s"
    IFS=, read -r -a workloads <<< "$SCENARIOS"
    for r in $(seq 1 "$ROUNDS"); do
        for w in "${workloads[@]}"; do
            read -r -a conds <<< "$(conditions_for "$w")"
            # Rotate the order every round so that no condition always runs
            # first (after a build, when caches are cold) or last.
            n=${#conds[@]}
            for i in $(seq 0 $((n - 1))); do
                c=${conds[$(((i + r - 1) % n))]}
                log "ratio round $r/$ROUNDS $w $c"
                ratio_sample "$w" "$c" "$r"
            done
        done
    done
fi

# ------------------------------------------------------------------ audit residue
# Once auditing has been enabled, new processes are armed for syscall
# auditing even with auditing off and no rules; lib.sh's clean-up leaves a
# `never,task` rule to prevent it. This measures what that rule saves, so
# the choice is backed by a number (perf/baselines/README.md).
if has ratio && [ "$AUDIT_TOUCHED" = 1 ]; then
    log "audit residue: getppid loop with syscall auditing armed vs not"
    f="$OUT/audit-residue.txt"
    echo "# round armed_ns_per_getppid clean_ns_per_getppid (loop on CPU $WORK_CPU, $LOOP_GETPPID iterations)" > "$f"
    note_cmd "auditctl -D; loop getppid $LOOP_GETPPID $WORK_CPU; auditctl -a never,task; loop getppid ...  # $f"
    for r in $(seq 1 "$ROUNDS"); do
        sample_note audit-residue "r$r"
        auditctl -D > /dev/null
        armed=$("$PERF_TMP/loop" getppid "$LOOP_GETPPID" "$WORK_CPU")
        auditctl -a never,task
        clean=$("$PERF_TMP/loop" getppid "$LOOP_GETPPID" "$WORK_CPU")
        echo "$r $armed $clean" >> "$f"
    done
fi

# ------------------------------------------------------------------ zero drop
# Runs `open` for ZD_DURATION seconds at the given rate with the alert side
# load; writes "pass|fail <achieved rate>" to $PERF_TMP/verdict.
zd_attempt() { # config cond threads rate secs attempt
    local cfg=$1 cond=$2 threads=$3 rate=$4 secs=$5 n=$6
    local dir="$OUT/zero-drop/$cfg" tag
    tag=$(printf 'a%d-%s-%ss' "$n" "$rate" "$secs")
    sample_note zero-drop "$cfg/$tag"
    cond_start "$cond" "$dir" "$tag"
    local url=$DAEMON_URL
    scrape "$url" "$dir/$tag.metrics.before.prom"
    # The side load runs a little longer than the workload's window so that
    # the whole window has alerts; its own start-up is negligible.
    note_cmd "alert_load $ALERT_RATE $((secs + 3))  # $dir/$tag.alert_load.txt"
    "$PERF_TMP/alert_load" "$ALERT_RATE" "$((secs + 3))" > "$dir/$tag.alert_load.txt" 2>&1 &
    local apid=$!
    loadgen "$dir/$tag.json" --scenario open --threads "$threads" --pin --rate "$rate" \
        --duration "$secs" --daemon "$url" --settle-timeout 10 || true
    wait "$apid" || log "warning: alert_load exited $?"
    scrape "$url" "$dir/$tag.metrics.prom"
    gzip -9f "$dir/$tag.metrics.before.prom" "$dir/$tag.metrics.prom"
    cond_stop "$dir" "$tag"
    python3 - "$dir/$tag.json" > "$PERF_TMP/verdict" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("fail 0")
    sys.exit()
ok = d.get("dropped") == 0 and d.get("lost") == 0 and d.get("passed") is True
print(("pass" if ok else "fail"), int(d.get("rate_per_s") or 0))
PY
}

if has zero-drop; then
    log "section zero-drop: $ZD_CONFIGS, ${ZD_DURATION} s runs"
    IFS=, read -r -a cfgs <<< "$ZD_CONFIGS"
    for cfg in "${cfgs[@]}"; do
        case $cfg in
        bare-1t | bare-2t)
            # The same load without kestrel: what the cores issue alone.
            threads=${cfg#bare-}
            threads=${threads%t}
            d="$OUT/zero-drop/$cfg"
            mkdir -p "$d"
            sample_note zero-drop "$cfg"
            log "zero-drop reference $cfg: bare, $ZD_DURATION s"
            loadgen "$d/bare-max-${ZD_DURATION}s.json" --scenario open --threads "$threads" --pin \
                --rate max --duration "$ZD_DURATION" || true
            continue
            ;;
        default-1t) cond=kestrel threads=1 ;;
        default-2t) cond=kestrel threads=2 ;;
        stable-1t) cond=kestrel-stable threads=1 ;;
        stable-2t) cond=kestrel-stable threads=2 ;;
        *) die "unknown zero-drop configuration $cfg" ;;
        esac
        mkdir -p "$OUT/zero-drop/$cfg"
        res="$OUT/zero-drop/$cfg/attempts.tsv"
        printf 'attempt\ttarget\tseconds\tverdict\tachieved_per_s\n' > "$res"
        # Flat out first; after a drop, step down from the achieved rate
        # with short search runs, and confirm a passing rate with a full
        # run (stepping down again if the confirmation drops).
        target=max secs=$ZD_DURATION
        for n in $(seq 1 "$ZD_ATTEMPTS"); do
            log "zero-drop $cfg attempt $n: rate $target for $secs s"
            zd_attempt "$cfg" "$cond" "$threads" "$target" "$secs" "$n"
            read -r verdict achieved < "$PERF_TMP/verdict"
            printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$target" "$secs" "$verdict" "$achieved" >> "$res"
            log "  $verdict at $achieved/s"
            if [ "$verdict" = pass ] && [ "$secs" = "$ZD_DURATION" ]; then
                break
            fi
            base=$achieved
            if [ "$target" != max ] && [ "$target" -lt "$base" ]; then
                base=$target
            fi
            if [ "$verdict" = pass ]; then
                secs=$ZD_DURATION # confirm the rate that passed a search run
            else
                target=$(((base * 85 / 100) / 1000 * 1000))
                secs=$ZD_SEARCH
            fi
        done
    done
fi

# ------------------------------------------------------------------ criterion
if has criterion; then
    log "section criterion: engine_match, engine_compile"
    sample_note criterion run
    note_cmd "cargo bench -p kestrel --bench engine_match --bench engine_compile  # $OUT/criterion.txt"
    (cd "$SRC_DIR" && cargo bench -p kestrel --bench engine_match --bench engine_compile) \
        > "$OUT/criterion.txt" 2> "$OUT/criterion.stderr" || log "warning: cargo bench exited $?"
    grep -v '^\s*Compiling\|^\s*Finished\|^\s*Running\|^Benchmarking' "$OUT/criterion.stderr" > "$OUT/criterion.stderr.tmp" || true
    mv "$OUT/criterion.stderr.tmp" "$OUT/criterion.stderr"
    [ -s "$OUT/criterion.stderr" ] || rm -f "$OUT/criterion.stderr"
fi

monitor_stop
echo "loadavg at end: $(cat /proc/loadavg)" >> "$OUT/env.txt"
python3 "$PERF_DIR/summarize.py" "$OUT" > "$OUT/summary.md"
log "summary: $OUT/summary.md"
cat "$OUT/summary.md"
