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
#   --zd-ref-runs N     runs of each zero-drop reference (bare-1t, bare-2t,
#                       probe-1t), spread among the configurations (default 3)
#   --kf-duration S     seconds per kfilter sample (default 5)
#   --kf-scenarios LIST kfilter workloads (default: open,exec,connect,getppid,
#                       mixed)
#   --only LIST         sections, comma-separated: probe-overhead, ratio,
#                       kfilter, zero-drop, criterion, soak, memory-churn
#                       (default: all but soak and memory-churn)
#   --soak              add the soak section (perf/soak/run.sh: the daemon
#                       under a steady reconciled load with bursts, SIGHUP
#                       and SIGUSR1, plotted to soak/soak.png) to the sections
#   --soak-duration S   seconds of the soak (default 1800)
#   --mc-divisor N      memory-churn sizes divided by N (default 10: 100k
#                       processes, 10k files, 1k sockets; 1 = the full
#                       1 M / 100 k / 10 k of perf/memory-churn/run.sh);
#                       memory-churn runs only when named in --only
#   --scenarios LIST    ratio workloads (default: open,exec,connect,getppid,
#                       mixed,getppid-loop,openclose-loop)
#   --zd-configs LIST   zero-drop configurations: references bare-1t, bare-2t,
#                       probe-1t; <rules>-<load> with rules default, stable
#                       (Falco's stable file), adv (default rules plus
#                       perf/zero-drop/adversarial_rules.yaml) and load 1t,
#                       2t, 2t-hup (SIGHUP every 0.5 s), 1t-uring, 2t-uring
#                       (the iouring scenario: opens, closes and connects
#                       through io_uring). Default: the 12 open loads and
#                       default-2t-uring
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
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

ROUNDS=5
DURATION=5
ZD_DURATION=60
ZD_SEARCH=15
ZD_ATTEMPTS=6
ZD_REF_RUNS=3
KF_DURATION=5
SOAK_DURATION=1800
ADD_SOAK=0
KF_SCENARIOS=open,exec,connect,getppid,mixed
MC_DIVISOR=10
SECTIONS=probe-overhead,ratio,kfilter,zero-drop,criterion
SCENARIOS=open,exec,connect,getppid,mixed,getppid-loop,openclose-loop
ZD_CONFIGS=bare-1t,probe-1t,bare-2t,default-1t,stable-1t,adv-1t,default-2t,stable-2t,adv-2t,default-2t-hup,stable-2t-hup,adv-2t-hup,default-2t-uring
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
    --zd-ref-runs) ZD_REF_RUNS=$2; shift ;;
    --kf-duration) KF_DURATION=$2; shift ;;
    --kf-scenarios) KF_SCENARIOS=$2; shift ;;
    --mc-divisor) MC_DIVISOR=$2; shift ;;
    --only) SECTIONS=$2; shift ;;
    --soak) ADD_SOAK=1 ;;
    --soak-duration) SOAK_DURATION=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --zd-configs) ZD_CONFIGS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --worktree) WORKTREE=1 ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    --allow-noisy) ALLOW_NOISY=1 ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,51p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

if [ "$ADD_SOAK" = 1 ]; then SECTIONS=$SECTIONS,soak; fi
[[ $SOAK_DURATION =~ ^[0-9]+$ ]] && [ "$SOAK_DURATION" -ge 60 ] || die "--soak-duration wants whole seconds, at least 60"
[ "$(id -u)" -eq 0 ] || die "run as root (the probe, bpftrace and auditd need it)"
has() { [[ ",$SECTIONS," == *",$1,"* ]]; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$PERF_DIR/runs/$STAMP}
perf_init "$OUT"
OUT=$(cd "$OUT" && pwd) # absolute: some sections run from other directories
log "run folder: $OUT"

# ------------------------------------------------------------------ build
# By default the code measured is HEAD exactly: a `git archive` export
# (export_tree in lib.sh), so that uncommitted work of others in the
# checkout is not measured, built into target/suite (build_release). The
# measuring tools (perf/: these scripts, the C loops, the side load, the
# extra rules file) are the checkout's.
if [ "$WORKTREE" = 1 ]; then
    SRC_DIR=$REPO_DIR
    COMMIT=$(worktree_desc)
else
    export CARGO_TARGET_DIR=$REPO_DIR/target/suite
    KESTREL=$CARGO_TARGET_DIR/release/kestrel
    LOADGEN=$CARGO_TARGET_DIR/release/kestrel-loadgen
    HOLD=$CARGO_TARGET_DIR/release/examples/overhead_hold
    SRC_DIR=$CARGO_TARGET_DIR/src-HEAD/kestrel
    if [ "$BUILD" = 1 ]; then
        export_tree HEAD "$CARGO_TARGET_DIR/src-HEAD"
    fi
    [ -f "$SRC_DIR/.commit" ] || die "no source export in $SRC_DIR (drop --no-build)"
    COMMIT="$(cat "$SRC_DIR/.commit") (clean export of HEAD)"
