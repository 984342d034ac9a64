//! Loom models of the shared structures the hardening relies on, each stating its invariant:
//!
//! * the lock call-site table: racing first uses of sites give each site one index, the same
//!   for every thread, and each index names its own site;
//! * the lock watchdog: racing scans report a hold past its threshold exactly once;
//! * the instrumented channel's receiver count: however the receivers are cloned and dropped,
//!   the last one to go (and only it) discards what was left, so each item is counted once;
//! * the saga tracker's capacity count across shards: racing starts and completions never take
//!   it past `max_active`, and it ends equal to the sagas the shards hold;
//! * the HTTP endpoint's render slots: the count of places taken never exceeds the budget and
//!   returns to zero;
//! * the histogram's clamped path: racing writers of out-of-range values lose no clamped count,
//!   and a snapshot never shows more than was recorded.
//!
//! Run with `scripts/loom.sh` (release, bounded `LOOM_MAX_PREEMPTIONS`). Racing parties run on
//! spawned model threads (loom does not explore the main thread racing a fresh spawn);
//! registration happens before they start (the registry's own locks are std locks).
#![cfg(perf_instrument_loom)]

mod common;

use common::loom_model::{bare_registry, model};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use perf_instrument::__loom::{Sites, MAX_SITES};
use perf_instrument::lock::{LockWatchdog, Mutex};
use perf_instrument::{channel, Clock, Histogram, QueueProbe, SagaTracker, Unit, MAX_VALUE};
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn racing_call_sites_get_one_index_each_and_keep_their_location() {
    model(|| {
        let sites = Arc::new(Sites::new());
        let a: &'static Location<'static> = Location::caller();
        let b: &'static Location<'static> = Location::caller();
        assert_ne!(a.line(), b.line());
        // Two threads meet site `a` for the first time at once; a third brings site `b`.
        let racers: Vec<_> = [a, a, b]
            .into_iter()
            .map(|site| {
                let sites = sites.clone();
                thread::spawn(move || sites.index(site))
            })
            .collect();
        let got: Vec<usize> = racers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got[0], got[1], "one site, one index");
        assert_ne!(got[0], got[2], "two sites, two indexes");
        assert!(got.iter().all(|&i| i < 2), "indexes are dense: {got:?}");
        assert!(got.iter().all(|&i| i < MAX_SITES));
        let label = |l: &Location<'_>| format!("{}:{}", l.file(), l.line());
        assert_eq!(sites.label(got[0]), label(a));
        assert_eq!(sites.label(got[2]), label(b));
    });
}

#[test]
fn racing_watchdog_scans_report_a_long_hold_once() {
    model(|| {
        let registry = bare_registry();
        let (clock, hand) = Clock::manual();
        let node = Mutex::builder("node")
            .watchdog(Duration::from_secs(1))
            .clock(clock)
            .build((), &registry)
            .unwrap();
        let held = node.lock();
        hand.advance(Duration::from_secs(3));
        // The watchdog thread and a direct scan race on the same hold.
        let scans: Vec<_> = (0..2)
            .map(|_| thread::spawn(|| LockWatchdog::scan().len()))
            .collect();
        let reported: usize = scans.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(reported, 1, "one hold, one report");
        assert!(LockWatchdog::scan().is_empty(), "and never again");
        drop(held);
        let snapshot = registry.snapshot();
        assert_eq!(
            snapshot.value("lock_held_too_long", &[("lock", "node")]),
            Some(1.0)
        );
    });
}

#[test]
fn the_last_receiver_dropped_discards_the_items_left_once() {
    model(|| {
        let registry = bare_registry();
        let (clock, _hand) = Clock::manual();
        let probe = QueueProbe::builder("q")
            .clock(clock)
            .build(&registry)
            .unwrap();
        let (tx, rx) = channel::unbounded::<u8>(probe.clone());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let other = rx.clone();
        // One thread clones its receiver and drops both; the other drops its own.
        let a = thread::spawn(move || {
            let third = rx.clone();
            drop(rx);
            drop(third);
        });
        let b = thread::spawn(move || drop(other));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(probe.depth(), 0, "nothing is left waiting");
        assert_eq!(
            registry
                .snapshot()
                .value("queue_dropped", &[("queue", "q")]),
            Some(2.0),
            "each item left is discarded exactly once"
        );
    });
}

#[test]
fn the_saga_capacity_count_stays_within_the_maximum_across_shards() {
    model(|| {
        let registry = bare_registry();
        let (clock, _hand) = Clock::manual();
        let tracker = SagaTracker::builder("order")
            .steps(["a"])
            .max_active(1)
            .shards(2)
            .clock(clock)
            .build(&registry)
            .unwrap();
        assert!(tracker.start(1u64).is_accepted());
        // At capacity: a start (which evicts the oldest saga of its shard, or is dropped when
        // its shard is empty) racing the completion of the saga that fills it, on either shard.
        let starter = {
            let t = tracker.clone();
            thread::spawn(move || {
                let _ = t.start(2u64);
                let seen = t.active_count();
                assert!(seen <= 1, "active {seen} past the maximum");
            })
        };
        let finisher = {
            let t = tracker.clone();
            thread::spawn(move || {
                let _ = t.completed(1u64);
                let seen = t.active_count();
                assert!(seen <= 1, "active {seen} past the maximum");
            })
        };
        starter.join().unwrap();
        finisher.join().unwrap();
        assert_eq!(
            tracker.active_count(),
            tracker.memory().active,
            "the count is what the shards hold"
        );
        assert!(tracker.active_count() <= 1);
    });
}

#[test]
fn render_slots_never_exceed_the_budget_and_return_to_zero() {
    use perf_instrument::__loom::take_slot;
    model(|| {
        let taken = Arc::new(AtomicUsize::new(0));
        let max = 1;
        let scrapes: Vec<_> = (0..3)
            .map(|_| {
                let taken = taken.clone();
                thread::spawn(move || {
                    let slot = take_slot(&taken, max);
                    let now = taken.load(Ordering::Acquire);
                    assert!(now <= max, "{now} places taken of {max}");
                    if slot.is_some() {
                        assert_eq!(now, 1, "a held slot is counted");
                    }
                    slot.is_some()
                })
            })
            .collect();
        let granted = scrapes
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&g| g)
            .count();
        assert!(granted >= 1, "the first scrape always gets a slot");
        assert_eq!(taken.load(Ordering::Acquire), 0, "every slot given back");
    });
}

#[test]
fn clamped_values_from_racing_writers_are_all_counted() {
    model(|| {
        let hist = Histogram::new(Unit::Count);
        let big = MAX_VALUE + 1;
        // Two writers, one recording two values at once, racing a snapshot.
        let writers: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|n| {
                let h = hist.clone();
                thread::spawn(move || h.record_n(big, n))
            })
            .collect();
        let reader = {
            let h = hist.clone();
            thread::spawn(move || {
                // Never more than was recorded. (Not checked: `clamped <= count` within one
                // snapshot. The snapshot reads a shard's buckets before its clamped count,
                // both relaxed, so while writers run it can show a clamped value whose bucket
                // it missed; the next snapshot shows both.)
                let snap = h.snapshot();
                assert!(snap.clamped() <= 3, "clamped {}", snap.clamped());
                assert!(snap.count() <= 3);
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        let snap = hist.snapshot();
        assert_eq!(snap.clamped(), 3, "no clamped value lost");
        assert_eq!(snap.count(), 3);
    });
}
