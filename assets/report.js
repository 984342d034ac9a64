// Renders a perf-instrument report, comparison or live report from its JSON, with uPlot charts.
// Every number comes from the JSON; fields this file does not know are shown as they are.
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  var SIDE = { baseline: "#1f77b4", candidate: "#d62728" };
  var charts = [];
  window.__charts = charts;

  function el(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      if (arguments[i] != null) e.appendChild(arguments[i]);
    }
    return e;
  }

  function duration(s) {
    var a = Math.abs(s);
    if (a === 0) return "0";
    if (a < 1e-6) return (s * 1e9).toFixed(0) + "ns";
    if (a < 1e-3) return (s * 1e6).toFixed(1) + "\u00b5s";
    if (a < 1) return (s * 1e3).toFixed(2) + "ms";
    return s.toFixed(2) + "s";
  }

  function value(v, unit) {
    if (v == null) return "-";
    if (typeof v !== "number") return typeof v === "object" ? JSON.stringify(v) : String(v);
    if (unit === "seconds") return duration(v);
    if (unit === "rate") return v.toFixed(1);
    if (unit === "ratio") return (v * 100).toFixed(1) + "%";
    if (unit === "int") return String(v);
    return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 0 : 3);
  }

  function cell(v, unit, key) {
    var td = el("td", { text: value(v, unit), "data-key": key });
    if (typeof v === "number") td.setAttribute("data-value", String(v));
    return td;
  }

  // The percentile axis: 9s on a log scale (x = -log10(1 - q)), the maximum one step past 99.99%.
  var MAX_X = 5;
  function nines(q) { return q >= 1 ? MAX_X : -Math.log10(1 - q); }
  function ninesLabel(x) {
    if (x >= MAX_X - 1e-9) return "max";
    var p = 100 * (1 - Math.pow(10, -x));
    return (Math.round(p * 1000) / 1000) + "%";
  }

  function destroyCharts() {
    while (charts.length) charts.pop().plot.destroy();
  }

  function chart(parent, title, opts, data, extra) {
    var box = el("div", { class: "chart" }, el("div", { class: "title", text: title }));
    parent.appendChild(box);
    opts.title = undefined;
    opts.width = opts.width || 560;
    opts.height = opts.height || 240;
    var plot = new uPlot(opts, data, box);
    var colors = opts.series.slice(1).map(function (s) { return s.stroke; });
    var record = { title: title, plot: plot, colors: colors, data: data };
    for (var k in extra || {}) record[k] = extra[k];
    charts.push(record);
    return plot;
  }

  function yAxis(unit, scale, side) {
    return {
      scale: scale || "y",
      side: side == null ? 3 : side,
      size: 80,
      values: function (u, splits) {
        return splits.map(function (v) { return v == null ? "" : value(v, unit); });
      },
    };
  }

  // One chart of percentile spectra: a series per (label, points).
  function spectrum(parent, title, unit, lines) {
    var xs = [];
    lines.forEach(function (l) {
      (l.points || []).forEach(function (p) { if (xs.indexOf(p.quantile) < 0) xs.push(p.quantile); });
    });
    xs.sort(function (a, b) { return a - b; });
    if (!xs.length) return;
    var data = [xs.map(nines)];
    var series = [{ label: "percentile", value: function (u, x) { return x == null ? "" : ninesLabel(x); } }];
    lines.forEach(function (l, i) {
      var by = {};
      (l.points || []).forEach(function (p) { by[p.quantile] = p.value > 0 ? p.value : null; });
      data.push(xs.map(function (q) { return q in by ? by[q] : null; }));
      series.push({
        label: l.label, stroke: l.color || PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
        value: function (u, v) { return v == null ? "-" : value(v, unit); },
      });
    });
    chart(parent, title, {
      series: series,
      scales: { x: { time: false, range: [0, MAX_X + 0.05] }, y: { distr: 3 } },
      axes: [
        {
          splits: function () { return [Math.log10(2), 1, 2, 3, 4, MAX_X]; },
          values: function (u, splits) { return splits.map(ninesLabel); },
        },
        yAxis(unit),
      ],
    }, data, { kind: "spectrum" });
  }

  // Shades the load phases behind a timeline and names them.
  function phasesPlugin(phases) {
    var fills = ["rgba(0,0,0,0.04)", "rgba(31,119,180,0.08)", "rgba(255,127,14,0.10)", "rgba(44,160,44,0.08)"];
    return {
      hooks: {
        drawAxes: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          phases.forEach(function (p, i) {
            var x0 = u.valToPos(p.start, "x", true), x1 = u.valToPos(p.end, "x", true);
            ctx.fillStyle = p.in_verdict ? fills[(i % 3) + 1] : fills[0];
            ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
            ctx.fillStyle = "#555";
            ctx.font = (11 * devicePixelRatio) + "px sans-serif";
            if (ctx.measureText(p.name).width + 8 * devicePixelRatio < x1 - x0) {
              ctx.fillText(p.name, x0 + 4 * devicePixelRatio, u.bbox.top + u.bbox.height - 4 * devicePixelRatio);
            }
          });
          ctx.restore();
        }],
      },
    };
  }

  function timeline(parent, run) {
    var pts = run.points;
    if (!pts || !pts.t.length) return;
    var t = pts.t;
    var lo = Math.min.apply(null, [t[0]].concat((run.phases || []).map(function (p) { return p.start; })));
    var hi = Math.max.apply(null, [t[t.length - 1]].concat((run.phases || []).map(function (p) { return p.end; })));
    var x = function () { return { time: false, range: [lo, hi] }; };
    chart(parent, run.label + ": throughput and errors per second", {
      plugins: [phasesPlugin(run.phases || [])],
      series: [
        { label: "s" },
        { label: "completed/s", stroke: "#1f77b4", width: 2 },
        { label: "errors/s", stroke: "#d62728", width: 2 },
        { label: "dropped/s", stroke: "#7f7f7f", width: 2 },
      ],
      scales: { x: x() },
      axes: [{}, yAxis("rate")],
    }, [t, pts.throughput, pts.errors, pts.dropped], { kind: "timeline" });
    chart(parent, run.label + ": latency p50 and p99 per interval", {
      plugins: [phasesPlugin(run.phases || [])],
      series: [
        { label: "s" },
        { label: "p50", stroke: "#2ca02c", width: 2, spanGaps: true },
        { label: "p99", stroke: "#9467bd", width: 2, spanGaps: true },
      ],
      scales: { x: x(), y: { distr: 3 } },
      axes: [{}, yAxis("seconds")],
    }, [t, pts.p50.map(pos), pts.p99.map(pos)], { kind: "timeline" });
    if (!has(pts.running_max)) return;
    // Running calls on the left axis (at most the pool's threads), the queue on the right:
    // a backlog of thousands would flatten the running line on one axis.
    chart(parent, run.label + ": calls in flight per interval", {
      plugins: [phasesPlugin(run.phases || [])],
      series: [
        { label: "s" },
        { label: "running, most at once", stroke: "#ff7f0e", width: 2, spanGaps: true },
        { label: "running at end", stroke: "#17becf", width: 2, spanGaps: true },
        { label: "queued at end", stroke: "#8c564b", width: 2, spanGaps: true, scale: "queued" },
      ],
      scales: { x: x(), y: { range: zeroUp }, queued: { range: zeroUp } },
      axes: [{}, countAxis(), Object.assign(countAxis("queued", 1), { grid: { show: false } })],
    }, [t, pts.running_max, pts.running, pts.queued], { kind: "in_flight", label: run.label });
  }

  function has(column) {
    return (column || []).some(function (v) { return v != null; });
  }

  // Ticks of a count: whole numbers only.
  var COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6];
  function countAxis(scale, side) {
    var a = yAxis("int", scale, side);
    a.incrs = COUNT_INCRS;
    return a;
  }

  // A linear axis from 0 to a little above the largest value (at least 1).
  function zeroUp(u, lo, hi) { return [0, Math.max(1, (hi || 0) * 1.1)]; }

  // The calls in flight of every run on one chart, each from the start of its run: baseline
  // runs in the baseline's colour, candidate runs in the candidate's.
  function inFlightOverlay(parent, runs) {
    runs = runs.filter(function (r) { return r.points && has(r.points.running_max); });
    if (!runs.length) return;
    var xs = [];
    runs.forEach(function (r) { r.points.t.forEach(function (v) { if (xs.indexOf(v) < 0) xs.push(v); }); });
    xs.sort(function (a, b) { return a - b; });
    var data = [xs];
    var series = [{ label: "s" }];
    runs.forEach(function (r) {
      var by = {};
      r.points.t.forEach(function (v, i) { by[v] = r.points.running_max[i]; });
      data.push(xs.map(function (v) { return v in by ? by[v] : null; }));
      var side = String(r.label).indexOf("candidate") === 0 ? "candidate" : "baseline";
      series.push({ label: r.label, stroke: SIDE[side], width: 2, spanGaps: true,
        dash: side === "candidate" ? [6, 3] : undefined });
    });
    chart(parent, "calls running, most at once per interval: baseline and candidate", {
      plugins: [phasesPlugin(runs[0].phases || [])],
      series: series,
      scales: { x: { time: false }, y: { range: zeroUp } },
      axes: [{}, countAxis()],
    }, data, { kind: "in_flight_overlay", labels: runs.map(function (r) { return r.label; }) });
  }

  function pos(v) { return v != null && v > 0 ? v : null; }

  // A threshold reads "value (set by where)"; other objects as their JSON.
  function show(v) {
    if (v && typeof v === "object" && "value" in v && "set_by" in v) {
      return v.value + " (" + (/^fixed/.test(v.set_by) ? v.set_by : "set by " + v.set_by) + ")";
    }
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  function findings(root, list, title, none) {
    root.appendChild(el("h2", { text: title || "Findings" }));
    if (!list || !list.length) {
      root.appendChild(el("p", { class: "none", text: none || "No findings." }));
      return;
    }
    list.forEach(function (f) {
      var box = el("div", { class: "finding" + (f.severity ? " " + f.severity : "") },
        el("b", { text: String(f.kind || "").replace(/_/g, " ") }),
        el("span", { text: (f.subject ? f.subject + ": " : "") + (f.summary || "") }));
      var dl = el("dl");
      Object.keys(f).forEach(function (k) {
        if (k === "kind" || k === "subject" || k === "summary") return;
        var v = f[k];
        if (v == null || (Array.isArray(v) && !v.length)) return;
        var text = Array.isArray(v) ? v.map(show).join("; ") : show(v);
        dl.appendChild(el("dt", { text: k.replace(/_/g, " ") }));
        dl.appendChild(el("dd", { text: text }));
      });
      if (dl.childNodes.length) box.appendChild(dl);
      root.appendChild(box);
    });
  }

  var ROW_COLUMNS = [["count", "count", "int"], ["rate_per_second", "rate/s", "rate"], ["p50", "p50"],
    ["p95", "p95"], ["p99", "p99"], ["p999", "p99.9"], ["max", "max"]];

  function reportBody(root, r, runs) {
    var m = r.machine || {};
    var cfg = r.config || {};
    root.appendChild(el("p", { class: "meta", text:
      (r.window_seconds != null ? "window " + r.window_seconds.toFixed(1) + " s" : "since start (cumulative)") +
      " \u00b7 " + m.cores + " cores, " + m.cpu_model + ", clock " + m.clock_source + ", " + m.os +
      ", " + m.profile + " build" +
      (Object.keys(cfg).length ? " \u00b7 " + Object.keys(cfg).map(function (k) { return k + "=" + cfg[k]; }).join(", ") : "") }));
    findings(root, r.findings);
    if (runs && runs.length) {
      root.appendChild(el("h2", { text: "Timelines" }));
      var tl = el("div", { class: "charts" });
      root.appendChild(tl);
      runs.forEach(function (run) { timeline(tl, run); });
    }
    (r.tables || []).forEach(function (t) {
      root.appendChild(el("h2", { text: t.title }));
      var unit = (t.rows[0] || {}).unit;
      var known = { name: 1, unit: 1, spectrum: 1 };
      ROW_COLUMNS.forEach(function (c) { known[c[0]] = 1; });
      var extra = [];
      t.rows.forEach(function (row) {
        Object.keys(row).forEach(function (k) { if (!known[k] && extra.indexOf(k) < 0) extra.push(k); });
      });
      var head = el("tr", {}, el("th", { text: "name" }));
      ROW_COLUMNS.concat(extra.map(function (k) { return [k, k.replace(/_/g, " ")]; }))
        .forEach(function (c) { head.appendChild(el("th", { text: c[1] })); });
      var table = el("table", { "data-table": t.title }, el("thead", {}, head));
      var body = el("tbody");
      t.rows.forEach(function (row) {
        var tr = el("tr", { "data-row": row.name }, el("td", { text: row.name }));
        ROW_COLUMNS.forEach(function (c) { tr.appendChild(cell(row[c[0]], c[2] || row.unit, c[0])); });
        extra.forEach(function (k) { tr.appendChild(cell(row[k], null, k)); });
        body.appendChild(tr);
      });
      table.appendChild(body);
      root.appendChild(table);
      var withSpectrum = t.rows.filter(function (row) { return row.spectrum && row.spectrum.length; });
      if (withSpectrum.length) {
        var box = el("div", { class: "charts" });
        root.appendChild(box);
        for (var i = 0; i < withSpectrum.length; i += 6) {
          var part = withSpectrum.slice(i, i + 6);
          spectrum(box, t.title + ": percentile spectrum" + (withSpectrum.length > 6 ? " (" + (i / 6 + 1) + ")" : ""), unit,
            part.map(function (row) { return { label: row.name, points: row.spectrum }; }));
        }
      }
    });
  }

  var FIGURES = [["p50", "p50"], ["p99", "p99"], ["max", "max"], ["throughput", "rate/s", "rate"]];

  function comparisonBody(root, data) {
    var c = data.comparison;
    root.appendChild(el("p", { class: "meta", text: c.baseline_runs + " baseline run(s) against " +
      c.candidate_runs + " candidate run(s), decided by " + String(c.decide_by).toLowerCase() }));
    var worse = c.rows.filter(function (r) { return r.judgement === "Worse"; });
    findings(root, worse.map(function (r) {
      return { kind: "worse", subject: r.table + ": " + r.name,
        summary: "changed by " + value(r.change, "ratio") + (r.t != null ? " (t = " + r.t.toFixed(2) + ")" : "") };
    }), "Rows judged worse", "No row judged worse.");
    root.appendChild(el("h2", { text: "Rows" }));
    var head = el("tr", {}, el("th", { text: "table", class: "l" }), el("th", { text: "name", class: "l" }));
    FIGURES.forEach(function (f) {
      head.appendChild(el("th", { text: f[1] + " base" }));
      head.appendChild(el("th", { text: f[1] + " cand" }));
    });
    ["change", "t", "judgement"].forEach(function (k) { head.appendChild(el("th", { text: k })); });
    var body = el("tbody");
    c.rows.forEach(function (r) {
      var tr = el("tr", { "data-row": r.table + ": " + r.name }, el("td", { text: r.table }), el("td", { text: r.name }));
      FIGURES.forEach(function (f) {
        tr.appendChild(cell(r.old[f[0]], f[2] || r.unit, "old." + f[0]));
        tr.appendChild(cell(r.new[f[0]], f[2] || r.unit, "new." + f[0]));
      });
      tr.appendChild(cell(r.change, "ratio", "change"));
      tr.appendChild(cell(r.t, null, "t"));
      var j = String(r.judgement);
      var td = el("td", { text: j.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase(), "data-key": "judgement" });
      td.className = j.toLowerCase();
      tr.appendChild(td);
      body.appendChild(tr);
    });
    root.appendChild(el("table", { "data-table": "comparison" }, el("thead", {}, head), body));
    var judged = {};
    c.rows.forEach(function (r) { judged[r.table + ": " + r.name] = r; });
    if (data.spectra && data.spectra.length) {
      root.appendChild(el("h2", { text: "Percentile spectra, baseline and candidate" }));
      var box = el("div", { class: "charts" });
      root.appendChild(box);
      data.spectra.forEach(function (s) {
        var r = judged[s.table + ": " + s.name];
        var verdict = r ? " \u2014 " + String(r.judgement).replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase() +
          (r.change != null ? " (" + value(r.change, "ratio") + ")" : "") : "";
        spectrum(box, s.table + ": " + s.name + verdict, s.unit, [
          { label: "baseline", points: s.baseline, color: SIDE.baseline },
          { label: "candidate", points: s.candidate, color: SIDE.candidate },
        ]);
      });
    }
    if (data.runs && data.runs.length) {
      root.appendChild(el("h2", { text: "Timelines" }));
      var tl = el("div", { class: "charts" });
      root.appendChild(tl);
      inFlightOverlay(tl, data.runs);
      data.runs.forEach(function (run) { timeline(tl, run); });
    }
  }

  function render(root, data) {
    destroyCharts();
    root.textContent = "";
    if (data.kind === "comparison") {
      root.appendChild(el("h1", { text: "perf-instrument comparison" }));
      comparisonBody(root, data);
    } else {
      var r = data.report;
      root.appendChild(el("h1", { text: "perf-instrument " + ((r.machine || {}).version || "") + " report" }));
      reportBody(root, r, data.runs);
    }
  }

  window.perfReport = { render: render };

  var root = document.getElementById("report");
  var live = document.getElementById("live-url");
  if (live) {
    var url = live.getAttribute("data-url");
    var every = Number(live.getAttribute("data-every-ms")) || 3000;
    var status = document.getElementById("status");
    var loads = 0;
    var poll = function () {
      if (document.hidden && loads > 0) { setTimeout(poll, every); return; }
      fetch(url, { cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (res) {
          if (!res.ok) throw new Error("HTTP " + res.status);
          return res.json();
        })
        .then(function (json) {
          loads++;
          render(root, { kind: "report", report: json });
          status.className = "";
          status.textContent = "live from " + url + ", refreshed " + new Date().toLocaleTimeString() + " (" + loads + " loads)";
          window.__loads = loads;
        })
        .catch(function (e) {
          status.className = "error";
          status.textContent = "cannot load " + url + ": " + e.message + "; retrying";
        })
        .then(function () { setTimeout(poll, every); });
    };
    poll();
  } else {
    render(root, JSON.parse(document.getElementById("report-data").textContent));
  }
})();
