//! Loom models of the saga tracker: terminal events racing each other and the time-out sweep
//! end a saga exactly once, and `saga_active` returns to what is left.
//!
//! Run with `scripts/loom.sh`. The families are registered before the model spawns threads
//! (the registry's own locks are std locks, outside the model); the shard mutexes, gauges and
//! counters are loom's. One shard, so the racing events meet on the same lock. Both racing
//! parties run on spawned model threads: loom does not explore the model's main thread racing
//! a thread it has just spawned.
#![cfg(perf_instrument_loom)]

mod common;

use common::loom_model::{bare_registry, model};

use loom::thread;
use perf_instrument::saga::{SagaFailureReason, SagaOutcome, SagaRejectReason, SagaVerdict};
use perf_instrument::{Clock, Gauge, ManualClock, Opts, SagaTracker};
use std::time::Duration;

/// A tracker with a 1 s deadline on a manual clock, its `saga_active` gauge, and the clock's
/// hand.
fn tracker(max_active: usize) -> (SagaTracker, Gauge, ManualClock) {
    let registry = bare_registry();
    let (clock, hand) = Clock::manual();
    let tracker = SagaTracker::builder("order")
        .steps(["a"])
        .deadline(Duration::from_secs(1))
        .stuck_after(Duration::from_secs(1))
        .max_active(max_active)
        .shards(1)
        .clock(clock)
        .build(&registry)
        .unwrap();
    // The same family the tracker registered (same shape), for reading the gauge.
    let active = registry
        .register_gauge(Opts::new("saga_active", "Active.").labels(["saga"]))
        .unwrap()
        .with_label_values(&["order"]);
    (tracker, active, hand)
}

fn outcomes(tracker: &SagaTracker) -> u64 {
    SagaOutcome::ALL
        .iter()
        .map(|o| tracker.finished_count(*o))
        .sum()
}

#[test]
fn completion_racing_the_timeout_sweep_ends_the_saga_once() {
    model(|| {
        let (tracker, active, hand) = tracker(10);
        tracker.start(1u64);
        hand.advance(Duration::from_secs(2)); // past the deadline
        let sweeper = {
            let tracker = tracker.clone();
            thread::spawn(move || tracker.sweep().timed_out)
        };
        let completer = {
            let (tracker, active) = (tracker.clone(), active.clone());
            thread::spawn(move || {
                let verdict = tracker.completed(1u64);
                assert!(active.get() >= 0, "saga_active went negative");
                verdict
            })
        };
        let verdict = completer.join().unwrap();
        let timed_out = sweeper.join().unwrap();

        assert_eq!(outcomes(&tracker), 1);
        match verdict {
            SagaVerdict::Accepted => {
                assert_eq!(timed_out, 0);
                assert_eq!(tracker.finished_count(SagaOutcome::Completed), 1);
            }
            SagaVerdict::Rejected(SagaRejectReason::AfterTerminal) => {
                assert_eq!(timed_out, 1);
                assert_eq!(tracker.finished_count(SagaOutcome::TimedOut), 1);
                assert_eq!(tracker.rejected_count(SagaRejectReason::AfterTerminal), 1);
            }
            other => panic!("unexpected verdict {other:?}"),
        }
        assert_eq!(tracker.active_count(), 0);
        assert_eq!(active.get(), 0);
    });
}

#[test]
fn two_terminal_events_end_the_saga_once() {
    model(|| {
        let (tracker, active, _hand) = tracker(10);
        tracker.start(1u64);
        let failer = {
            let tracker = tracker.clone();
            thread::spawn(move || tracker.failed(1u64, SagaFailureReason::OTHER))
        };
        let completer = {
            let tracker = tracker.clone();
            thread::spawn(move || tracker.completed(1u64))
        };
        let completed = completer.join().unwrap();
        let failed = failer.join().unwrap();

        let accepted = [completed, failed]
            .iter()
            .filter(|v| v.is_accepted())
            .count();
        assert_eq!(accepted, 1, "{completed:?} {failed:?}");
        assert_eq!(outcomes(&tracker), 1);
        assert_eq!(tracker.rejected_count(SagaRejectReason::AfterTerminal), 1);
        assert_eq!((tracker.active_count(), active.get()), (0, 0));
    });
}

#[test]
fn eviction_racing_the_timeout_sweep_ends_the_old_saga_once() {
    model(|| {
        // Capacity one: starting saga 2 evicts saga 1 unless the sweep timed it out first.
        let (tracker, active, hand) = tracker(1);
        tracker.start(1u64);
        hand.advance(Duration::from_secs(2));
        let sweeper = {
            let tracker = tracker.clone();
            thread::spawn(move || tracker.sweep().timed_out)
        };
        let starter = {
            let tracker = tracker.clone();
            thread::spawn(move || tracker.start(2u64))
        };
        assert_eq!(starter.join().unwrap(), SagaVerdict::Accepted);
        let timed_out = sweeper.join().unwrap();

        let evicted = tracker.finished_count(SagaOutcome::Evicted);
        assert_eq!(evicted + tracker.finished_count(SagaOutcome::TimedOut), 1);
        assert_eq!(timed_out as u64, 1 - evicted);
        assert_eq!(tracker.started_count(), 2);
        assert_eq!((tracker.active_count(), active.get()), (1, 1));
    });
}
