#!/usr/bin/env python3
"""Writes the Grafana dashboard docs/grafana/perf-instrument.json.

Every histogram query is written twice and joined with `or`: over the classic series
(`_bucket`, `_count`, `_sum`) and over the native histogram, so each panel shows data whether
Prometheus ingests classic histograms or native ones (`--enable-feature=native-histograms`,
which stores a native histogram instead of its classic series). Latency panels show p50, p95
and p99; the end-to-end latency also as a heatmap. Variables: datasource, instance, pipeline,
stage (multi-value, "All" is `.*`).

Usage: scripts/dashboard.py          (writes the file)
       scripts/dashboard.py --check  (exits 1 when the file is not what this script writes)
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs/grafana/perf-instrument.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
WINDOW = "[$__rate_interval]"


def sel(*labels):
    """A label selector for the dashboard's variables that apply to a family."""
    parts = ['instance=~"$instance"']
    parts += [f'{label}=~"${label}"' for label in labels]
    return "{" + ", ".join(parts) + "}"


def quantile(q, family, by, labels=()):
    """histogram_quantile over classic buckets, or over the native histogram."""
    s = sel(*labels)
    by_le = ", ".join(["le", *by])
    by_native = f" by ({', '.join(by)})" if by else ""
    return (
        f"histogram_quantile({q}, sum by ({by_le}) (rate({family}_bucket{s}{WINDOW})))"
        f" or histogram_quantile({q}, sum{by_native} (rate({family}{s}{WINDOW})))"
    )


def count_rate(family, by, labels=()):
    s = sel(*labels)
    return (
        f"sum by ({', '.join(by)}) (rate({family}_count{s}{WINDOW}))"
        f" or sum by ({', '.join(by)}) (histogram_count(rate({family}{s}{WINDOW})))"
    )


def sum_rate(family, by, labels=()):
    s = sel(*labels)
    return (
        f"sum by ({', '.join(by)}) (rate({family}_sum{s}{WINDOW}))"
        f" or sum by ({', '.join(by)}) (histogram_sum(rate({family}{s}{WINDOW})))"
    )


def target(ref, expr, legend, **extra):
    return {"refId": ref, "expr": expr, "legendFormat": legend, "datasource": DS, **extra}


def percentiles(family, by, labels=(), legend=""):
    prefix = (legend + " ") if legend else ""
    return [
        target(ref, quantile(q, family, by, labels), f"{prefix}p{name}")
        for ref, q, name in (("A", 0.5, "50"), ("B", 0.95, "95"), ("C", 0.99, "99"))
    ]


