#!/usr/bin/env bash
# Runs the criterion benches (all, or the one named) and prints the medians.
# Usage: scripts/bench.sh [bench-name] [criterion args...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  bench="$1"; shift
  cargo bench -p perf-instrument --bench "$bench" -- "$@"
else
  cargo bench -p perf-instrument
fi
