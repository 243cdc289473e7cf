# Shared shell helpers for kestrel's system benchmarks (sourced, not run).
# shellcheck shell=bash
#
#   . perf/lib.sh
#   perf_init <run-dir>            # binaries, log file, clean-up trap
#   daemon_start <dir> <tag> [kestrel args...]   # sets DAEMON_PID, DAEMON_URL
#   scrape <url> <file>
#   daemon_stop                    # SIGTERM, wait, record the exit
#   loadgen <json-out> [loadgen run args...]     # returns loadgen's status
#   cond_start <condition> <dir> <tag> / cond_stop
#   cpu_model / env_cpu            # lscpu's "Model name", for every figure
#   export_tree <rev> <dir> / build_release <src-dir>   # clean export builds
#   round_order <round> <items...> # rotated (and every other round reversed)
#   archive_logs <run-dir>         # loose logs -> logs.tar.xz (perf/archive-logs)
#
# Conditions (what runs beside the workload): bare, kestrel (default rules),
# kestrel-stable (Falco's stable file), kestrel-adv (default rules plus
# perf/zero-drop/adversarial_rules.yaml), empty-hook (an empty tp_btf/sys_exit
# program), kestrel-probe (kestrel's probe alone with Falco's stable event
# set, drained by one bare thread on CPU $DRAIN_CPU, default 1), bpftrace (a
# syscall-counting one-liner), audit-rules (auditd with rules equivalent to
# kestrel's default rules), audit-opens (auditd logging every open). perf/baselines/README.md says why each one is what it is.
#
# Every command that produces a number is appended to $RUN_DIR/commands.log
# so that each raw file can be traced to the exact command line.

PERF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$PERF_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_DIR/target}
KESTREL=${KESTREL:-$CARGO_TARGET_DIR/release/kestrel}
LOADGEN=${LOADGEN:-$CARGO_TARGET_DIR/release/kestrel-loadgen}
HOLD=${HOLD:-$CARGO_TARGET_DIR/release/examples/overhead_hold}
STABLE_RULES=${STABLE_RULES:-$REPO_DIR/../shared/reference/falco_rules.yaml}
# The default rules as a file (the daemon embeds this file; -r replaces the
# rules, so "default rules plus one file" is -r DEFAULT_RULES -r FILE).
DEFAULT_RULES=${DEFAULT_RULES:-$REPO_DIR/rules/kestrel_rules.yaml}
ADV_RULES=${ADV_RULES:-$PERF_DIR/zero-drop/adversarial_rules.yaml}
BPFTRACE_PROG=${BPFTRACE_PROG:-'tracepoint:raw_syscalls:sys_exit { @c = count(); }'}

DAEMON_PID=""
DAEMON_URL=""
DAEMON_TAG=""
DAEMON_DIR=""
COND_PID=""
COND_FD=""
HUP_PID=""
AUDITD_PID=""
AUDIT_TOUCHED=0
TRACEFS_MOUNTED=0
PERF_TMP=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Records a command line in the run's command log.
note_cmd() { printf '%s\t%s\n' "$(date -u +%FT%TZ)" "$*" >> "$RUN_DIR/commands.log"; }

# Where a build from the checkout's working tree comes from: HEAD, and
# whether the sources differ from it.
worktree_desc() {
    printf '%s' "$(git -C "$REPO_DIR" rev-parse HEAD)"
    git -C "$REPO_DIR" diff --quiet HEAD -- src engine probe loadgen rules benches Cargo.toml Cargo.lock ||
        printf ' (working tree, with uncommitted changes)'
}

# Compiles perf/probe-overhead's C loop to $PERF_TMP/loop.
build_loop() {
    cc -O2 -o "$PERF_TMP/loop" "$PERF_DIR/probe-overhead/loop.c"
}

