#!/usr/bin/env bash
# The fault suite with figures: runs the fault tests (tests/daemon_faults.rs
# and the fault cases of tests/daemon_outputs.rs and tests/daemon_signals.rs)
# against the real daemon and probe, keeps their output in
# perf/runs/<UTC time>-faults/, and rewrites the table of
# docs/RELIABILITY.md between its faults:begin/faults:end markers from the
# FAULT|fault|expectation|measured lines the tests print. Root; run it on a
# quiet machine (other load can cause kernel drops, which the tests count
# as failures).
#
#   perf/faults/run.sh            # all faults
#   NO_DOC=1 perf/faults/run.sh   # leave docs/RELIABILITY.md alone
set -euo pipefail
cd "$(dirname "$0")/../.."
ts=$(date -u +%Y%m%dT%H%M%SZ)
out=perf/runs/$ts-faults
mkdir -p "$out"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
ncpu=$(nproc)
rev=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo " (with local changes)" || true)
runs=(
    "daemon_faults"
    "daemon_outputs http_endpoint_never_blocks_capture"
    "daemon_signals sigterm_mid_burst_under_load_drains_the_rings"
)
: > "$out/faults.log"
status=0
for r in "${runs[@]}"; do
    read -r test filter <<< "$r"
    cmd="cargo test --release -p kestrel --test $test ${filter:-} -- --nocapture --test-threads=1"
    printf '%s\t%s\n' "$(date -u +%FT%TZ)" "$cmd" >> "$out/commands.log"
    echo "== $cmd" | tee -a "$out/faults.log"
    # shellcheck disable=SC2086
    if ! $cmd >> "$out/faults.log" 2>&1; then
        echo "FAILED: $cmd (see $out/faults.log)" >&2
        status=1
    fi
done
# The test harness prints "test NAME ... " before a test's own output.
grep -o 'FAULT|.*' "$out/faults.log" > "$out/faults.txt" || true
n=$(wc -l < "$out/faults.txt")
echo "$n fault lines in $out/faults.txt" >&2
{
    echo "Run $ts, commit $rev$dirty, $cpu ($ncpu CPUs), \`perf/faults/run.sh\`"
    echo "(raw output: \`$out/\`)."
    echo
    echo "| fault | expectation | measured |"
    echo "|---|---|---|"
    while IFS='|' read -r _ fault expect measured; do
        echo "| $fault | $expect | $measured |"
    done < "$out/faults.txt"
} > "$out/table.md"
if [ -z "${NO_DOC:-}" ] && [ "$n" -gt 0 ]; then
    python3 - "$out/table.md" docs/RELIABILITY.md <<'PY'
import sys
table = open(sys.argv[1]).read().rstrip("\n")
doc = open(sys.argv[2]).read()
b, e = "<!-- faults:begin -->", "<!-- faults:end -->"
i, j = doc.index(b) + len(b), doc.index(e)
open(sys.argv[2], "w").write(doc[:i] + "\n" + table + "\n" + doc[j:])
PY
    echo "docs/RELIABILITY.md updated" >&2
fi
exit $status
