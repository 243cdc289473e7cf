#!/usr/bin/env bash
# The fuzz step of CI (.ci/run): builds the cargo-fuzz targets with libFuzzer
# and the coverage instrumentation cargo-fuzz itself passes to rustc (stable
# toolchain, no sanitizer, so neither nightly nor cargo-fuzz is needed),
# replays the committed corpus through the real targets, then fuzzes each
# target for FUZZ_SECONDS (default 30) seconds. New inputs go to a
# temporary directory, never into corpus/. A crash fails the step and
# leaves the input in $FUZZ_ARTIFACTS (default: a temporary directory that
# is printed).
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-30}
# Apart from the workspace's builds: other flags, other artifacts.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/../target}/fuzz
host=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps the flags off build scripts and proc macros.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"
# opt-level 1: most of the step is compiling kestrel-engine and its
# dependencies with instrumentation; level 1 halves that and still fuzzes
# at tens of thousands of inputs per second.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${FUZZ_OPT_LEVEL:-1}
export CARGO_PROFILE_RELEASE_DEBUG=false
cargo build --release --target "$host" --bins
bin=$CARGO_TARGET_DIR/$host/release
work=$(mktemp -d /tmp/kestrel-fuzz.XXXXXX)
art=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$art"
echo "fuzz: work directory $work"
for t in condition loader; do
    n=$(find "corpus/$t" -type f | wc -l)
    echo "fuzz: replaying $n inputs of corpus/$t through $t"
    # -runs=0: run every corpus input once, then stop.
    "$bin/$t" -runs=0 -rss_limit_mb=2048 -artifact_prefix="$art/$t-" "corpus/$t" \
        2> "$work/$t.replay.log" || {
        tail -50 "$work/$t.replay.log" >&2
        echo "fuzz: $t failed on the committed corpus (artifacts in $art)" >&2
        exit 1
    }
    grep -E 'INITED|DONE' "$work/$t.replay.log" | tail -2
    if [ "$secs" -gt 0 ]; then
        mkdir -p "$work/new-$t"
        echo "fuzz: fuzzing $t for $secs s"
        "$bin/$t" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$art/$t-" "$work/new-$t" "corpus/$t" \
            2> "$work/$t.fuzz.log" || {
            tail -50 "$work/$t.fuzz.log" >&2
            echo "fuzz: $t crashed (input in $art)" >&2
            exit 1
        }
        grep -E '^stat::number_of_executed_units|^stat::new_units_added|DONE' "$work/$t.fuzz.log" | tr '\n' ' '
        echo
    fi
done
rm -rf "$work"