# The CPU model as lscpu prints it ("Model name"). Results depend on it:
# every summary names it next to its figures.
cpu_model() {
    local m
    m=$(LC_ALL=C lscpu 2> /dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
    [ -n "$m" ] || m=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
    echo "${m:-unknown}"
}

# The env.txt lines every run folder starts with: the CPU model and count,
# whether it is a VM, the kernel. summarize.py and perf/compare read them.
env_cpu() {
    local hyp
    hyp=$(LC_ALL=C lscpu 2> /dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | head -n 1)
    echo "cpu_model: $(cpu_model)"
    echo "cpus: $(nproc --all)"
    echo "hypervisor: ${hyp:-none}"
    echo "kernel: $(uname -r)"
}

# The order of a round's conditions: rotated by one every round, so that no
# condition always runs first or last, and reversed every other round, so
# that no condition always follows the same one (a plain rotation keeps
# neighbours: what one condition leaves behind, e.g. a BPF program being
# freed, would always be paid by the same next one). Prints one per line.
round_order() { # round item...
    local r=$1
    shift
    local items=("$@") n=$# i
    local ordered=()
    for i in $(seq 0 $((n - 1))); do
        ordered+=("${items[$(((i + r - 1) % n))]}")
    done
    if [ $((r % 2)) -eq 0 ]; then
        for ((i = n - 1; i >= 0; i--)); do echo "${ordered[$i]}"; done
    else
        printf '%s\n' "${ordered[@]}"
    fi
}

# Exports a commit with git archive into <dir>/kestrel (its commit id in
# <dir>/kestrel/.commit), next to a symlink to the checkout's sibling
# shared/ so that paths like ../shared/reference resolve as in the
# checkout. The measured code is then exactly that commit, whatever others
# have uncommitted in the checkout.
export_tree() { # rev dir
    local rev=$1 dir=$2 sha
    sha=$(git -C "$REPO_DIR" rev-parse --verify --quiet "$rev^{commit}") || die "not a commit: $rev"
    rm -rf "$dir"
    mkdir -p "$dir/kestrel"
    git -C "$REPO_DIR" archive "$sha" | tar -x -C "$dir/kestrel"
    echo "$sha" > "$dir/kestrel/.commit"
    ln -s "$REPO_DIR/../shared" "$dir/shared"
}

# Builds the release binaries the benchmarks run (kestrel, kestrel-loadgen,
# the overhead_hold example of kestrel-probe) from a source tree into
# $CARGO_TARGET_DIR. A clean export builds into a target directory of its
# own: cargo gives a workspace's artefacts the same names wherever its
# source lies, so sharing the checkout's target would leave its
# fingerprints pointing at the export, and later builds in the checkout
# would miss edits.
build_release() { # src-dir
    (
        cd "$1" || exit 1
        cargo build -q --release -p kestrel -p kestrel-loadgen
        cargo build -q --release -p kestrel-probe --example overhead_hold
    )
}

# Replaces a finished run folder's loose logs (daemon logs, alert heads and
# counts, tool output) by one logs.tar.xz; summaries, raw tables, reports
# and metrics scrapes stay as they are. See perf/archive-logs.
archive_logs() { # run-dir
    "$PERF_DIR/archive-logs" "$1" || log "warning: archiving the logs of $1 failed"
}

perf_init() { # run-dir
    mkdir -p "$1"
    RUN_DIR=$(cd "$1" && pwd)
    : >> "$RUN_DIR/commands.log"
    PERF_TMP=$(mktemp -d /tmp/kestrel-perf.XXXXXX)
    trap perf_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Leaves the machine as it was: no daemon, no hook, no bpftrace, no auditd,
# no audit rule except the one that keeps new processes out of syscall
# auditing (see cond_stop), auditing disabled.
perf_cleanup() {
    local rc=$?
    monitor_stop
    hup_stop
    [ -n "$DAEMON_PID" ] && daemon_stop
    [ -n "$COND_PID" ] && cond_stop_any
    audit_teardown
    if [ "$TRACEFS_MOUNTED" = 1 ]; then
        umount /sys/kernel/tracing 2>/dev/null || log "warning: could not unmount tracefs"
    fi
    [ -n "$PERF_TMP" ] && rm -rf "$PERF_TMP"
    exit "$rc"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts the daemon on a free port with the given arguments and waits until
# /healthz answers. Alerts (stdout) are counted and mostly discarded to keep
# run folders small: the first 20 lines are kept in <tag>.alerts.head.
daemon_start() { # dir tag [kestrel args...]
    local dir=$1 tag=$2
    shift 2
    local port
    port=$(free_port)
    mkdir -p "$dir"
    DAEMON_TAG=$tag
    DAEMON_DIR=$dir
    # POST /track (loadgen's reconciliation) needs a bearer token; loadgen
    # reads the same file through KESTREL_TRACK_TOKEN_FILE. Daemons older
    # than webserver.track ignore the two keys.
    KESTREL_TRACK_TOKEN_FILE="$PERF_TMP/track.token"
    export KESTREL_TRACK_TOKEN_FILE
    if [ ! -s "$KESTREL_TRACK_TOKEN_FILE" ]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$KESTREL_TRACK_TOKEN_FILE")
    fi
    # Each run's daemon its own single-instance lock (kestrel.lock_file):
    # the suite never runs two at once, other checkouts may.
    local track=(-o webserver.track.enabled=true -o "webserver.track.token_file=$KESTREL_TRACK_TOKEN_FILE"
        -o "kestrel.lock_file=$PERF_TMP/kestrel.lock")
    note_cmd "$KESTREL -o webserver.listen_port=$port ${track[*]} $*  # $dir/$tag"
    "$KESTREL" -o "webserver.listen_port=$port" "${track[@]}" "$@" \
        > "$PERF_TMP/$tag.alerts" 2> "$dir/$tag.daemon.log" &
    DAEMON_PID=$!
    DAEMON_URL="http://127.0.0.1:$port"
    local i
    for i in $(seq 1 600); do
        if curl -sf -o /dev/null "$DAEMON_URL/healthz"; then
            return 0
        fi
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            wait "$DAEMON_PID" || true
            DAEMON_PID=""
            cat "$dir/$tag.daemon.log" >&2
            die "kestrel exited during start-up ($dir/$tag.daemon.log)"
        fi
        sleep 0.1
    done
    die "kestrel did not answer /healthz within 60 s"
}

scrape() { # url file
    curl -sf "$1/metrics" > "$2" || log "warning: scrape of $1 failed"
}

daemon_stop() {
    [ -n "$DAEMON_PID" ] || return 0
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    local i rc=0
    for i in $(seq 1 300); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        log "warning: kestrel ignored SIGTERM for 30 s; killing it"
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    wait "$DAEMON_PID" || rc=$?
    echo "exit status $rc" >> "$DAEMON_DIR/$DAEMON_TAG.daemon.log"
    local f="$PERF_TMP/$DAEMON_TAG.alerts"
    if [ -f "$f" ]; then
        wc -l < "$f" > "$DAEMON_DIR/$DAEMON_TAG.alerts.count"
        if [ -s "$f" ]; then head -n 20 "$f" > "$DAEMON_DIR/$DAEMON_TAG.alerts.head"; fi
        rm -f "$f"
    fi
    DAEMON_PID=""
    DAEMON_URL=""
}

# Runs kestrel-loadgen with --json --quiet; the JSON report goes to the given
# file, stderr next to it. Returns loadgen's exit status (1 = reconciliation
# failed, which is a result, not an error of the suite).
loadgen() { # json-out args...
    local out=$1
    shift
    note_cmd "$LOADGEN run $* --json --quiet  # $out"
    local rc=0
    "$LOADGEN" run "$@" --json --quiet > "$out" 2> "${out%.json}.stderr" || rc=$?
    [ -s "${out%.json}.stderr" ] || rm -f "${out%.json}.stderr"
    if [ "$rc" -ge 2 ]; then
        log "warning: loadgen exited $rc ($out)"
    fi
    return "$rc"
}

ensure_tracefs() {
    if [ ! -e /sys/kernel/tracing/events/raw_syscalls ]; then
        mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs (bpftrace needs it)"
        TRACEFS_MOUNTED=1
    fi
}

ensure_tools() { # what...
    local t missing=()
    for t in "$@"; do
        case $t in
        bpftrace) command -v bpftrace > /dev/null || missing+=(bpftrace) ;;
        auditd) command -v auditd > /dev/null && command -v auditctl > /dev/null || missing+=(auditd) ;;
        perf) command -v perf > /dev/null || missing+=(linux-perf) ;;
        esac
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get install -y "${missing[@]}" > "$PERF_TMP/apt.log" 2>&1 || {
            cat "$PERF_TMP/apt.log" >&2
            die "apt-get install ${missing[*]} failed"
        }
    fi
}

