#!/usr/bin/env bash
# Sets up a fresh Debian machine (system packages, release build) and runs
# the kestrel daemon with its embedded default configuration and rules.
# Run as root. Extra arguments are passed to kestrel, e.g.
#   sudo scripts/run.sh -o json_output=true
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "kestrel: run this as root (the eBPF probe needs CAP_BPF and CAP_PERFMON)" >&2
    exit 1
fi
scripts/install-deps.sh
cargo build --release --locked --bin kestrel
exec target/release/kestrel "$@"
