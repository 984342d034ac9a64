//! Quantile accuracy against exact order statistics, and merge-equals-single-recording.
#![cfg(not(perf_instrument_loom))]

use perf_instrument::{Histogram, HistogramSnapshot, Unit, RELATIVE_ERROR, TIME_UNITS_PER_SECOND};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};

const SAMPLES: usize = 1_000_000;
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Nearest-rank quantile of a sorted slice: the `ceil(q·n)`-th smallest value.
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn lognormal(rng: &mut StdRng) -> Vec<u64> {
    // Median 200 µs in nanoseconds, a long right tail (sigma 1.5).
    let dist = LogNormal::new((200_000f64).ln(), 1.5).unwrap();
    (0..SAMPLES)
        .map(|_| dist.sample(rng).round() as u64)
        .collect()
}

fn bimodal(rng: &mut StdRng) -> Vec<u64> {
    // 90% fast path around 50 µs, 10% slow path around 20 ms.
    let fast = Normal::new(50_000.0, 5_000.0).unwrap();
    let slow = Normal::new(20_000_000.0, 2_000_000.0).unwrap();
    (0..SAMPLES)
        .map(|_| {
            let x: f64 = if rng.random_bool(0.9) {
                fast.sample(rng)
            } else {
                slow.sample(rng)
            };
            x.max(1.0).round() as u64
        })
        .collect()
}

fn constant(_: &mut StdRng) -> Vec<u64> {
    vec![123_457; SAMPLES]
}

fn check_count_histogram(name: &str, values: &[u64]) {
    let h = Histogram::new(Unit::Count);
    for &v in values {
        h.record(v);
    }
    let snap = h.snapshot();
    let mut sorted = values.to_vec();
    sorted.sort_unstable();

    assert_eq!(snap.count(), values.len() as u64, "{name}: count");
    let exact_sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    assert_eq!(snap.sum_stored(), exact_sum, "{name}: sum is exact");
    assert_eq!(
        snap.max(),
        Some(*sorted.last().unwrap() as f64),
        "{name}: max is exact"
    );
    for q in [0.0].into_iter().chain(QUANTILES) {
        let exact = exact_quantile(&sorted, q) as f64;
        let got = snap.quantile(q).unwrap();
        let err = (got - exact).abs() / exact;
        assert!(
            err <= RELATIVE_ERROR,
            "{name}: p{q}: got {got}, exact {exact}, error {err:.5} > {RELATIVE_ERROR}"
        );
    }
}

#[test]
fn lognormal_quantiles_are_within_the_stated_error() {
    check_count_histogram("lognormal", &lognormal(&mut StdRng::seed_from_u64(1)));
}

#[test]
fn bimodal_quantiles_are_within_the_stated_error() {
    check_count_histogram("bimodal", &bimodal(&mut StdRng::seed_from_u64(2)));
}

#[test]
fn constant_quantiles_are_within_the_stated_error() {
    check_count_histogram("constant", &constant(&mut StdRng::seed_from_u64(3)));
}

#[test]
fn time_histogram_quantiles_in_seconds_are_within_the_error_plus_one_unit() {
    let values = lognormal(&mut StdRng::seed_from_u64(4));
    let h = Histogram::new(Unit::Seconds);
    for &ns in &values {
        h.record(ns);
    }
    let snap = h.snapshot();
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let unit = 1.0 / TIME_UNITS_PER_SECOND as f64;
    for q in QUANTILES {
        let exact = exact_quantile(&sorted, q) as f64 / 1e9;
        let got = snap.quantile(q).unwrap();
        assert!(
            (got - exact).abs() <= exact * RELATIVE_ERROR + unit,
            "p{q}: got {got} s, exact {exact} s"
        );
    }
}

#[test]
fn merging_per_thread_snapshots_equals_recording_into_one() {
    let values = lognormal(&mut StdRng::seed_from_u64(5));
    let single = Histogram::new(Unit::Count);
    for &v in &values {
        single.record(v);
    }
    let parts: Vec<HistogramSnapshot> = std::thread::scope(|s| {
        let handles: Vec<_> = values
            .chunks(values.len() / 4)
            .map(|chunk| {
                s.spawn(move || {
                    let h = Histogram::new(Unit::Count);
                    for &v in chunk {
                        h.record(v);
                    }
                    h.snapshot()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut merged = HistogramSnapshot::empty(Unit::Count);
    for part in &parts {
        assert!(merged.merge(part));
    }
    assert_eq!(merged, single.snapshot());
}

#[test]
fn many_threads_on_one_histogram_lose_nothing() {
    // More threads than lanes, so both the lane and the shared path are used.
    let threads = 16;
    let per_thread = 50_000u64;
    let h = Histogram::new(Unit::Count);
    std::thread::scope(|s| {
        for t in 0..threads {
            let h = &h;
            s.spawn(move || {
                for i in 0..per_thread {
                    h.record(1 + (i * 7 + t) % 10_000);
                }
            });
        }
    });
    let snap = h.snapshot();
    assert_eq!(snap.count(), threads * per_thread);
    let expected: u128 = (0..threads)
        .flat_map(|t| (0..per_thread).map(move |i| u128::from(1 + (i * 7 + t) % 10_000)))
        .sum();
    assert_eq!(snap.sum_stored(), expected);
}

#[test]
fn snapshots_while_writing_are_cumulative_and_never_go_back() {
    let h = Histogram::new(Unit::Count);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (h, done) = (&h, &done);
            s.spawn(move || {
                let mut i = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    h.record(1 + (i * 31 + t) % 100_000);
                    i += 1;
                }
            });
        }
        let mut previous = h.snapshot();
        for _ in 0..200 {
            let next = h.snapshot();
            assert_eq!(next.count(), next.buckets().map(|b| b.count).sum::<u64>());
            assert!(next.count() >= previous.count());
            assert!(next.sum_stored() >= previous.sum_stored());
            for (a, b) in previous.buckets().zip(next.buckets()) {
                assert!(b.count >= a.count);
            }
            previous = next;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}
