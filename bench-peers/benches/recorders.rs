//! Recorder costs, side by side with the Rust metrics libraries a service would otherwise use.
//!
//! Every group records the same values (a fixed table of lognormal latencies, cycled) into each
//! library, so the ratios within a group come from one run on one machine. Run with
//! `scripts/bench.sh recorders` (or `cargo bench -p bench-peers --bench recorders`).

#[path = "../../benches/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use metered::metric::Histogram as _;
use metrics::Recorder as _;
use perf_instrument::{Counter, Histogram, Unit};
use std::hint::black_box;
use std::time::{Duration, Instant};

const TABLE: usize = 4096;

/// Lognormal latencies in nanoseconds (median ~200 µs), from a fixed-seed xorshift.
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
            // Box-Muller.
            let (u1, u2) = (uniform().max(1e-12), uniform());
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (200_000.0 * (1.5 * normal).exp()).round().max(1.0) as u64
        })
        .collect()
}

fn seconds(ns: &[u64]) -> Vec<f64> {
    ns.iter().map(|&v| v as f64 / 1e9).collect()
}

/// One histogram implementation as the benches drive it: record a value given as nanoseconds
/// (`u64`) and as seconds (`f64`), whichever the library takes.
trait Peer: Send + Sync {
    fn record(&self, ns: u64, secs: f64);
}

struct Ours(Histogram);
impl Peer for Ours {
    #[inline]
    fn record(&self, ns: u64, _: f64) {
        self.0.record(ns);
    }
}

struct Tikv(prometheus::Histogram);
impl Peer for Tikv {
    #[inline]
    fn record(&self, _: u64, secs: f64) {
        self.0.observe(secs);
    }
}

struct PromClient(prometheus_client::metrics::histogram::Histogram);
impl Peer for PromClient {
    #[inline]
    fn record(&self, _: u64, secs: f64) {
        self.0.observe(secs);
    }
}

struct MetricsExporter(metrics::Histogram);
impl Peer for MetricsExporter {
    #[inline]
    fn record(&self, _: u64, secs: f64) {
        self.0.record(secs);
    }
}

struct Metered(metered::hdr_histogram::AtomicHdrHistogram);
impl Peer for Metered {
    #[inline]
    fn record(&self, ns: u64, _: f64) {
        self.0.record(ns);
    }
}

fn tikv_histogram() -> prometheus::Histogram {
    prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("bench_seconds", "bench"))
        .expect("valid options")
}

fn prom_client_histogram() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(
        prometheus_client::metrics::histogram::exponential_buckets(1e-4, 2.0, 20),
    )
}

/// metrics-exporter-prometheus buffers histogram samples until a scrape drains them; the
/// benches drain after every timed batch, outside the timing.
fn metrics_exporter() -> (
    metrics_exporter_prometheus::PrometheusHandle,
    metrics::Histogram,
) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let key = metrics::Key::from_name("bench_seconds");
    let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    let histogram = recorder.register_histogram(&key, &metadata);
    (handle, histogram)
}

/// Times `iters` records of the table values into `peer` on the current thread.
#[inline(never)]
fn record_loop<P: Peer + ?Sized>(peer: &P, ns: &[u64], secs: &[f64], iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters as usize {
        let j = i & (TABLE - 1);
        peer.record(black_box(ns[j]), black_box(secs[j]));
    }
    start.elapsed()
}

/// Single-thread record cost, monomorphised per library (no dynamic dispatch in the loop).
fn histogram_record_one_thread(c: &mut Criterion) {
    let ns = latencies_ns();
    let secs = seconds(&ns);
    let mut group = c.benchmark_group("histogram_record/1_thread");

    let ours = Ours(Histogram::new(Unit::Seconds));
    group.bench_function("perf_instrument", |b| {
        b.iter_custom(|iters| record_loop(&ours, &ns, &secs, iters))
    });
    let tikv = Tikv(tikv_histogram());
    group.bench_function("prometheus", |b| {
        b.iter_custom(|iters| record_loop(&tikv, &ns, &secs, iters))
    });
    let client = PromClient(prom_client_histogram());
    group.bench_function("prometheus_client", |b| {
        b.iter_custom(|iters| record_loop(&client, &ns, &secs, iters))
    });
    let (handle, exporter) = metrics_exporter();
    let exporter = MetricsExporter(exporter);
    group.bench_function("metrics_exporter_prometheus", |b| {
        b.iter_custom(|iters| {
            let took = record_loop(&exporter, &ns, &secs, iters);
            handle.run_upkeep();
            took
        })
    });
    let metered = Metered(metered::hdr_histogram::AtomicHdrHistogram::with_bound(
        3_600_000_000_000,
    ));
    group.bench_function("metered", |b| {
        b.iter_custom(|iters| record_loop(&metered, &ns, &secs, iters))
    });
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("valid bounds");
    group.bench_function("hdrhistogram_mut", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                let _ = hdr.record(black_box(ns[i & (TABLE - 1)]));
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// Two threads recording into the same histogram: time per record per thread.
fn histogram_record_two_threads(c: &mut Criterion) {
    let ns = latencies_ns();
    let secs = seconds(&ns);
    let mut group = c.benchmark_group("histogram_record/2_threads");
    fn bench<P: Peer>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        peer: &P,
        (ns, secs): (&[u64], &[f64]),
        after: impl Fn(),
    ) {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let took = common::on_two_threads(iters, |_, n| record_loop(peer, ns, secs, n));
                after();
                took
            })
        });
    }
    let table = (&ns[..], &secs[..]);
    let ours = Ours(Histogram::new(Unit::Seconds));
    bench(&mut group, "perf_instrument", &ours, table, || ());
    bench(
        &mut group,
        "prometheus",
        &Tikv(tikv_histogram()),
        table,
        || (),
    );
    let client = PromClient(prom_client_histogram());
    bench(&mut group, "prometheus_client", &client, table, || ());
    let (handle, exporter) = metrics_exporter();
    let exporter = MetricsExporter(exporter);
    bench(
        &mut group,
        "metrics_exporter_prometheus",
        &exporter,
        table,
        || handle.run_upkeep(),
    );
    let metered = Metered(metered::hdr_histogram::AtomicHdrHistogram::with_bound(
        3_600_000_000_000,
    ));
    bench(&mut group, "metered", &metered, table, || ());
    group.finish();
}

