//! Loom models of the recorders: every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of a few
//! threads recording while another reads.
//!
//! Run with `scripts/loom.sh` (`RUSTFLAGS="--cfg perf_instrument_loom" cargo test --release
//! --test loom_recorders`). The model has one lane, so two recording threads exercise both
//! the single-writer lane path and the shared atomic path. Under the loom cfg histograms use a
//! short layout (values up to 16), so the values here are small.
//!
//! Every racing party runs on a spawned model thread: loom does not explore the model's main
//! thread racing a thread it has just spawned, so a reader there would check one interleaving.
#![cfg(perf_instrument_loom)]

mod common;

use common::loom_model::model;

use loom::thread;
use perf_instrument::__loom::WideSum;
use perf_instrument::{Counter, Gauge, Histogram, Schema, Unit};
use std::sync::Arc;

#[test]
fn counter_loses_no_increment() {
    model(|| {
        let counter = Counter::new();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let c = counter.clone();
                thread::spawn(move || {
                    c.inc();
                    c.inc_by(2);
                })
            })
            .collect();
        let reader = {
            let c = counter.clone();
            thread::spawn(move || {
                let first = c.get();
                let second = c.get();
                assert!(second >= first, "a counter went backwards");
                assert!(second <= 9);
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(counter.get(), 9);
    });
}

#[test]
fn gauge_updates_are_exact_and_pairs_end_at_zero() {
    model(|| {
        let gauge = Gauge::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let g = gauge.clone();
                thread::spawn(move || {
                    g.inc();
                    g.add(5);
                    g.sub(5);
                    g.dec();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(gauge.get(), 0);
    });
}

#[test]
fn histogram_snapshots_during_writes_are_consistent_and_monotonic() {
    snapshots_during_writes(Schema::DEFAULT);
}

/// At schema 4 a page holds two chunks of 16 buckets, and 3 and 16 fall in different pages.
#[test]
fn histogram_snapshots_during_writes_are_consistent_at_schema_4() {
    snapshots_during_writes(Schema::new(4).unwrap());
}

fn snapshots_during_writes(schema: Schema) {
    model(move || {
        let hist = Histogram::with_schema(Unit::Count, schema);
        let handles: Vec<_> = [3u64, 16]
            .into_iter()
            .map(|v| {
                let h = hist.clone();
                thread::spawn(move || h.record(v))
            })
            .collect();
        let reader = {
            let h = hist.clone();
            thread::spawn(move || {
                let first = h.snapshot();
                let second = h.snapshot();
                for snap in [&first, &second] {
                    let buckets: u64 = snap.buckets().map(|b| b.count).sum();
                    assert_eq!(snap.count(), buckets);
                    assert!(snap.count() <= 2);
                }
                assert!(second.count() >= first.count(), "count went backwards");
                assert!(
                    second.sum_stored() >= first.sum_stored(),
                    "sum went backwards"
                );
                for (a, b) in first.buckets().zip(second.buckets()) {
                    assert!(b.count >= a.count, "a bucket went backwards");
                }
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        reader.join().unwrap();
        let last = hist.snapshot();
        assert_eq!(last.count(), 2);
        assert_eq!(last.sum_stored(), 19);
        assert_eq!((last.min(), last.max()), (Some(3.0), Some(16.0)));
    });
}

#[test]
fn histogram_loses_no_record_when_lanes_and_shared_shard_mix() {
    model(|| {
        let hist = Histogram::new(Unit::Count);
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let h = hist.clone();
                thread::spawn(move || {
                    h.record(10);
                    h.record_n(12, 2);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let snap = hist.snapshot();
        assert_eq!(snap.count(), 9);
        assert_eq!(snap.sum_stored(), 102);
    });
}

/// Checks what every snapshot must show: `count == Σ buckets`, at most `most` observations.
fn check_snapshot(snap: &perf_instrument::HistogramSnapshot, most: u64) {
    let buckets: u64 = snap.buckets().map(|b| b.count).sum();
    assert_eq!(snap.count(), buckets, "count differs from the buckets");
    assert!(snap.count() <= most);
}

#[test]
fn shared_writers_racing_to_create_the_shard_and_page_lose_nothing() {
    model(|| {
        let hist = Histogram::new(Unit::Count);
        // The one lane goes to this first thread (under loom lanes are not given back), so the
        // two writers below both write the shared shard, which neither has created yet, into
        // the same page (5 and 6 share one).
        {
            let h = hist.clone();
            thread::spawn(move || h.record(3)).join().unwrap();
        }
        let writers: Vec<_> = [5u64, 6]
            .into_iter()
            .map(|v| {
                let h = hist.clone();
                thread::spawn(move || h.record(v))
            })
            .collect();
        let reader = {
            let h = hist.clone();
            thread::spawn(move || {
                let first = h.snapshot();
                let second = h.snapshot();
                check_snapshot(&first, 3);
                check_snapshot(&second, 3);
                assert!(first.count() >= 1, "the lane's record was lost");
                for (a, b) in first.buckets().zip(second.buckets()) {
                    assert!(b.count >= a.count, "a bucket went backwards");
                }
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        let last = hist.snapshot();
        assert_eq!(
            last.count(),
            3,
            "a record went into a page that lost the race"
        );
        assert_eq!(last.sum_stored(), 14);
        assert_eq!(last.max(), Some(6.0));
        // Memory counts the pages that won, once each: the lane's shard with the page of 3 and
        // the shared shard with the one page of 5 and 6, as two histograms of one page each
        // (recorded here, into their shared shards) add up to.
        let empty = Histogram::new(Unit::Count).memory_bytes();
        let one_page = |v: u64| {
            let h = Histogram::new(Unit::Count);
            h.record(v);
            h.memory_bytes()
        };
        assert_eq!(
            hist.memory_bytes(),
            one_page(3) + one_page(5) - empty,
            "a page that lost the race was counted"
        );
    });
}

#[test]
fn a_snapshot_racing_a_lane_creating_its_shard_and_two_pages_stays_exact() {
    model(|| {
        let hist = Histogram::new(Unit::Count);
        let writer = {
            let h = hist.clone();
            // 2 and 16 fall in different pages: the shard, then two pages, are created here.
            thread::spawn(move || {
                h.record(2);
                h.record(16);
            })
        };
        let reader = {
            let h = hist.clone();
            thread::spawn(move || {
                let first = h.snapshot();
                let second = h.snapshot();
                check_snapshot(&first, 2);
                check_snapshot(&second, 2);
                assert!(second.count() >= first.count(), "count went backwards");
                if first.max() == Some(16.0) {
                    // The maximum is published after both buckets: both are visible.
                    assert_eq!(first.count(), 2);
                }
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
        let last = hist.snapshot();
        assert_eq!((last.count(), last.sum_stored()), (2, 18));
    });
}

#[test]
fn wide_sum_reader_never_sees_a_torn_carry_of_a_lane_owner() {
    model(|| {
        let base = u128::from(u64::MAX) - 2;
        let sum = Arc::new(WideSum::starting_at(base));
        // The lane's only writer adds 1 (no carry), then 5 (carries past 2^64): a reader may see
        // base, base + 1 or base + 6, never a value off by 2^64, and never going back.
        let owner = {
            let s = sum.clone();
            thread::spawn(move || {
                s.add_owned(1);
                s.add_owned(5);
            })
        };
        let reader = {
            let s = sum.clone();
            thread::spawn(move || {
                let first = s.read();
                let second = s.read();
                for seen in [first, second] {
                    assert!(
                        [base, base + 1, base + 6].contains(&seen),
                        "torn read: {seen:#x}"
                    );
                }
                assert!(second >= first);
            })
        };
        owner.join().unwrap();
        reader.join().unwrap();
        assert_eq!(sum.read(), base + 6);
    });
}

#[test]
fn wide_sum_shared_writers_carry_exactly_once() {
    model(|| {
        let base = u128::from(u64::MAX) - 1;
        let sum = Arc::new(WideSum::starting_at(base));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let s = sum.clone();
                thread::spawn(move || s.add_shared(2))
            })
            .collect();
        let reader = {
            let s = sum.clone();
            thread::spawn(move || {
                let seen = s.read();
                assert!(
                    [base, base + 2, base + 4].contains(&seen),
                    "torn read: {seen:#x}"
                );
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(sum.read(), base + 4);
    });
}

#[test]
fn a_released_lane_hands_its_counts_to_the_next_owner() {
    use loom::sync::atomic::{AtomicU64, Ordering};
    model(|| {
        let table = Arc::new(perf_instrument::__loom::LaneTable::new(1));
        let cell = Arc::new(AtomicU64::new(0));
        // Two threads take turns owning the single lane, each adding with a plain load and
        // store as a lane owner does; the release/claim hand-over must make every add visible
        // to the next owner, so none is lost.
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (table, cell) = (table.clone(), cell.clone());
                thread::spawn(move || loop {
                    if let Some(lane) = table.claim() {
                        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        table.release(lane);
                        break;
                    }
                    thread::yield_now();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(cell.load(Ordering::Relaxed), 2);
    });
}
