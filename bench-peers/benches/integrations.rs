//! The integrations side by side with what a service would otherwise write: `#[timed]` on an
//! empty function against a hand-written `Instant` pair into a `prometheus` (tikv) histogram and
//! against `metrics::histogram!` through `metrics-exporter-prometheus`; and `metrics::histogram!`
//! through our `MetricsRecorder` against the same macro through `metrics-exporter-prometheus`.
//!
//! Run with `scripts/bench.sh integrations` (`cargo bench -p bench-peers --bench integrations`).

use criterion::{criterion_group, criterion_main, Criterion};
use perf_instrument::timed;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[timed]
#[inline(never)]
fn timed_empty(x: u64) -> u64 {
    x
}

#[timed(in_flight)]
#[inline(never)]
fn timed_empty_in_flight(x: u64) -> u64 {
    x
}

#[inline(never)]
fn plain_empty(x: u64) -> u64 {
    x
}

fn tikv_histogram() -> prometheus::Histogram {
    prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
        "bench_function_seconds",
        "bench",
    ))
    .expect("valid options")
}

/// A `metrics-exporter-prometheus` recorder (not installed globally) and its handle; its
/// histograms buffer samples until the handle's upkeep drains them, which the benches run after
/// every timed batch, outside the timing.
fn exporter() -> (
    metrics_exporter_prometheus::PrometheusRecorder,
    metrics_exporter_prometheus::PrometheusHandle,
) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    (recorder, handle)
}

/// An empty function timed, per call: two clock reads and a record, however it is written.
fn timed_empty_fn(c: &mut Criterion) {
    let mut group = c.benchmark_group("integrations/timed_empty_fn");
    timed_empty(0); // resolve the call site's handles outside the timing
    timed_empty_in_flight(0);
    group.bench_function("perf_instrument_timed", |b| {
        b.iter(|| timed_empty(black_box(1)))
    });
    group.bench_function("perf_instrument_timed_in_flight", |b| {
        b.iter(|| timed_empty_in_flight(black_box(1)))
    });
    // The floor: the crate's own drop timer around the same call, no outcome counter.
    let histogram = perf_instrument::Histogram::new(perf_instrument::Unit::Seconds);
    group.bench_function("perf_instrument_start_timer", |b| {
        b.iter(|| {
            let timer = histogram.start_timer();
            let out = plain_empty(black_box(1));
            drop(timer);
            out
        })
    });
    let tikv = tikv_histogram();
    group.bench_function("instant_pair_prometheus_observe", |b| {
        b.iter(|| {
            let start = Instant::now();
            let out = plain_empty(black_box(1));
            tikv.observe(start.elapsed().as_secs_f64());
            out
        })
    });
    let (recorder, handle) = exporter();
    metrics::with_local_recorder(&recorder, || {
        group.bench_function("instant_pair_metrics_histogram_exporter", |b| {
            b.iter_custom(|iters| {
                let began = Instant::now();
                for _ in 0..iters {
                    let start = Instant::now();
                    black_box(plain_empty(black_box(1)));
                    metrics::histogram!("bench_function_seconds")
                        .record(start.elapsed().as_secs_f64());
                }
                let took = began.elapsed();
                handle.run_upkeep();
                took
            })
        });
    });
    group.finish();
}

/// `metrics::histogram!(name, label).record(v)` per call: the facade's per-call handle lookup
/// plus the record, through each recorder.
fn metrics_histogram_macro(c: &mut Criterion) {
    let mut group = c.benchmark_group("integrations/metrics_histogram_macro");
    let values: Vec<f64> = (0..1024).map(|i| f64::from(i % 97 + 1) * 1e-4).collect();
    let run = |iters: u64| {
        let began = Instant::now();
        for i in 0..iters as usize {
            metrics::histogram!("bench_request_seconds", "route" => "/orders")
                .record(black_box(values[i & 1023]));
        }
        began.elapsed()
    };

    {
        let registry = perf_instrument::Registry::new();
        let ours = perf_instrument::MetricsRecorder::new(&registry);
        metrics::with_local_recorder(&ours, || {
            group.bench_function("perf_instrument_recorder", |b| b.iter_custom(run));
            let kept = metrics::histogram!("bench_kept_seconds", "route" => "/orders");
            group.bench_function("perf_instrument_recorder_kept_handle", |b| {
                b.iter(|| kept.record(black_box(0.0125)))
            });
        });
    }

    let (recorder, handle) = exporter();
    metrics::with_local_recorder(&recorder, || {
        group.bench_function("metrics_exporter_prometheus", |b| {
            b.iter_custom(|iters| {
                let took = run(iters);
                handle.run_upkeep();
                took
            })
        });
        let kept = metrics::histogram!("bench_kept_seconds", "route" => "/orders");
        group.bench_function("metrics_exporter_prometheus_kept_handle", |b| {
            b.iter_custom(|iters| {
                let began = Instant::now();
                for _ in 0..iters {
                    kept.record(black_box(0.0125));
                }
                let took = began.elapsed();
                handle.run_upkeep();
                took
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = timed_empty_fn, metrics_histogram_macro
}
criterion_main!(benches);
