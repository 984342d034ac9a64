//! Resident memory of 1,000 series of one labelled histogram family, each recorded once from
//! one thread (or once from each of two threads), per library: the growth of the resident set
//! (`/proc/self/statm`) across creating and recording them, divided by the number of series.
//!
//! Usage: `cargo run --release -p bench-peers --example series_memory -- <library> <threads>`
//! with `<library>` one of `perf_instrument`, `prometheus`, `prometheus_client`,
//! `metrics_exporter_prometheus`; `scripts/series_memory.sh` runs them all at 4, 18 and 64
//! lanes (`PERF_INSTRUMENT_LANES`), one process per measurement.

use metrics::Recorder as _;
use std::sync::Barrier;

const SERIES: usize = 1_000;

/// Resident bytes of this process.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let library = args.get(1).map_or("perf_instrument", String::as_str);
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1);
    let names: Vec<String> = (0..SERIES).map(|i| format!("series-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // Warmed up, then started: the baseline is read between the two, while no thread records.
    let warmed = Barrier::new(threads + 1);
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    // The recording closure for one library, built before the baseline is taken.
    let record: Box<dyn Fn(&str) + Sync> = match library {
        "perf_instrument" => {
            let registry = perf_instrument::Registry::builder()
                .self_metrics(false)
                .process_metrics(false)
                .build()
                .expect("registry");
            let family = registry
                .register_histogram(
                    perf_instrument::Opts::new("rpc_seconds", "RPC latency.")
                        .unit(perf_instrument::Unit::Seconds)
                        .labels(["endpoint"])
                        .max_series(SERIES * 2),
                )
                .expect("family");
            Box::new(move |name| family.with(&[name], |h| h.record(250_000)))
        }
        "prometheus" => {
            let vec = prometheus::HistogramVec::new(
                prometheus::HistogramOpts::new("rpc_seconds", "RPC latency."),
                &["endpoint"],
            )
            .expect("options");
            Box::new(move |name| vec.with_label_values(&[name]).observe(250e-6))
        }
        "prometheus_client" => {
            let family = prometheus_client::metrics::family::Family::<
                Vec<(&'static str, String)>,
                prometheus_client::metrics::histogram::Histogram,
            >::new_with_constructor(|| {
                prometheus_client::metrics::histogram::Histogram::new(
                    prometheus_client::metrics::histogram::exponential_buckets(1e-4, 2.0, 20),
                )
            });
            Box::new(move |name| {
                family
                    .get_or_create(&vec![("endpoint", name.to_string())])
                    .observe(250e-6)
            })
        }
        _ => {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
            Box::new(move |name| {
                let key = metrics::Key::from_parts(
                    "rpc_seconds",
                    vec![metrics::Label::new("endpoint", name.to_string())],
                );
                recorder.register_histogram(&key, &metadata).record(250e-6);
            })
        }
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                // Touch this thread's lane and allocator arena before the baseline.
                record("warm-up");
                warmed.wait();
                start.wait();
                for name in &names {
                    record(name);
                }
                done.wait();
            });
        }
        warmed.wait();
        let before = resident_bytes();
        start.wait();
        done.wait();
        let after = resident_bytes();
        let per_series = after.saturating_sub(before) as f64 / SERIES as f64;
        let lanes = std::env::var("PERF_INSTRUMENT_LANES").unwrap_or_else(|_| "default".into());
        println!(
            "{library} threads={threads} lanes={lanes}: {:.0} KiB total, {per_series:.0} B/series",
            after.saturating_sub(before) as f64 / 1024.0
        );
    });
}
