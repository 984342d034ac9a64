//! Instrument costs beside the raw primitives they wrap, in the same groups.
//!
//! `scripts/bench.sh instruments`

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use perf_instrument::{channel, Mutex, PendingTracker, Pipeline, QueueProbe, Registry};
use std::hint::black_box;
use std::time::Duration;

fn registry() -> Registry {
    Registry::builder().process_metrics(false).build().unwrap()
}

/// Lock-order tracking per acquisition: one lock on its own, and a nested pair (the second
/// acquisition sees one held lock and checks its already-seen order), tracking off and on.
fn order_tracking(c: &mut Criterion) {
    let registry = registry();
    let build = |name: &str, on: bool| {
        Mutex::builder(name)
            .track_order(on)
            .build(0u64, &registry)
            .unwrap()
    };
    let (off, on) = (
        build("bench_order_off", false),
        build("bench_order_on", true),
    );
    let (off_a, off_b) = (
        build("bench_order_off_a", false),
        build("bench_order_off_b", false),
    );
    let (on_a, on_b) = (
        build("bench_order_on_a", true),
        build("bench_order_on_b", true),
    );
    let mut group = c.benchmark_group("mutex_lock_unlock/order_tracking");
    group.bench_function("one_lock/off", |b| b.iter(|| *black_box(&off).lock() += 1));
    group.bench_function("one_lock/on", |b| b.iter(|| *black_box(&on).lock() += 1));
    group.bench_function("nested_pair/off", |b| {
        b.iter(|| {
            let mut a = black_box(&off_a).lock();
            *black_box(&off_b).lock() += 1;
            *a += 1;
        })
    });
    group.bench_function("nested_pair/on", |b| {
        b.iter(|| {
            let mut a = black_box(&on_a).lock();
            *black_box(&on_b).lock() += 1;
            *a += 1;
        })
    });
    group.finish();
}

fn mutex(c: &mut Criterion) {
    let registry = registry();
    let raw = parking_lot::Mutex::new(0u64);
    let plain = Mutex::builder("bench_plain")
        .build(0u64, &registry)
        .unwrap();
    let timed = Mutex::builder("bench_timed")
        .hold_timing(true)
        .build(0u64, &registry)
        .unwrap();
    let watched = Mutex::builder("bench_watched")
        .hold_timing(true)
        .watchdog(Duration::from_secs(10))
        .build(0u64, &registry)
        .unwrap();

    let mut group = c.benchmark_group("mutex_lock_unlock/uncontended");
    group.bench_function("parking_lot", |b| b.iter(|| *black_box(&raw).lock() += 1));
    group.bench_function("perf_instrument_hold_timing_off", |b| {
        b.iter(|| *black_box(&plain).lock() += 1)
    });
    group.bench_function("perf_instrument_hold_timing_on", |b| {
        b.iter(|| *black_box(&timed).lock() += 1)
    });
    group.bench_function("perf_instrument_hold_timing_and_watchdog", |b| {
        b.iter(|| *black_box(&watched).lock() += 1)
    });
    group.finish();

    let mut group = c.benchmark_group("mutex_lock_unlock/2_threads_contended");
    group.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            common::on_two_threads(iters, |_, n| {
                common::timed(|| {
                    for _ in 0..n {
                        *black_box(&raw).lock() += 1;
                    }
                })
            })
        })
    });
    group.bench_function("perf_instrument_hold_timing_off", |b| {
        b.iter_custom(|iters| {
            common::on_two_threads(iters, |_, n| {
                common::timed(|| {
                    for _ in 0..n {
                        *black_box(&plain).lock() += 1;
                    }
                })
            })
        })
    });
    group.bench_function("perf_instrument_hold_timing_on", |b| {
        b.iter_custom(|iters| {
            common::on_two_threads(iters, |_, n| {
                common::timed(|| {
                    for _ in 0..n {
                        *black_box(&timed).lock() += 1;
                    }
                })
            })
        })
    });
    group.finish();
}

fn channel_send_recv(c: &mut Criterion) {
    let registry = registry();
    let mut group = c.benchmark_group("channel_send_recv");
    let (raw_tx, raw_rx) = crossbeam_channel::bounded::<u64>(1024);
    group.bench_function("crossbeam", |b| {
        b.iter(|| {
            raw_tx.send(black_box(1)).unwrap();
            black_box(raw_rx.recv().unwrap());
        })
    });
    let (tx, rx) = channel::bounded::<u64>(1024, QueueProbe::new(&registry, "bench").unwrap());
    group.bench_function("perf_instrument", |b| {
        b.iter(|| {
            tx.send(black_box(1)).unwrap();
            black_box(rx.recv().unwrap());
        })
    });
    group.finish();
}

fn in_flight_and_pending(c: &mut Criterion) {
    let registry = registry();
    let mut group = c.benchmark_group("in_flight_guard");
    let gauge = registry.gauge("bench_in_flight", "Bench.").unwrap();
    group.bench_function("perf_instrument_track", |b| {
        b.iter(|| {
            let guard = black_box(&gauge).track();
            black_box(&guard);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("pending_register_complete");
    let tracker = PendingTracker::<u64>::builder("bench")
        .build(&registry)
        .unwrap();
    let mut id = 0u64;
    group.bench_function("perf_instrument", |b| {
        b.iter(|| {
            id = id.wrapping_add(1);
            tracker.register(id);
            black_box(tracker.complete(&id));
        })
    });
    group.finish();
}

/// An event's begin and finish (two clock reads, the in-flight count, an end-to-end record), on
/// one thread and on two threads sharing one pipeline; pending register + complete on two
/// threads sharing one tracker.
fn shared_across_threads(c: &mut Criterion) {
    let registry = registry();
    let pipeline = Pipeline::builder("bench").build(&registry).unwrap();
    let mut group = c.benchmark_group("pipeline_begin_finish");
    group.bench_function("1_thread", |b| {
        b.iter(|| black_box(pipeline.finish(black_box(&pipeline).begin())))
    });
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            common::on_two_threads(iters, |_, n| {
                common::timed(|| {
                    for _ in 0..n {
                        black_box(pipeline.finish(black_box(&pipeline).begin()));
                    }
                })
            })
        })
    });
    group.finish();

    let tracker = PendingTracker::<u64>::builder("bench_shared")
        .build(&registry)
        .unwrap();
    let mut group = c.benchmark_group("pending_register_complete");
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            common::on_two_threads(iters, |thread, n| {
                let base = (thread as u64) << 40;
                common::timed(|| {
                    for id in base..base + n {
                        tracker.register(id);
                        black_box(tracker.complete(&id));
                    }
                })
            })
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
    targets = mutex, order_tracking, channel_send_recv, in_flight_and_pending, shared_across_threads
}
criterion_main!(benches);