fn counter_increment(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter_inc/1_thread");
    let ours = Counter::new();
    group.bench_function("perf_instrument", |b| b.iter(|| black_box(&ours).inc()));
    let tikv = prometheus::IntCounter::new("bench_total", "bench").expect("valid");
    group.bench_function("prometheus", |b| b.iter(|| black_box(&tikv).inc()));
    let client = prometheus_client::metrics::counter::Counter::<u64>::default();
    group.bench_function("prometheus_client", |b| {
        b.iter(|| {
            black_box(&client).inc();
        })
    });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    let exporter = recorder.register_counter(&metrics::Key::from_name("bench_total"), &metadata);
    group.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| black_box(&exporter).increment(1))
    });
    let metered = metered::atomic::AtomicInt::<u64>::default();
    group.bench_function("metered", |b| b.iter(|| black_box(&metered).incr()));
    group.finish();

    // Two threads on one counter: the cost of sharing a cache line, or not.
    let mut group = c.benchmark_group("counter_inc/2_threads");
    fn bench(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        inc: impl Fn() + Sync,
    ) {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                common::on_two_threads(iters, |_, n| {
                    common::timed(|| {
                        for _ in 0..n {
                            inc();
                        }
                    })
                })
            })
        });
    }
    bench(&mut group, "perf_instrument", || black_box(&ours).inc());
    bench(&mut group, "prometheus", || black_box(&tikv).inc());
    bench(&mut group, "prometheus_client", || {
        black_box(&client).inc();
    });
    bench(&mut group, "metrics_exporter_prometheus", || {
        black_box(&exporter).increment(1)
    });
    bench(&mut group, "metered", || {
        black_box(&metered).incr();
    });
    group.finish();
}

/// A timed empty section: two clock reads and a record.
fn timed_section(c: &mut Criterion) {
    let mut group = c.benchmark_group("timed_section");
    let ours = Histogram::new(Unit::Seconds);
    group.bench_function("perf_instrument_timer", |b| {
        b.iter(|| {
            let timer = ours.start_timer();
            black_box(&timer);
            drop(timer);
        })
    });
    group.bench_function("instant_pair_into_perf_instrument", |b| {
        b.iter(|| {
            let start = Instant::now();
            black_box(&start);
            ours.record_duration(start.elapsed());
        })
    });
    group.bench_function("instant_pair_only", |b| {
        b.iter(|| {
            let start = Instant::now();
            black_box(&start);
            black_box(start.elapsed())
        })
    });
    let tikv = tikv_histogram();
    group.bench_function("prometheus_timer", |b| {
        b.iter(|| {
            let timer = tikv.start_timer();
            black_box(&timer);
            timer.observe_duration();
        })
    });
    group.finish();
}

const METHODS: [&str; 4] = ["GET", "PUT", "POST", "DELETE"];
const CODES: [&str; 3] = ["200", "404", "500"];

/// The label values of lookup `i`: 12 existing series, cycled.
#[inline(always)]
fn labels(i: usize) -> [&'static str; 2] {
    [METHODS[i & 3], CODES[i % 3]]
}

type ClientLabels = Vec<(&'static str, &'static str)>;

/// A labelled lookup of an existing series and one record, per library: the per-request way of
/// recording into a family (two label values, 12 series).
struct Labelled {
    ours: perf_instrument::Family<Histogram>,
    tikv: prometheus::HistogramVec,
    client: prometheus_client::metrics::family::Family<
        ClientLabels,
        prometheus_client::metrics::histogram::Histogram,
    >,
    client_keys: Vec<ClientLabels>,
}

