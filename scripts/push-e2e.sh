#!/usr/bin/env bash
# End to end: examples/push.rs runs for 300 ms, pushing every 100 ms and once more as it stops,
# into real receivers (Debian's prometheus, prometheus-pushgateway and victoria-metrics packages,
# unpacked under .tools/; loopback only, temporary data dirs), and what each receiver holds is
# checked against the snapshot the job wrote (scripts/push_check.py):
#   - Pushgateway: a Prometheus scraping the Pushgateway and the job itself returns the same
#     histogram_quantile(0.99), and the count the job recorded;
#   - remote write into Prometheus with native histograms: histogram_count, histogram_sum and
#     histogram_quantile(0.99) equal the snapshot's;
#   - remote write into Prometheus without native histograms: the receiver refuses the native
#     request once (one HTTP 500, counted by Prometheus itself), the job falls back to classic
#     series, and count, sum and p99 equal the snapshot's;
#   - remote write into VictoriaMetrics (classic series): count, sum and p99 likewise;
#   - OTLP/HTTP into a tiny receiver that saves the body: decoded with opentelemetry-proto, the
#     exponential histogram matches the snapshot bucket by bucket.
# Every count equals what the job recorded: a run shorter than a few intervals loses nothing.
# Usage: scripts/push-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
source scripts/prometheus.sh
install_promtool
install_push_receivers
install_otlp_python

cargo build -q -p perf-instrument --example push --features push-gateway,remote-write,otlp,http
bin="${CARGO_TARGET_DIR:-target}/debug/examples/push"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_prometheus
  rm -rf "$work"
}
trap cleanup EXIT
check() { "$OTLP_PYTHON" scripts/push_check.py "$@"; }
empty_config="$work/empty.yml"
printf 'global:\n  scrape_interval: 1m\n' >"$empty_config"

echo "-- Pushgateway"
gw_port="$(free_port)"
"$PUSHGATEWAY" --web.listen-address="127.0.0.1:$gw_port" --log.level=warn >"$work/pushgateway.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$gw_port/-/ready"
job_port="$(free_port)"
"$bin" --pushgateway "http://127.0.0.1:$gw_port" --listen "127.0.0.1:$job_port" --linger 60s \
  --snapshot "$work/gateway.json" >"$work/gateway.out" 2>&1 &
job_pid=$!
pids+=("$job_pid")
for _ in $(seq 1 100); do [ -s "$work/gateway.json" ] && break; sleep 0.1; done
cat >"$work/gateway.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: direct
    static_configs:
      - targets: ["127.0.0.1:$job_port"]
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$gw_port"]
YAML
start_prometheus "$work/gateway.yml"
for _ in $(seq 1 30); do
  sleep 1
  up="$(promql 'sum(up)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')"
  [ "$up" = "2" ] && break
done
sleep 1
check same-quantile "$PROM_URL" direct push_demo "$work/gateway.json"
stop_prometheus
kill "$job_pid" 2>/dev/null || true

echo "-- remote write into Prometheus, native histograms on"
start_prometheus "$empty_config" --web.enable-remote-write-receiver --enable-feature=native-histograms
"$bin" --remote-write "$PROM_URL/api/v1/write" --snapshot "$work/native.json" >"$work/native.out"
check native "$PROM_URL" "$work/native.json"
stop_prometheus

echo "-- remote write into Prometheus, native histograms off: refused once, then classic"
start_prometheus "$empty_config" --web.enable-remote-write-receiver
"$bin" --remote-write "$PROM_URL/api/v1/write" --snapshot "$work/refused.json" >"$work/refused.out"
check classic "$PROM_URL" "$work/refused.json"
refusals="$(curl -fsS "$PROM_URL/metrics" | awk '/^prometheus_http_requests_total\{code="5[0-9][0-9]",handler="\/api\/v1\/write"\}/ {n += $2} END {print n + 0}')"
accepted="$(curl -fsS "$PROM_URL/metrics" | awk '/^prometheus_http_requests_total\{code="204",handler="\/api\/v1\/write"\}/ {n += $2} END {print n + 0}')"
echo "  receiver answered 5xx $refusals time(s), 204 $accepted time(s)"
[ "$refusals" = "1" ] || { echo "expected exactly one refusal" >&2; exit 1; }
[ "$accepted" -ge 2 ] || { echo "expected the classic pushes to be accepted" >&2; exit 1; }
stop_prometheus

echo "-- remote write into VictoriaMetrics (classic series)"
vm_port="$(free_port)"
"$VICTORIA_METRICS" -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" \
  -search.latencyOffset=0s -search.disableCache -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
vm_pid=$!
pids+=("$vm_pid")
wait_http "http://127.0.0.1:$vm_port/health"
"$bin" --remote-write "http://127.0.0.1:$vm_port/api/v1/write" --native off \
  --snapshot "$work/vm.json" >"$work/vm.out"
curl -fsS "http://127.0.0.1:$vm_port/internal/force_flush" >/dev/null
# Flushed rows become searchable within a second or so (bounded: 10 s).
for _ in $(seq 1 20); do
  curl -fsS --get "http://127.0.0.1:$vm_port/api/v1/query" \
    --data-urlencode 'query=push_demo_latency_seconds_count' | grep -q '"value"' && break
  sleep 0.5
done
check classic "http://127.0.0.1:$vm_port" "$work/vm.json"
kill "$vm_pid" 2>/dev/null || true

echo "-- OTLP/HTTP"
otlp_port="$(free_port)"
mkdir -p "$work/otlp"
"$OTLP_PYTHON" scripts/push_check.py otlp-receiver "$otlp_port" "$work/otlp" &
pids+=($!)
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $otlp_port), 1)" 2>/dev/null && break
  sleep 0.1
done
"$bin" --otlp "http://127.0.0.1:$otlp_port" --snapshot "$work/otlp.json" >"$work/otlp.out"
check otlp "$work/otlp" "$work/otlp.json"

echo "push e2e: ok"