# Holds a helper that prints "ready" once attached and detaches when its
# stdin closes (overhead_hold).
hold_start() { # out-file args...
    local out=$1
    shift
    local fifo="$PERF_TMP/hold.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    "$HOLD" "$@" < "$fifo" > "$out" 2>&1 &
    COND_PID=$!
    exec {COND_FD}> "$fifo"
    local i
    for i in $(seq 1 300); do
        grep -q '^ready' "$out" 2>/dev/null && return 0
        kill -0 "$COND_PID" 2>/dev/null || { cat "$out" >&2; die "overhead_hold $* failed"; }
        sleep 0.1
    done
    die "overhead_hold $* not ready within 30 s"
}

hold_stop() {
    exec {COND_FD}>&-
    COND_FD=""
    wait "$COND_PID" || log "warning: overhead_hold exited $?"
    COND_PID=""
}

bpftrace_start() { # out-file
    ensure_tracefs
    note_cmd "bpftrace -e '$BPFTRACE_PROG'"
    bpftrace -e "$BPFTRACE_PROG" > "$1" 2>&1 &
    COND_PID=$!
    local i
    for i in $(seq 1 600); do
        grep -q '^Attaching' "$1" 2>/dev/null && { sleep 0.5; return 0; }
        kill -0 "$COND_PID" 2>/dev/null || { cat "$1" >&2; die "bpftrace failed"; }
        sleep 0.1
    done
    die "bpftrace did not attach within 60 s"
}

