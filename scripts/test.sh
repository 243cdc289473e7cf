#!/usr/bin/env bash
# Runs every test kestrel has, including the root-only eBPF tests (run it as
# root; as another user those tests fail loudly rather than skip).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --workspace --release --bins
cargo test --workspace --release -- --test-threads=1
