#!/usr/bin/env bash
# Runs the criterion benches (all, or the one named) and prints the medians. Benches of the core
# crate live in benches/; the side-by-side comparisons with peer crates in bench-peers/benches/.
# Usage: scripts/bench.sh [bench-name] [criterion args...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  bench="$1"; shift
  if [ -f "bench-peers/benches/$bench.rs" ]; then pkg=bench-peers; else pkg=perf-instrument; fi
  # --all-features: benches of optional integrations (trace_exemplar) need their feature.
  cargo bench -p "$pkg" --all-features --bench "$bench" -- "$@"
else
  cargo bench -p perf-instrument -p bench-peers --all-features
fi
