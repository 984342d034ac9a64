#!/usr/bin/env python3
"""Drives headless Chromium through the DevTools protocol to check the HTML reports.

  browser_check.py static CHROMIUM PAGE.html REPORT.json SCREENSHOT.png [RUN.json]
  browser_check.py comparison CHROMIUM PAGE.html COMPARISON.json [BASELINE.json CANDIDATE.json]
  browser_check.py live CHROMIUM URL

static: no console error, every chart drew data (pixels of its series' colours on its canvas),
every number in the tables equals the report JSON (the cell's value exactly, its text within
the rounding of its format), a screenshot; with the run record, a chart of calls in flight per
run whose points equal the record's intervals. comparison: the same against the comparison
JSON, and with the records compared, the in-flight charts of every run and their overlay.
live: the page refreshes itself from the JSON and two reads a few seconds apart differ.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
]


class Browser:
    def __init__(self, chromium):
        self.profile = tempfile.mkdtemp(prefix="perf-instrument-chromium-")
        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.errors = []
        self.events = []
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(method)

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)

    def _event(self, msg):
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            e = params["entry"]
            self.errors.append(f"log: {e.get('text')} {e.get('url', '')}")
        self.events.append(method)

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise SystemExit(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def pump(self, seconds):
        """Reads events for `seconds`."""
        end = time.time() + seconds
        self.ws.settimeout(0.2)
        try:
            while time.time() < end:
                try:
                    self._event(json.loads(self.ws.recv()))
                except websocket.WebSocketTimeoutException:
                    pass
        finally:
            self.ws.settimeout(30)

    def open(self, url, width=1280, height=1800):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.time() + 30
        while "Page.loadEventFired" not in self.events:
            if time.time() > deadline:
                raise SystemExit(f"{url} did not load")
            self.pump(0.2)
        self.pump(0.5)

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise SystemExit(f"evaluation failed: {r['exceptionDetails']}")
        return r["result"].get("value")


# Per chart: finite points per series, and pixels on its canvas within a small distance of each
# series' stroke colour (axes, grid, phase shading and text use other colours).
PROBE = r"""
(() => {
  const out = { charts: [], cells: [] };
  for (const c of window.__charts || []) {
    const cv = c.plot.root.querySelector("canvas");
    const img = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    const cols = c.colors.map(h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)));
    const hits = cols.map(() => 0);
    for (let i = 0; i < img.length; i += 4) {
      if (img[i + 3] < 200) continue;
      cols.forEach((c, k) => {
        if (Math.abs(img[i] - c[0]) + Math.abs(img[i + 1] - c[1]) + Math.abs(img[i + 2] - c[2]) < 40) hits[k]++;
      });
    }
    const points = c.data.slice(1).map(s => s.filter(v => v != null && isFinite(v)).length);
    const chart = { title: c.title, kind: c.kind, hits, points };
    if (c.kind === "in_flight" || c.kind === "in_flight_overlay") {
      chart.data = c.data;
      chart.label = c.label;
      chart.labels = c.labels;
    }
    out.charts.push(chart);
  }
  document.querySelectorAll("td[data-key]").forEach(td => out.cells.push({
    table: td.closest("table").dataset.table, row: td.closest("tr").dataset.row,
    key: td.dataset.key, value: td.dataset.value === undefined ? null : Number(td.dataset.value),
    text: td.textContent }));
  return out;
})()
"""

UNITS = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def half_unit(digits, scale=1.0):
    """Half a unit in the last place of `digits` (the rounding of a number shown that way)."""
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return 0.5 * 10 ** -decimals * scale


def parse_text(text, kind):
    """The number a cell shows, in the JSON's unit."""
    if text == "-":
        return None
    if kind == "seconds":
        m = re.fullmatch(r"(-?[0-9.]+)(ns|µs|ms|s)?", text)
        if not m:
            raise ValueError(text)
        scale = UNITS[m.group(2) or "s"]
        return float(m.group(1)) * scale, half_unit(m.group(1), scale)
    if kind == "ratio":
        return float(text.rstrip("%")) / 100
    return float(text)


