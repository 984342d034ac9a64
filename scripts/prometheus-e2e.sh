#!/usr/bin/env bash
# End to end: two real Prometheus servers (Debian package, loopback, temporary data dirs,
# bounded time), one ingesting classic histograms and one with
# --enable-feature=native-histograms (which stores native histograms instead of the classic
# series), scrape two instances of examples/event_pipeline.rs on different ports. Through the
# Prometheus HTTP API it checks, on both: both targets up with no scrape error; every query and
# every variable of the Grafana dashboard (docs/grafana/perf-instrument.json, as
# scripts/dashboard.py writes it) returns data, a finite value or a native histogram. On the
# classic one: the end-to-end p99 across both instances, histogram_quantile(0.99, sum by (le)
# (rate(...[1m]))), is finite; per instance, the p99 Prometheus computes from the classic
# buckets of its last scrape (the same observations as the report, but for the last second) is
# within 10% of the p99 its report printed, which is what the default duration buckets (two per
# octave) are chosen for; saga_active is never negative. Every process runs under a time limit.
# Usage: scripts/prometheus-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
source scripts/prometheus.sh
install_promtool

python3 scripts/dashboard.py --check
cargo build -q -p perf-instrument --example event_pipeline --features protobuf
bin="${CARGO_TARGET_DIR:-target}/debug/examples/event_pipeline"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_prometheus
  if [ -n "${CLASSIC_PID:-}" ]; then kill "$CLASSIC_PID" 2>/dev/null || true; wait "$CLASSIC_PID" 2>/dev/null || true; fi
  if [ -n "${CLASSIC_DIR:-}" ]; then rm -rf "$CLASSIC_DIR"; fi
  rm -rf "$work"
}
trap cleanup EXIT

run_seconds=45
ports=()
for n in 1 2; do
  port="$(free_port)"
  timeout $((run_seconds + 60)) "$bin" --listen "127.0.0.1:$port" --duration "$run_seconds" --rate 150 \
    --report-json "$work/report-$n.json" >"$work/instance-$n.log" 2>&1 &
  pids+=($!)
  ports+=("$port")
done
for port in "${ports[@]}"; do wait_http "http://127.0.0.1:$port/metrics"; done

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: event_pipeline
    static_configs:
      - targets: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
YAML
"$PROMTOOL" check config "$work/prometheus.yml" >/dev/null
start_prometheus "$work/prometheus.yml"
CLASSIC_PID=$PROM_PID CLASSIC_URL=$PROM_URL CLASSIC_DIR=$PROM_DIR
start_prometheus "$work/prometheus.yml" --enable-feature=native-histograms
NATIVE_URL=$PROM_URL

# Let the instances run and Prometheus gather most of the run, then check while they still serve.
sleep $((run_seconds - 15))
python3 - "$work" docs/grafana/perf-instrument.json "$CLASSIC_URL" "$NATIVE_URL" <<'PY'
import json, math, re, sys, urllib.parse, urllib.request
work, dashboard, classic, native = sys.argv[1:5]

def get(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]

board = json.load(open(dashboard))
# What Grafana does with the variables when "All" is chosen, and with $__rate_interval.
def expand(expr):
    expr = expr.replace("$__rate_interval", "1m")
    return re.sub(r"\$(instance|pipeline|stage)", ".*", expr)
exprs = [expand(t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
variables = [v for v in board["templating"]["list"] if v["type"] == "query"]

def has_data(base, expr):
    for r in get(base, "/api/v1/query", {"query": expr})["result"]:
        if "histogram" in r:
            return True
        if math.isfinite(float(r["value"][1])):
            return True
    return False

for name, base in (("classic", classic), ("native", native)):
    targets = get(base, "/api/v1/targets", {})["activeTargets"]
    assert len(targets) == 2, targets
    for t in targets:
        assert t["health"] == "up" and t["lastError"] == "", f"{name}: target not healthy: {t}"
    empty = [e for e in exprs if not has_data(base, e)]
    assert not empty, f"{name}: dashboard queries with no data:\n  " + "\n  ".join(empty)
    for v in variables:
        m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["definition"])
        selector, label = m.group(1), m.group(2)
        if not selector.startswith("{"):
            selector = "{__name__=\"" + selector + "\"}"
        values = get(base, f"/api/v1/label/{label}/values", {"match[]": expand(selector)})
        assert values, f"{name}: variable {v['name']} has no values"
    print(f"{name} Prometheus: 2 targets up; all {len(exprs)} dashboard queries and {len(variables)} variables return data")

# Native ingestion stores no classic series; the dashboard's `or` branches are what read it.
assert not get(native, "/api/v1/query", {"query": "pipeline_end_to_end_duration_seconds_bucket"})["result"]
print("while running: targets and dashboard checked")
PY

# The instances finish and write their reports; the last scrapes came just before. The [1m]
# window, evaluated now, covers the whole 45 s run: the same observations as the reports.
for p in "${pids[@]}"; do wait "$p"; done
pids=()
PROM_URL="$CLASSIC_URL" python3 - "$work" "${ports[@]}" <<'PY'
import json, math, os, sys, urllib.parse, urllib.request
work, ports = sys.argv[1], sys.argv[2:]

def query(q):
    url = f"{os.environ['PROM_URL']}/api/v1/query?{urllib.parse.urlencode({'query': q})}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]

q = 'histogram_quantile(0.99, sum by (le) (rate(pipeline_end_to_end_duration_seconds_bucket[1m])))'
p99 = float(query(q)[0]["value"][1])
assert math.isfinite(p99), p99
low = query("min(min_over_time(saga_active[5m]))")
assert low and float(low[0]["value"][1]) >= 0, f"saga_active went negative: {low}"
print(f"across both instances: end-to-end p99 {p99 * 1e3:.3f} ms; saga_active never negative")
# Per instance, over the same observations as its report: the last scraped cumulative buckets
# (all but the last second of the run), not a rate, whose window would start at the first scrape.
q = ('histogram_quantile(0.99, sum by (le, instance) '
     '(last_over_time(pipeline_end_to_end_duration_seconds_bucket[2m])))')
classic = {r["metric"]["instance"]: float(r["value"][1]) for r in query(q)}
# The classic bounds: `histogram_quantile` interpolates linearly inside one bucket (two per
# octave, so up to 41% from the true value), and the report's p99 carries the schema's 4.3%. So
# the check is on buckets, not a percentage: the two values must fall in the same classic bucket
# or in neighbouring ones (the scraped buckets miss the run's last second).
bounds = sorted({float(r["metric"]["le"]) for r in query(
    "last_over_time(pipeline_end_to_end_duration_seconds_bucket[2m])")} - {math.inf})
def bucket(v):
    return next((i for i, le in enumerate(bounds) if v <= le), len(bounds))
for n, port in enumerate(ports, start=1):
    report = json.load(open(f"{work}/report-{n}.json"))
    stages = next(t for t in report["tables"] if t["title"] == "stages")
    reported = next(r for r in stages["rows"] if r["name"] == "orders/end_to_end")["p99"]
    got = classic[f"127.0.0.1:{port}"]
    error = got / reported - 1
    b_reported, b_got = bucket(reported), bucket(got)
    print(f"instance {n}: end-to-end p99 {reported * 1e3:.3f} ms in its report (classic bucket "
          f"{b_reported}), {got * 1e3:.3f} ms from classic buckets in Prometheus (bucket {b_got}, "
          f"{error:+.1%})")
    assert abs(b_got - b_reported) <= 1, (
        f"instance {n}: classic p99 {got} in bucket {b_got}, report's {reported} in {b_reported}")
print("ok")
PY
