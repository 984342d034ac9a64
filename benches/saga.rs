//! Saga tracker event costs: one whole 4-step saga (start, four step starts and completions,
//! completed: ten events) per iteration, on one thread and on two threads at once.
//!
//! Run with `scripts/bench.sh saga` (or `cargo bench --bench saga`); the figures are per saga
//! (divide by ten for per event).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use perf_instrument::saga::SagaStep;
use perf_instrument::{Registry, SagaTracker};
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

const STEPS: [&str; 4] = ["reserve_stock", "charge_payment", "ship", "notify"];

fn tracker() -> SagaTracker {
    let registry = Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .expect("registry");
    SagaTracker::builder("order")
        .steps(STEPS)
        .build(&registry)
        .expect("tracker")
}

/// Runs `n` whole sagas with integer ids from `first`; returns the time taken.
fn sagas_u64(tracker: &SagaTracker, steps: &[SagaStep], first: u64, n: u64) -> Duration {
    let start = Instant::now();
    for id in first..first + n {
        tracker.start(id);
        for &step in steps {
            tracker.step_started(id, step);
            tracker.step_completed(id, step);
        }
        tracker.completed(id);
    }
    start.elapsed()
}

/// As [`sagas_u64`], with string ids (`"order-<n>"`, 7–26 bytes) written into a reused buffer.
fn sagas_str(tracker: &SagaTracker, steps: &[SagaStep], first: u64, n: u64) -> Duration {
    let mut id = String::with_capacity(32);
    let start = Instant::now();
    for n in first..first + n {
        id.clear();
        id.push_str("order-");
        id.push_str(itoa::Buffer::new().format(n));
        let id = id.as_str();
        tracker.start(id);
        for &step in steps {
            tracker.step_started(id, step);
            tracker.step_completed(id, step);
        }
        tracker.completed(id);
    }
    start.elapsed()
}

type Run = fn(&SagaTracker, &[SagaStep], u64, u64) -> Duration;

const RUNS: [(&str, Run); 2] = [("u64_ids", sagas_u64), ("str_ids", sagas_str)];

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("saga_4_steps/1_thread");
    for (name, run) in RUNS {
        let tracker = tracker();
        let steps = tracker.steps();
        let next = AtomicU64::new(0);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let first = next.fetch_add(iters, Ordering::Relaxed);
                run(&tracker, &steps, first, iters)
            })
        });
        assert_eq!(tracker.active_count(), 0);
    }
    group.finish();
}

/// Two threads, started together, each running its own sagas on one tracker: the slower
/// thread's time per saga.
fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("saga_4_steps/2_threads");
    for (name, run) in RUNS {
        let tracker = tracker();
        let steps = tracker.steps();
        let next = AtomicU64::new(0);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let firsts = [
                    next.fetch_add(iters, Ordering::Relaxed),
                    next.fetch_add(iters, Ordering::Relaxed),
                ];
                common::on_two_threads(iters, |thread, n| run(&tracker, &steps, firsts[thread], n))
            })
        });
        assert_eq!(tracker.active_count(), 0);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = one_thread, two_threads
}
criterion_main!(benches);
