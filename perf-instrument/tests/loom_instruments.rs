//! Loom models of the instruments' concurrent parts: the in-flight guard, the pending tracker's
//! register/complete/cancel/sweep race, and the held-lock record the watchdog reads.
//!
//! Run with `scripts/loom.sh` (release, bounded `LOOM_MAX_PREEMPTIONS`). Racing parties run on
//! spawned model threads (loom does not explore the main thread racing a fresh spawn).
#![cfg(perf_instrument_loom)]

mod common;

use common::loom_model::model;

use loom::thread;
use perf_instrument::__loom::{HeldRecord, ReadStretch};
use perf_instrument::{Clock, Gauge, PendingTracker, Registry};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn in_flight_never_goes_negative_and_ends_at_zero() {
    model(|| {
        let gauge = Gauge::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let g = gauge.clone();
                thread::spawn(move || {
                    let guard = g.track_owned();
                    drop(guard);
                    let _again = g.track();
                })
            })
            .collect();
        let reader = {
            let g = gauge.clone();
            thread::spawn(move || {
                let seen = g.get();
                assert!((0..=2).contains(&seen), "in flight read {seen}");
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(gauge.get(), 0);
    });
}

#[test]
fn a_pending_id_ends_in_exactly_one_outcome() {
    model(|| {
        let registry = Registry::builder()
            .self_metrics(false)
            .process_metrics(false)
            .build()
            .unwrap();
        let (clock, hand) = Clock::manual();
        let tracker = PendingTracker::<u64>::builder("race")
            .timeout(Duration::from_secs(1))
            .max_pending(1)
            .clock(clock)
            .build(&registry)
            .unwrap();
        tracker.register(7);
        hand.advance(Duration::from_secs(2)); // old enough for the sweep
        let completer = {
            let t = tracker.clone();
            thread::spawn(move || t.complete(&7).is_some())
        };
        let canceller = {
            let t = tracker.clone();
            thread::spawn(move || t.cancel(&7))
        };
        let sweeper = {
            let t = tracker.clone();
            thread::spawn(move || t.sweep())
        };
        let swept = sweeper.join().unwrap();
        let completed = completer.join().unwrap();
        let cancelled = canceller.join().unwrap();
        let outcomes = usize::from(completed) + usize::from(cancelled) + swept;
        assert_eq!(
            outcomes, 1,
            "completed {completed}, cancelled {cancelled}, swept {swept}"
        );
        assert!(tracker.is_empty());
    });
}

#[test]
fn the_watchdog_reads_whole_holds_only() {
    model(|| {
        let record = Arc::new(HeldRecord::default());
        // The holder acquires (since = 10·k at site k) and releases, twice; holders are
        // serialised by the lock, so one thread stands for them.
        let holder = {
            let r = record.clone();
            thread::spawn(move || {
                for k in 1..=2u64 {
                    r.acquire(10 * k, k as usize);
                    r.release();
                }
            })
        };
        let watchdog = {
            let r = record.clone();
            thread::spawn(move || {
                if let Some(held) = r.read() {
                    // Hold k leaves the sequence at 4k - 2: its since and site must be hold k's,
                    // never a mix.
                    let k = (held.episode + 2) / 4;
                    assert_eq!(
                        (held.since, held.site as u64),
                        (10 * k, k),
                        "torn: {held:?}"
                    );
                }
            })
        };
        holder.join().unwrap();
        watchdog.join().unwrap();
        assert_eq!(record.read(), None, "released");
    });
}

#[test]
fn the_watchdog_never_pairs_readers_with_an_earlier_stretch_start() {
    model(|| {
        let stretch = Arc::new(ReadStretch::default());
        // A stretch long over: started at 1 at site 1. A watchdog reading it while new readers
        // arrive would report a hold since 1 that no reader has now.
        stretch.enter(1, 1);
        stretch.leave();
        // Two readers (since = 10·k at site k), overlapping or not.
        let readers: Vec<_> = [2u64, 3]
            .into_iter()
            .map(|k| {
                let s = stretch.clone();
                thread::spawn(move || {
                    s.enter(10 * k, k as usize);
                    s.leave();
                })
            })
            .collect();
        let watchdog = {
            let s = stretch.clone();
            thread::spawn(move || {
                if let Some(read) = s.read() {
                    assert!(
                        read.since == 20 || read.since == 30,
                        "a start no current stretch had: {read:?}"
                    );
                    assert_eq!(read.site as u64, read.since / 10, "torn: {read:?}");
                }
            })
        };
        for r in readers {
            r.join().unwrap();
        }
        watchdog.join().unwrap();
        assert_eq!(stretch.read(), None, "every reader left");
    });
}
