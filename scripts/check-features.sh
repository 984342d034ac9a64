#!/usr/bin/env bash
# Builds the core crate with no features, and with each feature alone, so that no feature
# depends on another by accident (what `cargo hack --each-feature` checks).
# Usage: scripts/check-features.sh
set -euo pipefail
cd "$(dirname "$0")/.."
features=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "perf-instrument")
print(" ".join(f for f in sorted(pkg["features"]) if f != "default"))
')
echo "no features"
cargo check -q -p perf-instrument --lib --no-default-features
for f in $features; do
  echo "feature $f alone"
  cargo check -q -p perf-instrument --lib --no-default-features --features "$f"
done
echo "all $(echo "$features" | wc -w) features checked alone"