fi
# The default rules as a file, from the source measured (the binary embeds
# the same file).
DEFAULT_RULES=$SRC_DIR/rules/kestrel_rules.yaml
if [ "$BUILD" = 1 ]; then
    log "building release binaries from $SRC_DIR into $CARGO_TARGET_DIR"
    build_release "$SRC_DIR"
    if has criterion; then
        (cd "$SRC_DIR" && cargo bench -q -p kestrel --bench engine_match --bench engine_compile --no-run 2> /dev/null)
    fi
fi
NEEDED=("$KESTREL")
# memory-churn alone needs only the daemon.
if [ "$SECTIONS" != memory-churn ]; then NEEDED+=("$LOADGEN" "$HOLD"); fi
for b in "${NEEDED[@]}"; do
    [ -x "$b" ] || die "$b is missing (build it or drop --no-build)"
done
cc -O2 -o "$PERF_TMP/loop" "$PERF_DIR/probe-overhead/loop.c"
cc -O2 -o "$PERF_TMP/alert_load" "$PERF_DIR/zero-drop/alert_load.c"
if has ratio; then ensure_tools bpftrace auditd; fi
if has zero-drop; then
    for f in "$DEFAULT_RULES" "$STABLE_RULES" "$ADV_RULES"; do
        [ -f "$f" ] || die "rules file $f is missing (zero-drop needs it)"
    done
fi
if has kfilter; then
    [ -f "$STABLE_RULES" ] || die "rules file $STABLE_RULES is missing (kfilter needs it)"
fi

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
    echo "perf scripts: $PERF_DIR ($(git -C "$REPO_DIR" rev-parse --short HEAD)$(git -C "$REPO_DIR" diff --quiet HEAD -- perf || echo ', with uncommitted changes under perf/'))"
    echo "noisy: $noisy"
    echo "waited_for_quiet_min: $waited"
    echo "settings: rounds=$ROUNDS duration=$DURATION zd_duration=$ZD_DURATION zd_search=$ZD_SEARCH zd_attempts=$ZD_ATTEMPTS zd_ref_runs=$ZD_REF_RUNS kf_duration=$KF_DURATION kf_scenarios=$KF_SCENARIOS sections=$SECTIONS soak_duration=$SOAK_DURATION scenarios=$SCENARIOS zd_configs=$ZD_CONFIGS loop_getppid=$LOOP_GETPPID loop_open=$LOOP_OPEN work_cpu=$WORK_CPU alert_rate=$ALERT_RATE"
    env_cpu
    echo "uname: $(uname -a)"
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
    # The script is the probe engineer's, run as is on the measured source
    # (KESTREL_SRC), writing into this run (OUT_DIR); a failed attempt is
    # kept (its partial raw.csv) and retried once.
    for attempt in 1 2; do
        sample_note probe-overhead "attempt$attempt"
        note_cmd "KESTREL_SRC=$SRC_DIR OUT_DIR=$d/attempt$attempt perf/probe-overhead/run.sh 7  # $d/attempt$attempt"
        rc=0
        mkdir -p "$d/attempt$attempt"
        KESTREL_SRC=$SRC_DIR OUT_DIR=$d/attempt$attempt "$PERF_DIR/probe-overhead/run.sh" 7 \
            > "$d/attempt$attempt/output.txt" 2>&1 || rc=$?
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
        # shellcheck disable=SC2086 # no target file for getppid
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
            # first (after a build, when caches are cold) or last, and
            # reverse it every other round so that no condition always
            # follows the same one (round_order in lib.sh).
            mapfile -t order < <(round_order "$r" "${conds[@]}")
            for c in "${order[@]}"; do
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

# ------------------------------------------------------------------ kernel filter
# What the rule-derived kernel interest filter keeps out of the rings: each
# loadgen scenario flat out on one pinned thread for KF_DURATION seconds
# under a fresh daemon, once with the default rules and once with Falco's
# stable file. The daemon's kernel counters are scraped after start-up and
# after the load (seen, sent, dropped per CPU; filtered per event type), and
# loadgen reconciles its own syscalls (each one counted as processed or as
# filtered in the kernel).
kf_cond() { # rules -> condition
    case $1 in
    default) echo kestrel ;;
    stable) echo kestrel-stable ;;
    *) die "unknown kfilter rules $1 (default, stable)" ;;
    esac
}