class Layout:
    def __init__(self):
        self.panels, self.y, self.x, self.id = [], 0, 0, 0

    def row(self, title):
        if self.x:
            self.y, self.x = self.y + 8, 0
        self.id += 1
        self.panels.append({"type": "row", "title": title, "id": self.id, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def panel(self, title, unit, targets, kind="timeseries", width=8, **extra):
        if self.x + width > 24:
            self.y, self.x = self.y + 8, 0
        self.id += 1
        p = {"type": kind, "title": title, "id": self.id, "datasource": DS,
             "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                         "tooltip": {"mode": "multi"}},
             "targets": targets, **extra}
        self.panels.append(p)
        self.x += width


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query,
            "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1}


def dashboard():
    d = Layout()
    stage = ("pipeline", "stage")
    d.row("Requests and functions")
    d.panel("Calls per second by function and outcome", "reqps",
            [target("A", f"sum by (function, outcome) (rate(function_calls_total{sel()}{WINDOW}))",
                    "{{function}} {{outcome}}")])
    d.panel("Function duration p50 / p95 / p99", "s",
            percentiles("function_duration_seconds", ["function"], legend="{{function}}"))
    d.panel("Functions in flight", "short",
            [target("A", f"sum by (function) (function_calls_in_flight{sel()})", "{{function}}")])
    d.row("Pipeline stages and queues")
    d.panel("Events per second", "reqps",
            [target("A", count_rate("pipeline_end_to_end_duration_seconds", ["pipeline"], ["pipeline"]),
                    "{{pipeline}}")])
    d.panel("End-to-end latency p50 / p95 / p99", "s",
            percentiles("pipeline_end_to_end_duration_seconds", ["pipeline"], ["pipeline"],
                        legend="{{pipeline}}"))
    d.panel("End-to-end latency heatmap", "s",
            [target("A",
                    f"sum by (le) (increase(pipeline_end_to_end_duration_seconds_bucket{sel('pipeline')}{WINDOW}))"
                    f" or sum(increase(pipeline_end_to_end_duration_seconds{sel('pipeline')}{WINDOW}))",
                    "{{le}}", format="heatmap")],
            kind="heatmap",
            options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1,
                     "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5}})
    d.panel("Stage duration p50 / p95 / p99", "s",
            percentiles("pipeline_stage_duration_seconds", ["pipeline", "stage"], stage,
                        legend="{{pipeline}}/{{stage}}"))
    d.panel("Time spent per stage (share of work)", "s",
            [target("A", sum_rate("pipeline_stage_duration_seconds", ["pipeline", "stage"], stage),
                    "{{pipeline}}/{{stage}}")])
    d.panel("Wait before each stage p99", "s",
            [target("A", quantile(0.99, "pipeline_stage_gap_seconds", ["pipeline", "stage"], stage),
                    "{{pipeline}}/{{stage}}")])
    d.panel("Events in flight", "short",
            [target("A", f"sum by (pipeline) (pipeline_events_in_flight{sel('pipeline')})", "{{pipeline}}")])
    d.panel("Queue wait p50 / p95 / p99", "s",
            percentiles("queue_wait_seconds", ["queue"], legend="{{queue}}"))
    d.panel("Queue depth", "short",
            [target("A", f"sum by (queue) (queue_depth{sel()})", "{{queue}}")])
    d.panel("Pending completions", "short",
            [target("A", f"sum by (tracker) (pending_items{sel()})", "{{tracker}}")])
    d.panel("Oldest pending", "s",
            [target("A", f"max by (tracker) (pending_oldest_age_seconds{sel()})", "{{tracker}}")])
    d.panel("Orphaned per second", "reqps",
            [target("A", f"sum by (tracker, reason) (rate(pending_orphaned_total{sel()}{WINDOW}))",
                    "{{tracker}} {{reason}}")])
    d.row("Sagas")
    d.panel("Active sagas", "short", [target("A", f"sum by (saga) (saga_active{sel()})", "{{saga}}")])
    d.panel("Stuck sagas", "short", [target("A", f"sum by (saga) (saga_stuck{sel()})", "{{saga}}")])
    d.panel("Finished per second by outcome", "reqps",
            [target("A", f"sum by (saga, outcome) (rate(saga_finished_total{sel()}{WINDOW}))",
                    "{{saga}} {{outcome}}")])
    d.panel("Completion ratio", "percentunit",
            [target("A", f'sum by (saga) (rate(saga_finished_total{{instance=~"$instance", outcome="completed"}}{WINDOW}))'
                         f" / sum by (saga) (rate(saga_finished_total{sel()}{WINDOW}))", "{{saga}}")])
    d.panel("Saga duration p99 by outcome", "s",
            [target("A", quantile(0.99, "saga_duration_seconds", ["saga", "outcome"]), "{{saga}} {{outcome}}")])
    d.panel("Step duration p99", "s",
            [target("A", quantile(0.99, "saga_step_duration_seconds", ["saga", "step"]), "{{saga}}/{{step}}")])
    d.panel("Oldest active saga", "s",
            [target("A", f"max by (saga) (saga_oldest_active_age_seconds{sel()})", "{{saga}}")])
    d.row("Locks and batches")
    d.panel("Lock wait p99 (contended)", "s",
            [target("A", quantile(0.99, "lock_wait_seconds", ["lock"]), "{{lock}}")])
    d.panel("Contended acquisitions per second", "reqps",
            [target("A", f"sum by (lock) (rate(lock_contended_total{sel()}{WINDOW}))", "{{lock}}")])
    d.panel("Time waited by call site", "s",
            [target("A", f"topk(5, sum by (lock, site, role) (rate(lock_wait_by_site_seconds_total{sel()}{WINDOW})))",
                    "{{lock}} {{site}} {{role}}")])
    d.panel("Lock hold p50 / p95 / p99", "s", percentiles("lock_hold_seconds", ["lock"], legend="{{lock}}"))
    d.panel("Longest current hold", "s",
            [target("A", f"max by (lock) (lock_current_longest_hold_seconds{sel()})", "{{lock}}")])
    d.panel("Holds past the watchdog threshold", "short",
            [target("A", f"sum by (lock) (increase(lock_held_too_long_total{sel()}[5m]))", "{{lock}}")])
    d.panel("Batch size p50", "short",
            [target("A", quantile(0.5, "batch_size", ["batch"]), "{{batch}}")])
    d.panel("Batch duration p99", "s",
            [target("A", quantile(0.99, "batch_duration_seconds", ["batch"]), "{{batch}}")])
    d.row("Process and exporter")
    d.panel("CPU", "percentunit",
            [target("A", f"sum by (instance) (rate(process_cpu_seconds_total{sel()}{WINDOW}))", "{{instance}}")])
    d.panel("Resident memory", "bytes",
            [target("A", f"sum by (instance) (process_resident_memory_bytes{sel()})", "{{instance}}")])
    d.panel("Scrape render time p99", "s",
            [target("A", quantile(0.99, "perf_instrument_scrape_duration_seconds", []), "p99")])
    d.panel("Series exported", "short",
            [target("A", f"sum by (instance) (perf_instrument_series{sel()})", "{{instance}}")])
    return {
        "title": "perf-instrument",
        "uid": "perf-instrument",
        "description": "Pipelines, queues, sagas, locks and batches measured by perf-instrument. "
                       "Percentiles aggregate over instances; every histogram query reads the "
                       "classic series or, when Prometheus ingests native histograms, the native "
                       "ones. Generated by scripts/dashboard.py.",
        "tags": ["perf-instrument"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 2,
        "refresh": "10s",
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus",
             "label": "Prometheus", "current": {}},
            variable("instance", "Instance", "label_values(process_resident_memory_bytes, instance)"),
            variable("pipeline", "Pipeline", "label_values(pipeline_events_in_flight, pipeline)"),
            variable("stage", "Stage",
                     'label_values({__name__=~"pipeline_stage_duration_seconds(_count)?", pipeline=~"$pipeline"}, stage)'),
        ]},
        "panels": d.panels,
    }


def main():
    text = json.dumps(dashboard(), indent=2) + "\n"
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text() != text:
            print(f"{OUT} is not what scripts/dashboard.py writes; run it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
