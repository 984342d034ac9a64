//! `Histogram::record` on one thread, a log-normal latency mix (median 200 µs), one histogram
//! per native schema side by side.

use criterion::{criterion_group, criterion_main, Criterion};
use perf_instrument::{Histogram, Schema, Unit};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Values cycled through (a power of two, so the index is a mask).
const TABLE: usize = 1 << 12;

/// Log-normal nanoseconds around 200 µs (xorshift + Box-Muller, fixed seed).
fn latencies_ns() -> Vec<u64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..TABLE)
        .map(|_| {
            let mut uniform = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            let (u1, u2) = (uniform().max(1e-12), uniform());
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (200_000.0 * (1.5 * normal).exp()).round().max(1.0) as u64
        })
        .collect()
}

fn record_loop(h: &Histogram, ns: &[u64], iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters as usize {
        h.record(black_box(ns[i & (TABLE - 1)]));
    }
    start.elapsed()
}

fn record(c: &mut Criterion) {
    let ns = latencies_ns();
    let mut group = c.benchmark_group("record/1_thread");
    for (name, h) in histograms() {
        group.bench_function(name, |b| b.iter_custom(|iters| record_loop(&h, &ns, iters)));
    }
    group.finish();
}

/// The histograms measured, by name.
fn histograms() -> Vec<(&'static str, Histogram)> {
    [("schema_0", 0), ("schema_3", 3), ("schema_8", 8)]
        .into_iter()
        .filter_map(|(name, s)| {
            Some((name, Histogram::with_schema(Unit::Seconds, Schema::new(s)?)))
        })
        .collect()
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = record
}
criterion_main!(benches);
