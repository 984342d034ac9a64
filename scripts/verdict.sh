#!/usr/bin/env bash
# The before/after loop on the example service, as CI runs it: records three baseline runs,
# three more of the same configuration (A/A) and three with an injected slowdown in persist,
# interleaved so that a drift of the machine spreads over both sides, then compares. The A/A
# comparison must pass the gate, the slowdown must fail it (exit status 1).
# Usage: scripts/verdict.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/verdict}"
mkdir -p "$out"
cargo build --quiet --example event_pipeline --bin perf-instrument
example=target/debug/examples/event_pipeline
cli=target/debug/perf-instrument
phases="${VERDICT_PHASES:-warm-up=300:1s,baseline=300:3s}"
slow="${VERDICT_SLOW:-persist=10%}"
gate=(--decide-by p50 --max-regression 5% --gate-tables stages)

run() { # name extra-args...
  local name=$1; shift
  "$example" --listen 127.0.0.1:0 --phases "$phases" --record "$out/$name.json" "$@" >"$out/$name.log" 2>&1
}
for i in 1 2 3; do
  run "base$i"
  run "same$i"
  run "slow$i" --slow-stage "$slow"
done
join() { local p=$1; echo "$out/${p}1.json,$out/${p}2.json,$out/${p}3.json"; }
echo "A/A (must pass):"
"$cli" compare "$(join base)" "$(join same)" --runs 3 "${gate[@]}" --markdown "$out/aa.md" --json "$out/aa.json"
echo
echo "injected slowdown $slow (must fail):"
set +e
"$cli" compare "$(join base)" "$(join slow)" --runs 3 "${gate[@]}" --markdown "$out/slow.md" --json "$out/slow.json"
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "verdict: the injected slowdown did not fail the gate (exit $status)" >&2
  exit 1
fi
echo "verdict: ok (A/A passed, the slowdown failed the gate)"