impl Labelled {
    fn new() -> Self {
        let registry = perf_instrument::Registry::builder()
            .self_metrics(false)
            .process_metrics(false)
            .build()
            .expect("registry");
        let ours = registry
            .register_histogram(
                perf_instrument::Opts::new("rpc_seconds", "RPC latency.")
                    .unit(Unit::Seconds)
                    .labels(["method", "code"]),
            )
            .expect("family");
        let tikv = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("rpc_seconds", "RPC latency."),
            &["method", "code"],
        )
        .expect("valid options");
        let client = prometheus_client::metrics::family::Family::new_with_constructor(
            prom_client_histogram as fn() -> prometheus_client::metrics::histogram::Histogram,
        );
        let client_keys: Vec<ClientLabels> = (0..12)
            .map(|i| {
                let [m, c] = labels(i);
                vec![("method", m), ("code", c)]
            })
            .collect();
        for (i, key) in client_keys.iter().enumerate() {
            ours.with(&labels(i), |h| h.record(1));
            tikv.with_label_values(&labels(i)).observe(1e-9);
            client.get_or_create(key).observe(1e-9);
        }
        Self {
            ours,
            tikv,
            client,
            client_keys,
        }
    }
}

#[inline(never)]
fn labelled_loop(l: &Labelled, which: &str, ns: &[u64], secs: &[f64], iters: u64) -> Duration {
    let start = Instant::now();
    match which {
        "perf_instrument_with" => {
            for i in 0..iters as usize {
                let v = black_box(ns[i & (TABLE - 1)]);
                l.ours.with(&labels(i % 12), |h| h.record(v));
            }
        }
        "perf_instrument_with_label_values" => {
            for i in 0..iters as usize {
                let v = black_box(ns[i & (TABLE - 1)]);
                l.ours.with_label_values(&labels(i % 12)).record(v);
            }
        }
        "prometheus" => {
            for i in 0..iters as usize {
                let v = black_box(secs[i & (TABLE - 1)]);
                l.tikv.with_label_values(&labels(i % 12)).observe(v);
            }
        }
        _ => {
            for i in 0..iters as usize {
                let v = black_box(secs[i & (TABLE - 1)]);
                l.client.get_or_create(&l.client_keys[i % 12]).observe(v);
            }
        }
    }
    start.elapsed()
}

const LABELLED: [&str; 4] = [
    "perf_instrument_with",
    "perf_instrument_with_label_values",
    "prometheus",
    "prometheus_client",
];

fn labelled_record(c: &mut Criterion) {
    let ns = latencies_ns();
    let secs = seconds(&ns);
    let l = Labelled::new();
    let mut group = c.benchmark_group("labelled_record/1_thread");
    for which in LABELLED {
        group.bench_function(which, |b| {
            b.iter_custom(|iters| labelled_loop(&l, which, &ns, &secs, iters))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("labelled_record/2_threads");
    for which in LABELLED {
        group.bench_function(which, |b| {
            b.iter_custom(|iters| {
                common::on_two_threads(iters, |_, n| labelled_loop(&l, which, &ns, &secs, n))
            })
        });
    }
    group.finish();
}

/// A value recorded with an exemplar: perf-instrument's `record_with_exemplar` (labels checked,
/// strings copied, wall clock read, one slot tried) against prometheus-client's
/// `HistogramWithExemplars::observe` (a read-write lock taken on every observe, the label set
/// moved in), each beside its own plain record. The trace ids are 32 hex digits from a table.
fn exemplar_record(c: &mut Criterion) {
    let ns = latencies_ns();
    let secs = seconds(&ns);
    let ids: Vec<String> = (0..64u64)
        .map(|i| format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let mut group = c.benchmark_group("exemplar_record/1_thread");
    let ours = Ours(Histogram::new(Unit::Seconds));
    group.bench_function("perf_instrument_record", |b| {
        b.iter_custom(|iters| record_loop(&ours, &ns, &secs, iters))
    });
    let ours = ours.0;
    group.bench_function("perf_instrument_record_with_exemplar", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                let _ = ours.record_with_exemplar(
                    black_box(ns[i & (TABLE - 1)]),
                    &[("trace_id", &ids[i & 63])],
                );
            }
            start.elapsed()
        })
    });
    type Theirs =
        prometheus_client::metrics::exemplar::HistogramWithExemplars<Vec<(String, String)>>;
    let theirs = Theirs::new(prometheus_client::metrics::histogram::exponential_buckets(
        1e-4, 2.0, 20,
    ));
    group.bench_function("prometheus_client_observe", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                theirs.observe(black_box(secs[i & (TABLE - 1)]), None, None);
            }
            start.elapsed()
        })
    });
    group.bench_function("prometheus_client_observe_with_exemplar", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                theirs.observe(
                    black_box(secs[i & (TABLE - 1)]),
                    Some(vec![("trace_id".to_string(), ids[i & 63].clone())]),
                    None,
                );
            }
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = histogram_record_one_thread, histogram_record_two_threads, counter_increment, timed_section, labelled_record, exemplar_record
}
criterion_main!(benches);
