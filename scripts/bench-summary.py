#!/usr/bin/env python3
"""Prints the criterion medians of the last bench run, per group, with ratios to perf_instrument.

Usage: scripts/bench-summary.py [group-prefix ...]
Reads target/criterion/<group>/<bench>/new/estimates.json.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
prefixes = sys.argv[1:]
groups = {}
for est in sorted(root.glob("**/new/estimates.json")):
    bench_dir = est.parent.parent
    rel = bench_dir.relative_to(root).parts
    if len(rel) < 2:
        continue
    group, bench = "/".join(rel[:-1]), rel[-1]
    if prefixes and not any(group.startswith(p) for p in prefixes):
        continue
    median = json.loads(est.read_text())["median"]["point_estimate"]
    groups.setdefault(group, []).append((bench, median))


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.2f} ns"


for group, rows in groups.items():
    ours = next((m for b, m in rows if b.startswith("perf_instrument")), None)
    print(f"\n{group}")
    print(f"| bench | median | ratio to perf_instrument |")
    print(f"| --- | ---: | ---: |")
    for bench, median in sorted(rows, key=lambda r: r[1]):
        ratio = f"{median / ours:.2f}×" if ours else "-"
        print(f"| {bench} | {fmt(median)} | {ratio} |")
