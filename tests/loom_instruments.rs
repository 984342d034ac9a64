//! Loom models of the instruments' concurrent parts: the pipeline's in-flight count, the in-flight guard (also dropped on
//! another thread than the one that made it), the pending tracker's register/complete/cancel/
//! sweep races and its global bound, the held-lock record the watchdog reads, and the readers'
//! stretch record it reads for an `RwLock`.
//!
//! Run with `scripts/loom.sh` (release, bounded `LOOM_MAX_PREEMPTIONS`). Racing parties run on
//! spawned model threads (loom does not explore the main thread racing a fresh spawn).
#![cfg(perf_instrument_loom)]

mod common;

use common::loom_model::{bare_registry, model};

use loom::thread;
use perf_instrument::__loom::{HeldRecord, ReadStretch};
use perf_instrument::{Clock, Gauge, PendingTracker, Pipeline};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn pipeline_in_flight_is_exact_with_a_foreign_end_racing_a_begin_and_finish() {
    model(|| {
        let registry = bare_registry();
        let (clock, _hand) = Clock::manual();
        let build = |name: &str| {
            Pipeline::builder(name)
                .clock(clock.clone())
                .build(&registry)
                .unwrap()
        };
        let (p, other) = (Arc::new(build("p")), Arc::new(build("other")));
        // A token of another pipeline ended on `p` (what a mixed-up caller does), racing an
        // event that begins and finishes on `p`: the event's end-to-end time is kept and the
        // in-flight count ends at 0 (with the old shared count a stray end could take the
        // event's place and leave the gauge stuck at 1).
        let stray = {
            let (p, other) = (p.clone(), other.clone());
            thread::spawn(move || {
                let _ = p.finish(other.begin());
            })
        };
        let event = {
            let p = p.clone();
            thread::spawn(move || {
                let token = p.begin();
                let seen = p.in_flight();
                assert!((0..=1).contains(&seen), "in flight read {seen}");
                let _ = p.finish(token);
            })
        };
        stray.join().unwrap();
        event.join().unwrap();
        assert_eq!((p.in_flight(), other.in_flight()), (0, 1));
        let snapshot = registry.snapshot();
        let e2e = snapshot
            .histogram("pipeline_end_to_end_duration_seconds", &[("pipeline", "p")])
            .unwrap();
        assert_eq!(e2e.count(), 1, "the event's end-to-end time is kept");
    });
}

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
fn an_in_flight_guard_dropped_on_another_thread_keeps_the_gauge_right() {
    model(|| {
        let gauge = Gauge::new();
        // Made on one thread, handed to (and dropped on) another, while a third reads.
        let maker = {
            let g = gauge.clone();
            thread::spawn(move || {
                let guard = g.track_owned();
                let _mine = g.track();
                thread::spawn(move || drop(guard))
            })
        };
        let reader = {
            let g = gauge.clone();
            thread::spawn(move || {
                let seen = g.get();
                assert!((0..=2).contains(&seen), "in flight read {seen}");
            })
        };
        let dropper = maker.join().unwrap();
        dropper.join().unwrap();
        reader.join().unwrap();
        assert_eq!(gauge.get(), 0);
    });
}

#[test]
fn a_pending_id_registered_while_completed_and_swept_ends_once() {
    model(|| {
        let registry = bare_registry();
        let (clock, hand) = Clock::manual();
        let tracker = PendingTracker::<u64>::builder("register_race")
            .timeout(Duration::from_secs(1))
            .max_pending(1)
            .clock(clock)
            .build(&registry)
            .unwrap();
        // Registered at 0 or at 2 s (the clock moves when the sweeper starts): the sweep may
        // find it old enough, too young, or not there yet.
        let registrar = {
            let t = tracker.clone();
            thread::spawn(move || assert!(t.register(7)))
        };
        let completer = {
            let t = tracker.clone();
            thread::spawn(move || t.complete(&7).is_some())
        };
        let sweeper = {
            let t = tracker.clone();
            thread::spawn(move || {
                hand.advance(Duration::from_secs(2));
                t.sweep()
            })
        };
        registrar.join().unwrap();
        let completed = completer.join().unwrap();
        let swept = sweeper.join().unwrap();
        // A completion that came first is late (counted, `None`); then the id is still pending.
        let left = tracker.cancel(&7);
        let outcomes = usize::from(completed) + swept + usize::from(left);
        assert_eq!(
            outcomes, 1,
            "completed {completed}, swept {swept}, still pending {left}"
        );
        assert!(tracker.is_empty());
        assert_eq!(tracker.len(), 0, "every slot given back");
    });
}

#[test]
fn racing_registrations_never_take_the_tracker_past_its_maximum() {
    model(|| {
        let registry = bare_registry();
        let tracker = PendingTracker::<u64>::builder("bound_race")
            .max_pending(1)
            .clock(Clock::manual().0)
            .build(&registry)
            .unwrap();
        let registrars: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|id| {
                let t = tracker.clone();
                thread::spawn(move || {
                    assert!(t.register(id));
                    assert!(t.len() <= 1, "{} pending", t.len());
                })
            })
            .collect();
        for r in registrars {
            r.join().unwrap();
        }
        // One was orphaned to make room for the other.
        assert_eq!(tracker.len(), 1);
        let kept = usize::from(tracker.complete(&1).is_some())
            + usize::from(tracker.complete(&2).is_some());
        assert_eq!(kept, 1);
        assert!(tracker.is_empty());
    });
}

#[test]
fn a_pending_id_ends_in_exactly_one_outcome() {
    model(|| {
        let registry = bare_registry();
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