def close(a, b, kind):
    if kind == "int":
        return a == b
    if kind == "seconds":
        # The text rounds to its last digit: within half a unit of it (and float noise).
        shown, half = a
        return abs(shown - b) <= half * 1.0001 + 1e-15
    tol = {"ratio": 0.0006, "rate": 0.051}.get(kind, 0.0006)
    if kind == "rate":
        return abs(a - b) <= tol
    return abs(a - b) <= max(tol, 0.001 * abs(b))


def check_charts(probe, failures):
    if not probe["charts"]:
        failures.append("no chart on the page")
    for c in probe["charts"]:
        drawn = [h for h, p in zip(c["hits"], c["points"]) if p > 0]
        if not any(p >= 2 for p in c["points"]):
            failures.append(f"chart '{c['title']}': no series with two points")
        elif not drawn or max(drawn) < 10:
            failures.append(f"chart '{c['title']}': no data drawn on its canvas (pixels {c['hits']})")
    return len(probe["charts"])


def check_cells(cells, expected, failures):
    """expected: {(table, row, key): (value, kind)}"""
    seen = set()
    for cell in cells:
        k = (cell["table"], cell["row"], cell["key"])
        if k not in expected:
            continue
        seen.add(k)
        want, kind = expected[k]
        if want is None:
            if cell["text"] != "-":
                failures.append(f"{k}: shows {cell['text']!r}, the JSON has null")
            continue
        if cell["value"] != want:
            failures.append(f"{k}: value {cell['value']} != JSON {want}")
        shown = parse_text(cell["text"], kind)
        if shown is None or not close(shown, want, kind):
            failures.append(f"{k}: text {cell['text']!r} does not show {want}")
    missing = set(expected) - seen
    for k in sorted(missing)[:10]:
        failures.append(f"{k}: not in the page")
    return len(seen)


def load_runs(path):
    runs = json.load(open(path))
    return runs if isinstance(runs, list) else [runs]


def in_flight_columns(run):
    """running_max, running and queued of every interval of a run record, in order."""
    cols = {"running_max": [], "running": [], "queued": []}
    for phase in run["phases"]:
        for interval in phase["intervals"]:
            f = interval.get("in_flight") or {}
            for k in cols:
                cols[k].append(f.get(k))
    return cols


def check_in_flight(charts, runs, failures):
    """runs: {label prefix: run record}. Each run has a chart of calls in flight whose series
    equal its record's intervals; an overlay, when there is one, carries each run's most
    running calls. Returns the number of points compared."""
    compared = 0
    per_run = [c for c in charts if c["kind"] == "in_flight"]
    for prefix, run in runs.items():
        want = in_flight_columns(run)
        if not any(v is not None for v in want["running_max"]):
            failures.append(f"{prefix}: its run record has no calls in flight")
            continue
        mine = [c for c in per_run if c["label"] == prefix or c["label"].startswith(prefix + " (")]
        if len(mine) != 1:
            failures.append(f"{prefix}: {len(mine)} charts of calls in flight, expected 1")
            continue
        data = mine[0]["data"]
        for i, key in enumerate(("running_max", "running", "queued")):
            if data[i + 1] != want[key]:
                failures.append(f"{prefix}: chart {key} {data[i + 1]} != record {want[key]}")
            compared += len(want[key])
        for overlay in (c for c in charts if c["kind"] == "in_flight_overlay"):
            idx = [k for k, l in enumerate(overlay["labels"])
                   if l == prefix or l.startswith(prefix + " (")]
            if len(idx) != 1:
                failures.append(f"overlay: {len(idx)} series of {prefix}, expected 1")
                continue
            shown = [v for v in overlay["data"][idx[0] + 1] if v is not None]
            if shown != [v for v in want["running_max"] if v is not None]:
                failures.append(f"overlay {prefix}: {shown} != record {want['running_max']}")
            compared += len(shown)
    return compared


