#!/usr/bin/env bash
# End to end: exemplars through a real Prometheus (Debian package, loopback, temporary data
# dirs, bounded time). Two servers scrape one instance of examples/event_pipeline.rs, which
# attaches its trace id to each event that is the slowest so far: one with
# --enable-feature=exemplar-storage (it negotiates OpenMetrics text and stores the classic
# series), one with exemplar-storage and native-histograms (it negotiates protobuf and stores
# the native histogram). Through /api/v1/query_exemplars each must return the trace id the
# instance printed for its slowest event, as the exemplar of the highest value.
# Usage: scripts/exemplars-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
source scripts/prometheus.sh
install_promtool

cargo build -q -p perf-instrument --example event_pipeline --features protobuf
bin="${CARGO_TARGET_DIR:-target}/debug/examples/event_pipeline"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_prometheus
  if [ -n "${FIRST_PID:-}" ]; then kill "$FIRST_PID" 2>/dev/null || true; wait "$FIRST_PID" 2>/dev/null || true; fi
  if [ -n "${FIRST_DIR:-}" ]; then rm -rf "$FIRST_DIR"; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(free_port)"
# The run, then 4 s more of serving, so the last scrapes see the final slowest event.
timeout 90 "$bin" --listen "127.0.0.1:$port" --duration 20s --rate 150 --linger 4s \
  >"$work/instance.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/metrics"

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: event_pipeline
    static_configs:
      - targets: ["127.0.0.1:$port"]
YAML
"$PROMTOOL" check config "$work/prometheus.yml" >/dev/null
start=$(date +%s)
start_prometheus "$work/prometheus.yml" --enable-feature=exemplar-storage
FIRST_PID=$PROM_PID FIRST_DIR=$PROM_DIR CLASSIC_URL=$PROM_URL
start_prometheus "$work/prometheus.yml" --enable-feature=exemplar-storage,native-histograms
NATIVE_URL=$PROM_URL

for p in "${pids[@]}"; do wait "$p"; done
pids=()
slowest="$(sed -n 's/^slowest event: trace_id=\([0-9a-f]*\) .*/\1/p' "$work/instance.log")"
grep '^slowest event' "$work/instance.log"
[ -n "$slowest" ] || { echo "the instance printed no slowest event" >&2; cat "$work/instance.log" >&2; exit 1; }

python3 - "$CLASSIC_URL" "$NATIVE_URL" "$start" "$(date +%s)" "$slowest" <<'PY'
import json, sys, urllib.parse, urllib.request
classic, native, start, end, slowest = sys.argv[1:6]

def exemplars(base, query):
    params = {"query": query, "start": int(start) - 5, "end": int(end) + 5}
    url = f"{base}/api/v1/query_exemplars?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return [(float(e["value"]), e["labels"].get("trace_id"), s["seriesLabels"].get("le"))
            for s in body["data"] for e in s["exemplars"]]

checks = (
    ("exemplar-storage (OpenMetrics, classic buckets)", classic,
     "pipeline_end_to_end_duration_seconds_bucket"),
    ("exemplar-storage + native-histograms (protobuf)", native,
     "pipeline_end_to_end_duration_seconds"),
)
for name, base, query in checks:
    found = exemplars(base, query)
    assert found, f"{name}: no exemplars for {query}"
    value, trace, le = max(found)
    ids = {t for _, t, _ in found}
    print(f"{name}: {len(found)} exemplars of {query}; the highest, {value * 1e3:.3f} ms"
          + (f" on le={le}" if le else "") + f", has trace_id={trace}")
    assert slowest in ids, f"{name}: the slowest event's trace id {slowest} is not among {sorted(ids)}"
    assert trace == slowest, f"{name}: the highest exemplar is {trace}, not {slowest}"
print("ok")
PY
