#!/usr/bin/env bash
# End to end: a real Prometheus (Debian package, native histograms enabled, loopback, temporary
# data dir) scrapes two instances of examples/native_histograms.rs over protobuf; through its
# HTTP API, histogram_quantile(0.99, sum(rate(x[1m]))) over the native series must be within the
# stated relative error (4.33%) of the 0.99 quantile of the two instances' merged buckets. The
# two instances have different tails, so the merged p99 lies in a bucket neither instance's own
# p99 is in (checked): a wrong aggregation cannot pass by luck.
# Usage: scripts/native-histograms.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
source scripts/prometheus.sh
install_promtool

cargo build -q -p perf-instrument --example native_histograms --features protobuf
bin="${CARGO_TARGET_DIR:-target}/debug/examples/native_histograms"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_prometheus
}
trap cleanup EXIT

ports=()
for seed in 1 2; do
  port="$(free_port)"
  "$bin" --listen "127.0.0.1:$port" --seed "$seed" --duration 120 >/dev/null &
  pids+=($!)
  ports+=("$port")
  wait_http "http://127.0.0.1:$port/metrics"
done

config="$(mktemp)"
cat >"$config" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: native
    static_configs:
      - targets: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
YAML
start_prometheus "$config" --enable-feature=native-histograms
rm -f "$config"

query='histogram_quantile(0.99, sum(rate(native_demo_latency_seconds[1m])))'
# Wait until the rate has at least a few scrapes from both instances (bounded: 90 s).
result=""
for _ in $(seq 1 90); do
  sleep 1
  up="$(promql 'sum(up{job="native"})' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')"
  result="$(promql "$query" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")')"
  count="$(promql 'count_over_time(native_demo_latency_seconds[1m])' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(min((int(x["value"][1]) for x in r), default=0) if len(r)==2 else 0)')"
  if [ "$up" = "2" ] && [ -n "$result" ] && [ "$result" != "NaN" ] && [ "$count" -ge 5 ]; then break; fi
done
echo "prometheus: $query = $result"

buckets=()
for port in "${ports[@]}"; do buckets+=("$(curl -fsS "http://127.0.0.1:$port/buckets")"); done

python3 - "$result" "${buckets[0]}" "${buckets[1]}" <<'PY'
import math, sys
prom = float(sys.argv[1])

def parse(text):
    out = {}
    for line in text.strip().splitlines():
        key, count = line.split()
        out[None if key == "zero" else int(key)] = int(count)
    return out

def p99_bucket(counts):
    total = sum(counts.values())
    rank, seen = math.ceil(0.99 * total), 0
    for key in sorted(counts, key=lambda k: -math.inf if k is None else k):
        seen += counts[key]
        if seen >= rank:
            return key, total

instances = [parse(text) for text in sys.argv[2:]]
merged = {}
for counts in instances:
    for key, n in counts.items():
        merged[key] = merged.get(key, 0) + n
key, total = p99_bucket(merged)
own = [p99_bucket(counts)[0] for counts in instances]
lower, upper = 2 ** ((key - 1) / 8), 2 ** (key / 8)
ours = 2 * lower * upper / (lower + upper)
error = abs(prom - ours) / prom
print(f"merged snapshots: {total} observations, p99 in native bucket {key} "
      f"({lower:.6f}, {upper:.6f}] s, reported {ours:.6f} s; each instance's own p99 in "
      f"buckets {own}; prometheus {prom:.6f} s; relative difference {error:.4%}")
# The check can tell a correct aggregation from one that lost or mis-summed an instance.
assert key not in own, "the workload no longer separates the merged p99 from each instance's"
assert lower <= prom <= upper, "prometheus placed p99 in another bucket"
assert error <= 0.0433, f"relative difference {error} exceeds 4.33%"
print("ok")
PY