bpftrace_stop() {
    kill -INT "$COND_PID" 2>/dev/null || true
    wait "$COND_PID" || true
    COND_PID=""
}

# auditd runs in the foreground (-n) with a private configuration whose log
# lives in the temp dir, rotated so a flood cannot fill the disk.
audit_start() { # rules-file out-file
    local rules=$1 out=$2 conf="$PERF_TMP/audit"
    mkdir -p "$conf/plugins.d"
    sed "s|@LOGDIR@|$conf|" "$PERF_DIR/baselines/auditd.conf" > "$conf/auditd.conf"
    chmod 0640 "$conf/auditd.conf"
    AUDIT_TOUCHED=1
    auditctl -D > /dev/null
    note_cmd "auditd -n -c $conf; auditctl -R $rules"
    auditd -n -c "$conf" > "$out" 2>&1 &
    AUDITD_PID=$!
    local i
    for i in $(seq 1 300); do
        if auditctl -s 2>/dev/null | grep -q "^pid $AUDITD_PID\$"; then break; fi
        kill -0 "$AUDITD_PID" 2>/dev/null || { cat "$out" >&2; die "auditd failed to start"; }
        sleep 0.1
    done
    auditctl -s | grep -q "^pid $AUDITD_PID\$" || die "auditd did not register within 30 s"
    auditctl -R "$rules" >> "$out" 2>&1 || die "auditctl -R $rules failed (see $out)"
    auditctl -e 1 > /dev/null
    { echo "--- rules"; auditctl -l; echo "--- status"; auditctl -s; } >> "$out"
}

# Once auditing has been enabled, the kernel arms syscall auditing for every
# process forked afterwards (audit_alloc), even with auditing disabled and no
# rules: each syscall then takes the audit slow path. A `never,task` rule
# keeps new processes out of it, so bare runs after an audit run stay bare
# (perf/baselines/README.md has the measurement).
audit_teardown() {
    [ "$AUDIT_TOUCHED" = 1 ] || return 0
    auditctl -D > /dev/null 2>&1 || true
    auditctl -e 0 > /dev/null 2>&1 || true
    auditctl -a never,task > /dev/null 2>&1 || true
    if [ -n "$AUDITD_PID" ]; then
        kill -TERM "$AUDITD_PID" 2>/dev/null || true
        wait "$AUDITD_PID" 2>/dev/null || true
        AUDITD_PID=""
    fi
}

audit_stop() { # out-file
    { echo "--- status at stop"; auditctl -s; } >> "$1" 2>&1
    audit_teardown
    rm -f "$PERF_TMP"/audit/audit.log*
}

# Sends SIGHUP to the daemon every 0.5 s until stopped; one line per signal
# (its time) in <file>.
hup_start() { # pid file
    (
        trap 'exit 0' TERM
        while kill -HUP "$1" 2> /dev/null; do
            date -u +%s.%N >> "$2"
            sleep 0.5
        done
    ) &
    HUP_PID=$!
}