def check_page(b, page, expected, failures):
    """Opens `page` and checks its charts drew and its table cells equal `expected`."""
    b.open("file://" + os.path.abspath(page))
    probe = b.eval(PROBE)
    return probe, check_charts(probe, failures), check_cells(probe["cells"], expected, failures)


def static(chromium, page, report_json, screenshot, run_json=None):
    report = json.load(open(report_json))
    expected = {}
    for t in report["tables"]:
        for row in t["rows"]:
            for key, kind in (("count", "int"), ("rate_per_second", "rate"), ("p50", None),
                              ("p95", None), ("p99", None), ("p999", None), ("max", None)):
                expected[(t["title"], row["name"], key)] = (row[key], kind or row["unit"])
    b = Browser(chromium)
    failures = []
    try:
        probe, charts, cells = check_page(b, page, expected, failures)
        in_flight = 0
        if run_json:
            runs = {f"run {i + 1}": r for i, r in enumerate(load_runs(run_json))}
            in_flight = check_in_flight(probe["charts"], runs, failures)
        shot = b.call("Page.captureScreenshot", format="png")
        import base64
        os.makedirs(os.path.dirname(screenshot) or ".", exist_ok=True)
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        failures += b.errors
    finally:
        b.close()
    finish(f"static report: {charts} charts drew data, {cells} table cells equal the JSON, "
           f"{in_flight} in-flight points equal the run record, screenshot {screenshot}", failures)


def comparison(chromium, page, comparison_json, baseline_json=None, candidate_json=None):
    c = json.load(open(comparison_json))
    expected = {}
    for row in c["rows"]:
        name = f"{row['table']}: {row['name']}"
        for side, fig in (("old", row["old"]), ("new", row["new"])):
            for key, kind in (("p50", None), ("p99", None), ("max", None), ("throughput", "rate")):
                expected[("comparison", name, f"{side}.{key}")] = (fig[key], kind or row["unit"])
        expected[("comparison", name, "change")] = (row["change"], "ratio")
    b = Browser(chromium)
    failures = []
    try:
        probe, charts, cells = check_page(b, page, expected, failures)
        in_flight = 0
        if baseline_json and candidate_json:
            runs = {f"baseline {i + 1}": r for i, r in enumerate(load_runs(baseline_json))}
            runs.update({f"candidate {i + 1}": r for i, r in enumerate(load_runs(candidate_json))})
            if not any(c["kind"] == "in_flight_overlay" for c in probe["charts"]):
                failures.append("no overlay of the calls in flight")
            in_flight = check_in_flight(probe["charts"], runs, failures)
        failures += b.errors
    finally:
        b.close()
    finish(f"comparison: {charts} charts drew data, {cells} table cells equal the JSON, "
           f"{in_flight} in-flight points equal the run records", failures)


def live(chromium, url):
    count = ("(() => Array.from(document.querySelectorAll('td[data-key=count]'))"
             ".reduce((s, td) => s + Number(td.dataset.value), 0))()")
    b = Browser(chromium)
    failures = []
    try:
        b.open(url)
        deadline = time.time() + 20
        while not b.eval("window.__loads || 0"):
            if time.time() > deadline:
                status = b.eval("document.getElementById('status').textContent")
                raise SystemExit(f"live page never loaded its JSON; status: {status}")
            b.pump(0.3)
        first, loads = b.eval(count), b.eval("window.__loads")
        deadline = time.time() + 20
        while b.eval("window.__loads") <= loads:
            if time.time() > deadline:
                raise SystemExit("live page did not refresh itself")
            b.pump(0.3)
        second = b.eval(count)
        probe = b.eval(PROBE)
        charts = check_charts(probe, failures)
        if not first or first == second:
            failures.append(f"live page: counts did not change between refreshes ({first} then {second})")
        failures += b.errors
    finally:
        b.close()
    finish(f"live page: observations {first} then {second} on its own refresh, {charts} charts", failures)


def finish(summary, failures):
    if failures:
        print("browser check FAILED:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        sys.exit(1)
    print(summary)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"static": static, "comparison": comparison, "live": live}[mode](*args)
