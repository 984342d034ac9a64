//! Exposition render time for registries of 1k and 10k series while a writer thread records.
//!
//! A "series" here is one label set of a family: 40% counters, 40% gauges, 20% histograms
//! (seconds, the default 53 classic buckets each, so a histogram series is 56 sample lines). Besides
//! criterion's estimates, every timed render is recorded into a perf-instrument histogram and its
//! p50/p99/max printed (schema 8, within 0.27%), since the target is a p99.
//!
//! `scripts/bench.sh render`

use criterion::{criterion_group, criterion_main, Criterion};
use perf_instrument::{render_as, Counter, Format, Gauge, Histogram, Opts, Registry, Schema, Unit};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fixture {
    registry: Registry,
    counters: Vec<Counter>,
    gauges: Vec<Gauge>,
    histograms: Vec<Histogram>,
}

fn fixture(series: usize) -> Fixture {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let families = 10;
    let per_family = series / families / 5;
    let mut f = Fixture {
        registry,
        counters: Vec::new(),
        gauges: Vec::new(),
        histograms: Vec::new(),
    };
    for i in 0..families {
        let opts = |name: String| {
            Opts::new(name, "Bench family.")
                .labels(["shard", "route"])
                .max_series(100_000)
        };
        let c = f
            .registry
            .register_counter(opts(format!("bench_ops_{i}")))
            .unwrap();
        let g = f
            .registry
            .register_gauge(opts(format!("bench_depth_{i}")))
            .unwrap();
        let h = f
            .registry
            .register_histogram(opts(format!("bench_latency_{i}_seconds")).unit(Unit::Seconds))
            .unwrap();
        for j in 0..per_family {
            for k in 0..2 {
                let labels = [format!("{j}"), format!("/route/{k}")];
                let labels = [labels[0].as_str(), labels[1].as_str()];
                f.counters.push(c.with_label_values(&labels));
                f.gauges.push(g.with_label_values(&labels));
            }
            let h = h.with_label_values(&[&j.to_string(), "/route/h"]);
            for v in 0..200u64 {
                h.record(10_000 + v * v * 1_000);
            }
            f.histograms.push(h);
        }
    }
    f
}

fn render(c: &mut Criterion) {
    for series in [1_000usize, 10_000] {
        let f = Arc::new(fixture(series));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (f, stop) = (f.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    f.counters[i % f.counters.len()].inc();
                    f.gauges[i % f.gauges.len()].add(1);
                    f.histograms[i % f.histograms.len()].record(1_000 + (i as u64 % 1_000_000));
                    i = i.wrapping_add(1);
                }
            })
        };
        let lines = render_as(&f.registry, Format::PrometheusText)
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        let mut group = c.benchmark_group(format!("render/{series}_series"));
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(8));
        for (name, format) in [
            ("openmetrics", Format::OpenMetrics),
            ("text_0_0_4", Format::PrometheusText),
        ] {
            // Schema 8 (0.27%): the default schema's 4.3% buckets would round the p99 that the
            // target is stated in to one of a few bucket bounds.
            let times = Histogram::with_schema(Unit::Seconds, Schema::MAX);
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let body = render_as(&f.registry, format);
                        let took = start.elapsed();
                        std::hint::black_box(body);
                        times.record_duration(took);
                        total += took;
                    }
                    total
                })
            });
            let s = times.snapshot();
            let ms = |v: Option<f64>| v.unwrap_or(f64::NAN) * 1e3;
            eprintln!(
                "render/{series}_series/{name}: {} renders of {lines} lines: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                s.count(),
                ms(s.quantile(0.5)),
                ms(s.quantile(0.99)),
                ms(s.max()),
            );
        }
        group.finish();
        stop.store(true, Ordering::Relaxed);
        let _ = writer.join();
    }
}

criterion_group!(benches, render);
criterion_main!(benches);
