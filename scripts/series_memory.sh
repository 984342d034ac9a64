#!/usr/bin/env bash
# Resident memory per series (1,000 series of one labelled histogram family) for perf-instrument
# and its peers, from one and two threads, at 4, 18 and 64 lanes; one process per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p bench-peers --example series_memory
bin=target/release/examples/series_memory
for threads in 1 2; do
  for lanes in 4 18 64; do
    PERF_INSTRUMENT_LANES=$lanes "$bin" perf_instrument "$threads"
  done
  for lib in prometheus prometheus_client metrics_exporter_prometheus; do
    "$bin" "$lib" "$threads"
  done
done