kf_sample() { # rules scenario
    local rules=$1 w=$2 cond dir tag
    cond=$(kf_cond "$rules")
    dir="$OUT/kfilter/$rules/$w"
    tag="max-${KF_DURATION}s"
    sample_note kfilter "$rules/$w/$tag"
    cond_start "$cond" "$dir" "$tag"
    local url=$DAEMON_URL
    scrape "$url" "$dir/$tag.metrics.before.prom"
    loadgen "$dir/$tag.json" --scenario "$w" --threads 1 --pin --rate max \
        --duration "$KF_DURATION" --daemon "$url" --settle-timeout 10 || true
    scrape "$url" "$dir/$tag.metrics.prom"
    gzip -9f "$dir/$tag.metrics.before.prom" "$dir/$tag.metrics.prom"
    cond_stop "$dir" "$tag"
}

if has kfilter; then
    log "section kfilter: $KF_SCENARIOS, default and stable rules, $KF_DURATION s each"
    IFS=, read -r -a kf_workloads <<< "$KF_SCENARIOS"
    for rules in default stable; do
        for w in "${kf_workloads[@]}"; do
            log "kfilter $rules $w"
            kf_sample "$rules" "$w"
        done
    done
fi

# ------------------------------------------------------------------ zero drop
# Configurations: <rules>-<load>. Rules: default (no -r), stable (-r Falco's
# stable file), adv (-r the default rules file -r
# perf/zero-drop/adversarial_rules.yaml: a rule that needs every open and
# close in userspace and reads proc.aname[3]). Load: 1t (`open`, one pinned
# thread: its ring's worker on the idle CPU), 2t (two pinned threads: both
# CPUs saturated), 2t-hup (two threads, SIGHUP to the daemon every 0.5 s).
# References, the same load without the daemon, each run ZD_REF_RUNS times:
# bare-1t, bare-2t (nothing attached), probe-1t (kestrel's probe alone with
# a bare drain thread on CPU 1: overhead_hold, as perf/probe-overhead uses
# it).
zd_parse() { # config -> "cond threads hup scenario" (empty cond: a reference)
    local cfg=$1 rules load cond threads hup=0 scenario=open
    case $cfg in
    bare-1t) echo "bare 1 0 open"; return ;;
    bare-2t) echo "bare 2 0 open"; return ;;
    probe-1t) echo "kestrel-probe 1 0 open"; return ;;
    esac
    rules=${cfg%%-*}
    load=${cfg#*-}
    case $rules in
    default) cond=kestrel ;;
    stable) cond=kestrel-stable ;;
    adv) cond=kestrel-adv ;;
    *) die "unknown zero-drop configuration $cfg (rules: default, stable, adv)" ;;
    esac
    case $load in
    1t) threads=1 ;;
    2t) threads=2 ;;
    2t-hup) threads=2 hup=1 ;;
    1t-uring) threads=1 scenario=iouring ;;
    2t-uring) threads=2 scenario=iouring ;;
    *) die "unknown zero-drop configuration $cfg (load: 1t, 2t, 2t-hup, 1t-uring, 2t-uring)" ;;
    esac
    echo "$cond $threads $hup $scenario"
}

# One run of a reference: the load flat out for ZD_DURATION seconds with
# nothing (bare) or the probe alone attached.
zd_reference() { # config run
    local cfg=$1 k=$2 cond threads _hup _scenario dir tag
    read -r cond threads _hup _scenario <<< "$(zd_parse "$cfg")"
    dir="$OUT/zero-drop/$cfg"
    tag="rep$k-max-${ZD_DURATION}s"
    mkdir -p "$dir"
    sample_note zero-drop "$cfg/$tag"
    log "zero-drop reference $cfg run $k/$ZD_REF_RUNS: $cond, $ZD_DURATION s"
    cond_start "$cond" "$dir" "$tag"
    loadgen "$dir/$tag.json" --scenario open --threads "$threads" --pin \
        --rate max --duration "$ZD_DURATION" || true
    cond_stop "$dir" "$tag"
    if [ "$cond" = kestrel-probe ]; then
        log "  probe alone: $(grep -o 'seen=.*' "$dir/$tag.hold.log" || echo 'no counters')"
    fi
}

