#!/usr/bin/env python3
"""Checks for scripts/push-e2e.sh: what a receiver holds against the snapshot that
examples/push.rs wrote (--snapshot), and a tiny OTLP/HTTP receiver.

Usage:
  push_check.py classic URL SNAPSHOT [MATCHER]  count, sum and p99 of the classic series
  push_check.py native URL SNAPSHOT             the same of the native histogram
  push_check.py same-quantile URL JOB_A JOB_B SNAPSHOT  one p99 through two scrape jobs
  push_check.py otlp-receiver PORT DIR          saves each POST body as DIR/<n>.pb
  push_check.py otlp DIR SNAPSHOT               the last body, bucket by bucket
"""

import glob
import http.server
import json
import math
import os
import sys
import urllib.parse
import urllib.request

NAME = "push_demo_latency_seconds"


def query(url, promql):
    q = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as r:
        result = json.load(r)["data"]["result"]
    if len(result) != 1:
        raise SystemExit(f"{promql}: expected one series, got {result}")
    return float(result[0]["value"][1])


def close(a, b, rel=1e-9):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def classic_quantile(q, classic):
    """Prometheus's bucketQuantile over (le, cumulative count) pairs."""
    buckets = sorted((float(le), float(c)) for le, c in classic)
    total = buckets[-1][1]
    rank = q * total
    b = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count)


def native_quantile(q, snap):
    """Prometheus 2.42's histogramQuantile (linear within the bucket) over native buckets."""
    scale = 2 ** snap["schema"]
    total = snap["count"]
    rank, seen = q * total, 0
    for index, count in sorted(snap["native"], key=lambda b: -math.inf if b[0] is None else b[0]):
        seen += count
        if seen >= rank:
            lower, upper = (0.0, 0.0) if index is None else (2 ** ((index - 1) / scale), 2 ** (index / scale))
            rank -= seen - count
            return lower + (upper - lower) * (rank / count)
    raise SystemExit("rank beyond the buckets")


def load(path):
    with open(path) as f:
        snap = json.load(f)
    assert snap["count"] == snap["recorded"], f"the registry lost observations: {snap}"
    return snap


def report(what, got, want, ok):
    print(f"  {what}: receiver {got!r}, snapshot {want!r} -> {'ok' if ok else 'MISMATCH'}")
    return ok


def classic(url, path, matcher=""):
    snap = load(path)
    sel = "{" + matcher + "}" if matcher else ""
    count = query(url, f"sum({NAME}_count{sel})")
    total = query(url, f"sum({NAME}_sum{sel})")
    p99 = query(url, f"histogram_quantile(0.99, sum by (le) ({NAME}_bucket{sel}))")
    want = classic_quantile(0.99, snap["classic"])
    ok = report("count", count, snap["count"], count == snap["count"])
    ok &= report("sum", total, snap["sum"], close(total, snap["sum"]))
    ok &= report("p99", p99, want, close(p99, want, 1e-6))
    if not ok:
        raise SystemExit(1)


def native(url, path):
    snap = load(path)
    count = query(url, f"histogram_count({NAME})")
    total = query(url, f"histogram_sum({NAME})")
    p99 = query(url, f"histogram_quantile(0.99, {NAME})")
    want = native_quantile(0.99, snap)
    ok = report("count", count, snap["count"], count == snap["count"])
    ok &= report("sum", total, snap["sum"], close(total, snap["sum"]))
    ok &= report("p99", p99, want, close(p99, want, 1e-6))
    if not ok:
        raise SystemExit(1)


def same_quantile(url, job_a, job_b, path):
    snap = load(path)
    values = []
    for job in (job_a, job_b):
        values.append(query(url, f'histogram_quantile(0.99, sum by (le) ({NAME}_bucket{{job="{job}"}}))'))
        count = query(url, f'sum({NAME}_count{{job="{job}"}})')
        report(f"count via {job}", count, snap["count"], count == snap["count"]) or sys.exit(1)
    want = classic_quantile(0.99, snap["classic"])
    ok = report(f"p99 via {job_a} and via {job_b}", values[0], values[1], values[0] == values[1])
    ok &= report("p99", values[1], want, close(values[1], want, 1e-6))
    if not ok:
        raise SystemExit(1)


def otlp_receiver(port, directory):
    class Handler(http.server.BaseHTTPRequestHandler):
        n = 0

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            Handler.n += 1
            with open(os.path.join(directory, f"{Handler.n:04d}.pb"), "wb") as f:
                f.write(body)
            with open(os.path.join(directory, f"{Handler.n:04d}.type"), "w") as f:
                f.write(self.headers.get("Content-Type", ""))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


def otlp(directory, path):
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.metrics.v1 import metrics_pb2

    snap = load(path)
    bodies = sorted(glob.glob(os.path.join(directory, "*.pb")))
    assert bodies, "no OTLP request arrived"
    with open(bodies[-1].replace(".pb", ".type")) as f:
        assert f.read() == "application/x-protobuf"
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    with open(bodies[-1], "rb") as f:
        request.ParseFromString(f.read())
    rm = request.resource_metrics[0]
    resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
    assert resource["service.name"] == "push-demo", resource
    assert "service.version" in resource and resource["telemetry.sdk.language"] == "rust", resource
    metrics = {m.name: m for m in rm.scope_metrics[0].metrics}
    requests = metrics["push_demo_requests"]
    assert requests.sum.is_monotonic
    assert requests.sum.aggregation_temporality == metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    report("counter", requests.sum.data_points[0].as_int, snap["recorded"],
           requests.sum.data_points[0].as_int == snap["recorded"]) or sys.exit(1)
    m = metrics[NAME]
    assert m.unit == "s", m.unit
    assert m.WhichOneof("data") == "exponential_histogram"
    assert m.exponential_histogram.aggregation_temporality == metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    p = m.exponential_histogram.data_points[0]
    attrs = {kv.key: kv.value.string_value for kv in p.attributes}
    assert attrs == {"run": "push-demo"}, attrs
    assert 0 < p.start_time_unix_nano <= p.time_unix_nano
    ok = report("count", p.count, snap["count"], p.count == snap["count"])
    ok &= report("scale", p.scale, snap["schema"], p.scale == snap["schema"])
    ok &= report("sum", p.sum, snap["sum"], p.sum == snap["sum"])
    zero = sum(c for i, c in snap["native"] if i is None)
    ok &= report("zero count", p.zero_count, zero, p.zero_count == zero)
    want_max = snap["max"] if snap["max_is_exact"] else None
    got_max = p.max if p.HasField("max") else None
    ok &= report("max", got_max, want_max, got_max == want_max)
    got_min = p.min if p.HasField("min") else None
    ok &= report("min (not tracked exactly, so absent)", got_min, None, got_min is None)
    positive = [(i, c) for i, c in snap["native"] if i is not None]
    lowest = min(i for i, _ in positive)
    ok &= report("positive offset (lowest native index - 1)", p.positive.offset, lowest - 1,
                 p.positive.offset == lowest - 1)
    want = [0] * (max(i for i, _ in positive) - lowest + 1)
    for i, c in positive:
        want[i - lowest] = c
    got = list(p.positive.bucket_counts)
    ok &= report(f"{len(want)} positive bucket counts", "equal" if got == want else got, "", got == want)
    ok &= report("negative buckets", len(p.negative.bucket_counts), 0, len(p.negative.bucket_counts) == 0)
    print(f"  {len(bodies)} OTLP requests received")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {
        "classic": classic,
        "native": native,
        "same-quantile": same_quantile,
        "otlp-receiver": otlp_receiver,
        "otlp": otlp,
    }[command](*args)