hup_stop() {
    if [ -n "${HUP_PID:-}" ]; then
        kill -TERM "$HUP_PID" 2> /dev/null || true
        wait "$HUP_PID" 2> /dev/null || true
        HUP_PID=""
    fi
}

# Starts a condition. For kestrel conditions DAEMON_URL is set afterwards
# (pass it to loadgen with --daemon); for the others it is empty.
cond_start() { # condition dir tag
    local c=$1 dir=$2 tag=$3
    CUR_COND=$c
    mkdir -p "$dir"
    case $c in
    bare) ;;
    kestrel) daemon_start "$dir" "$tag" ;;
    kestrel-stable) daemon_start "$dir" "$tag" -r "$STABLE_RULES" ;;
    kestrel-adv) daemon_start "$dir" "$tag" -r "$DEFAULT_RULES" -r "$ADV_RULES" ;;
    empty-hook) hold_start "$dir/$tag.hold.log" empty ;;
    kestrel-probe) hold_start "$dir/$tag.hold.log" kestrel "${DRAIN_CPU:-1}" ;;
    bpftrace) bpftrace_start "$dir/$tag.bpftrace.log" ;;
    audit-rules) audit_start "$PERF_DIR/baselines/audit-kestrel.rules" "$dir/$tag.audit.log" ;;
    audit-opens) audit_start "$PERF_DIR/baselines/audit-opens.rules" "$dir/$tag.audit.log" ;;
    *) die "unknown condition $c" ;;
    esac
}

cond_stop() { # dir tag
    local dir=$1 tag=$2
    case $CUR_COND in
    bare) ;;
    kestrel | kestrel-stable | kestrel-adv) daemon_stop ;;
    empty-hook | kestrel-probe) hold_stop ;;
    bpftrace) bpftrace_stop ;;
    audit-rules | audit-opens) audit_stop "$dir/$tag.audit.log" ;;
    esac
    CUR_COND=""
}

cond_stop_any() {
    if [ -n "$COND_FD" ]; then hold_stop; fi
    if [ -n "$COND_PID" ]; then
        kill -INT "$COND_PID" 2>/dev/null || true
        wait "$COND_PID" 2>/dev/null || true
        COND_PID=""
    fi
}

# Other people's heavy processes: compilers, cargo, other kestrel daemons or
# load generators. Prints a short description, nothing when there are none.
# (During the suite the load average reflects its own workload, so samples
# are judged by this, not by the load.)
others_running() {
    pgrep -a -x 'cargo|rustc|clang|cc1|cc1plus|kestrel|kestrel-loadgen|ld|rust-lld' 2> /dev/null |
        awk -v self="${DAEMON_PID:-none}" '$1 != self {print $2}' | sort | uniq -c |
        awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}'
}

# The machine is quiet enough to publish numbers measured on it: load
# average below QUIET_LOAD and no compiler, cargo or other kestrel running.
machine_busy() {
    local load others
    load=$(cut -d' ' -f1 /proc/loadavg)
    others=$(others_running)
    if awk -v l="$load" -v q="${QUIET_LOAD:-0.5}" 'BEGIN { exit !(l >= q) }'; then
        echo "load average $load${others:+; $others}"
        return 0
    fi
    if [ -n "$others" ]; then
        echo "busy: $others"
        return 0
    fi
    return 1
}

# Logs, every 5 s until stopped, the load average and other people's heavy
# processes to <file>: the record that a run was (or was not) alone.
monitor_start() { # file
    (
        while :; do
            printf '%s\t%s\t%s\n' "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1 /proc/loadavg)" \
                "$(pgrep -a -x 'cargo|rustc|clang|cc1|cc1plus|ld|rust-lld' 2> /dev/null | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')"
            sleep 5
        done
    ) >> "$1" 2> /dev/null &
    MONITOR_PID=$!
}

monitor_stop() {
    if [ -n "${MONITOR_PID:-}" ]; then
        kill "$MONITOR_PID" 2> /dev/null || true
        wait "$MONITOR_PID" 2> /dev/null || true
        MONITOR_PID=""
    fi
}
