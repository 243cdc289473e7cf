#!/usr/bin/env bash
# Runs every test kestrel has, including the root-only eBPF tests (run it as
# root; as another user those tests fail loudly rather than skip).
#
# The end-to-end tests (tests/) start the real daemon and share the
# kernel's probe and rings: one test at a time (--test-threads=1; each
# test binary also serialises its own daemon tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cargo build --workspace --release --bins
cargo test --workspace --release -- --test-threads=1
# kestrel-loadgen against the real kernel: its kernel-backed reconciliation
# test is behind a feature (it links the probe and needs root).
cargo test -p kestrel-loadgen --release --features kernel-tests --test kernel -- --test-threads=1