# Runs `open` for <secs> seconds at the given rate with the alert side load
# (and SIGHUPs for -hup loads); writes "pass|fail <achieved rate>" to
# $PERF_TMP/verdict.
zd_attempt() { # config rate secs attempt
    local cfg=$1 rate=$2 secs=$3 n=$4 cond threads hup scenario
    read -r cond threads hup scenario <<< "$(zd_parse "$cfg")"
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
    if [ "$hup" = 1 ]; then
        note_cmd "while kill -HUP $DAEMON_PID; do sleep 0.5; done  # during the load; $dir/$tag.hups.tsv"
        : > "$dir/$tag.hups.tsv"
        hup_start "$DAEMON_PID" "$dir/$tag.hups.tsv"
    fi
    loadgen "$dir/$tag.json" --scenario "$scenario" --threads "$threads" --pin --rate "$rate" \
        --duration "$secs" --daemon "$url" --settle-timeout 10 || true
    hup_stop
    wait "$apid" || log "warning: alert_load exited $?"
    # The final scrape: after the load and the side load ended. Latency
    # quantiles, alerts and RSS are quoted from it.
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

# A kestrel configuration: flat out first; after a drop, step down from the
# achieved rate with short search runs, and confirm a passing rate with a
# full run (stepping down again if the confirmation drops).
zd_config() { # config
    local cfg=$1 target=max secs=$ZD_DURATION n verdict achieved base
    mkdir -p "$OUT/zero-drop/$cfg"
    local res="$OUT/zero-drop/$cfg/attempts.tsv"
    printf 'attempt\ttarget\tseconds\tverdict\tachieved_per_s\n' > "$res"
    for n in $(seq 1 "$ZD_ATTEMPTS"); do
        log "zero-drop $cfg attempt $n: rate $target for $secs s"
        zd_attempt "$cfg" "$target" "$secs" "$n"
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
}

if has zero-drop; then
    log "section zero-drop: $ZD_CONFIGS, ${ZD_DURATION} s runs, references $ZD_REF_RUNS times"
    mkdir -p "$OUT/zero-drop"
    cp "$ADV_RULES" "$OUT/zero-drop/adversarial_rules.yaml"
    IFS=, read -r -a cfgs <<< "$ZD_CONFIGS"
    refs=() kcfgs=()
    for cfg in "${cfgs[@]}"; do
        zd_parse "$cfg" > /dev/null # validates the name
        case $cfg in
        bare-* | probe-*) refs+=("$cfg") ;;
        *) kcfgs+=("$cfg") ;;
        esac
    done
    # The reference runs (run k of every reference, then run k+1, ...) are
    # spread over the gaps before, between and after the configurations, so
    # that a drift of the machine's speed over the section touches the
    # references as it touches the configurations.
    ref_runs=()
    for k in $(seq 1 "$ZD_REF_RUNS"); do
        for cfg in ${refs[@]+"${refs[@]}"}; do ref_runs+=("$cfg:$k"); done
    done
    nref=${#ref_runs[@]}
    ncfg=${#kcfgs[@]}
    j=0
    for i in $(seq 0 "$ncfg"); do
        while [ "$j" -lt "$nref" ] && [ $((j * (ncfg + 1) / nref)) -le "$i" ]; do
            zd_reference "${ref_runs[$j]%%:*}" "${ref_runs[$j]##*:}"
            j=$((j + 1))
        done
        if [ "$i" -lt "$ncfg" ]; then zd_config "${kcfgs[$i]}"; fi
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

# ------------------------------------------------------------------ soak
if has soak; then
    log "section soak: $SOAK_DURATION s (perf/soak/run.sh)"
    sample_note soak run
    KESTREL=$KESTREL LOADGEN=$LOADGEN "$PERF_DIR/soak/run.sh" --duration "$SOAK_DURATION" --out "$OUT/soak" \
        > "$OUT/soak.stdout.log" 2>&1 || log "warning: the soak exited $? (see $OUT/soak.stdout.log)"
fi

# ------------------------------------------------------------------ memory-churn
# Opt-in (not in the default section list): processes, files and sockets
# churned under a daemon, RSS and state tables before, at the peak and
# after (perf/memory-churn/run.sh; its own summary.md in the subfolder).
if has memory-churn; then
    log "section memory-churn (sizes / $MC_DIVISOR)"
    sample_note memory-churn run
    note_cmd "perf/memory-churn/run.sh --divisor $MC_DIVISOR --out $OUT/memory-churn"
    KESTREL=$KESTREL DEFAULT_RULES=$DEFAULT_RULES "$PERF_DIR/memory-churn/run.sh" \
        --divisor "$MC_DIVISOR" --out "$OUT/memory-churn" > "$OUT/memory-churn.log" 2>&1 ||
        log "warning: memory-churn exited $? (see $OUT/memory-churn/summary.md)"
fi

monitor_stop
echo "loadavg at end: $(cat /proc/loadavg)" >> "$OUT/env.txt"
python3 "$PERF_DIR/summarize.py" "$OUT" > "$OUT/summary.md"
# Daemon logs, alert heads, tool output: one logs.tar.xz (perf/archive-logs).
archive_logs "$OUT"
log "summary: $OUT/summary.md"
cat "$OUT/summary.md"
