#!/usr/bin/env bash
# Runs the detection corpus (detection/corpus.yaml) under kestrel's default
# rules and under Falco's three rules files (in kestrel), and prints the
# recall and false-alert tables DETECTION.md is made of. Root, real kernel.
#   scripts/detection.sh > /tmp/detection-tables.md
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
# The corpus runs kestrel-loadgen (io_uring actions) from the same target
# directory; the test only builds it when missing, so build it fresh.
cargo build -q --release -p kestrel-loadgen --bin kestrel-loadgen >&2
KESTREL_DETECTION_FALCO=1 KESTREL_DETECTION_REPORT="$out" \
    cargo test -q --release -p kestrel --test detection >&2 || status=$?
cat "$out"
rm -f "$out"
exit "${status:-0}"
