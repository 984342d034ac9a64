#!/usr/bin/env bash
# Runs the loom models (tests/loom_*.rs) in release mode with a bounded number of preemptions.
# Usage: scripts/loom.sh [test-name-filter]
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:-} --cfg perf_instrument_loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
# A target dir of its own: the cfg changes every crate's build, and would otherwise evict the
# normal build's artifacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
tests=()
for f in tests/loom_*.rs; do
  tests+=(--test "$(basename "$f" .rs)")
done
cargo test --release -p perf-instrument --features metrics "${tests[@]}" -- "$@"
