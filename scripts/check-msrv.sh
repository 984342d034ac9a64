#!/usr/bin/env bash
# The declared minimum Rust version (`rust-version` in Cargo.toml) must be at least the
# `rust-version` of every dependency the library builds with (all features), or a user on that
# compiler could not build it. Uses of newer std APIs in our own code are caught by clippy's
# `incompatible_msrv` lint, which reads the same `rust-version`.
# Usage: scripts/check-msrv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo tree -p perf-instrument -e normal,build --all-features --prefix none --format '{p}' \
  | awk '{print $1}' | sort -u > "${TMPDIR:-/tmp}/perf-instrument-deps.txt"
cargo metadata --format-version 1 | python3 -c '
import json, sys
names = set(open(sys.argv[1]).read().split())
meta = json.load(sys.stdin)
version = lambda v: tuple(int(x) for x in (v or "0").split("."))
ours = next(p for p in meta["packages"] if p["name"] == "perf-instrument")["rust_version"]
newer = [(p["name"], p["rust_version"]) for p in meta["packages"]
         if p["name"] in names and version(p.get("rust_version")) > version(ours)]
if newer:
    for name, v in newer:
        print(f"{name} needs Rust {v}, above the declared rust-version {ours}")
    sys.exit(1)
print(f"rust-version {ours}: every dependency builds with it")
' "${TMPDIR:-/tmp}/perf-instrument-deps.txt"
