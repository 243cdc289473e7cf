#!/usr/bin/env bash
# What one event timestamp costs in the kernel: a pinned getppid loop under
# the empty tp_btf/sys_exit program and under the same hook reading the
# probe's event clock (bpf_ktime_get_boot_ns) 10 times per run, alternated
# (empty first in odd rounds, clock first in even ones). Prints, per round
# and as the median, (clock - empty) / 10: ns per clock read.
#
#   perf/probe-overhead/clock.sh [rounds] [getppid-iterations]
#
# Must run as root. LOOP_CPU: the loop's CPU (default 1).
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
cd "$SCRIPT_DIR/../.."

ROUNDS=${1:-7}
N=${2:-2000000}
LOOP_CPU=${LOOP_CPU:-1}
READS=10
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$(id -u)" -ne 0 ]; then
    echo "clock.sh: run as root" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/loop" "$SCRIPT_DIR/loop.c"
cargo build -q --release -p kestrel-probe --example overhead_hold
HOLD="$CARGO_TARGET_DIR/release/examples/overhead_hold"

under() { # empty|clock: ns per getppid with that program attached
    local out line
    coproc H { "$HOLD" "$1" 2>&1; }
    local pid=$H_PID rfd wfd=${H[1]}
    exec {rfd}<&"${H[0]}"
    read -r line <&"$rfd"
    [ "$line" = ready ] || { echo "holder failed: $line" >&2; exit 1; }
    out=$("$tmp/loop" getppid "$N" "$LOOP_CPU")
    exec {wfd}>&-
    cat <&"$rfd" > /dev/null
    exec {rfd}<&-
    wait "$pid"
    echo "$out"
}

echo "cpu: $(LC_ALL=C lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)" \
    "(family $(LC_ALL=C lscpu | sed -n 's/^CPU family:[[:space:]]*//p'), model $(LC_ALL=C lscpu | sed -n 's/^Model:[[:space:]]*//p'))," \
    "kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
per=()
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        e=$(under empty)
        c=$(under clock)
    else
        c=$(under clock)
        e=$(under empty)
    fi
    p=$(awk -v c="$c" -v e="$e" -v n="$READS" 'BEGIN { printf "%.1f", (c - e) / n }')
    per+=("$p")
    printf 'round %d: getppid under empty %.1f ns, under %d clock reads %.1f ns: %s ns per read\n' \
        "$r" "$e" "$READS" "$c" "$p"
done
printf '%s\n' "${per[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median: %.1f ns per bpf_ktime_get_boot_ns (range %.1f..%.1f, %d rounds)\n", m, v[1], v[NR], NR }'
