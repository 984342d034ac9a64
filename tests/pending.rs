//! The pending/orphan tracker: completions, orphans, capacity, the sweeper.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{eventually, registry, scrape, value};
use perf_instrument::{Clock, PendingTracker, Registry};
use std::time::Duration;

#[test]
fn pending_tracker_completes_orphans_and_counts_every_anomaly_once() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let replies = PendingTracker::<String>::builder("replies")
        .timeout(Duration::from_secs(10))
        .max_pending(1_000)
        .clock(clock)
        .build(&registry)
        .unwrap();
    for id in ["a", "b", "c", "d"] {
        assert!(replies.register(id.to_string()));
    }
    assert!(!replies.register("a".to_string()), "duplicate refused");
    hand.advance(Duration::from_secs(4));
    assert_eq!(
        replies.complete(&"a".to_string()),
        Some(Duration::from_secs(4))
    );
    assert!(replies.cancel(&"b".to_string()));
    assert_eq!(replies.oldest_age(), Some(Duration::from_secs(4)));
    hand.advance(Duration::from_secs(6)); // exactly the timeout: not yet orphaned
    assert_eq!(replies.sweep(), 0);
    hand.advance(Duration::from_nanos(1));
    assert_eq!(replies.sweep(), 2, "c and d timed out");
    assert_eq!(
        replies.complete(&"c".to_string()),
        None,
        "late after orphaning"
    );
    assert_eq!(replies.complete(&"zzz".to_string()), None, "late: unknown");
    assert!(replies.is_empty());

    let parsed = scrape(&registry);
    let t = ("tracker", "replies");
    let counter = |family: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![t];
        labels.extend_from_slice(extra);
        value(
            &parsed,
            &format!("{family}_total"),
            &format!("{family}_total"),
            &labels,
        )
    };
    assert_eq!(counter("pending_registered", &[]), Some(4.0));
    assert_eq!(counter("pending_completed", &[]), Some(1.0));
    assert_eq!(counter("pending_cancelled", &[]), Some(1.0));
    assert_eq!(counter("pending_late", &[]), Some(2.0));
    assert_eq!(
        counter("pending_rejected", &[("reason", "duplicate")]),
        Some(1.0)
    );
    assert_eq!(
        counter("pending_orphaned", &[("reason", "timeout")]),
        Some(2.0)
    );
    assert_eq!(
        value(&parsed, "pending_items", "pending_items", &[t]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &parsed,
            "pending_completion_duration_seconds",
            "pending_completion_duration_seconds_count",
            &[t]
        ),
        Some(1.0)
    );
}

#[test]
fn pending_tracker_is_bounded_and_orphans_on_capacity_and_drop() {
    let registry = registry();
    let (clock, _hand) = Clock::manual();
    // 1,024 entries: several shards (of at least 64 each), whose shares add up to the maximum.
    let tracker = PendingTracker::<u64>::builder("bounded")
        .max_pending(1_024)
        .clock(clock)
        .build(&registry)
        .unwrap();
    for id in 0..10_000u64 {
        tracker.register(id);
    }
    assert_eq!(tracker.len(), 1_024, "at most max_pending, across shards");
    let kept = tracker.len() as f64;
    drop(tracker);
    let parsed = scrape(&registry);
    let orphaned = |reason| {
        value(
            &parsed,
            "pending_orphaned_total",
            "pending_orphaned_total",
            &[("tracker", "bounded"), ("reason", reason)],
        )
    };
    assert_eq!(orphaned("capacity"), Some(10_000.0 - kept));
    assert_eq!(orphaned("dropped"), Some(kept));
    assert_eq!(
        value(
            &parsed,
            "pending_items",
            "pending_items",
            &[("tracker", "bounded")]
        ),
        None,
        "dropped tracker leaves the gauge"
    );
}

#[test]
fn pending_tracker_bounds_the_total_and_evicts_only_when_full_the_oldest_of_all() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    // A small tracker has one shard: it evicts exactly at its maximum, the oldest of all.
    let tracker = PendingTracker::<u64>::builder("global_max")
        .max_pending(5)
        .clock(clock)
        .build(&registry)
        .unwrap();
    let orphaned = || {
        value(
            &scrape(&registry),
            "pending_orphaned_total",
            "pending_orphaned_total",
            &[("tracker", "global_max"), ("reason", "capacity")],
        )
        .unwrap()
    };
    for id in 0..5u64 {
        assert!(tracker.register(id));
        hand.advance(Duration::from_millis(1));
    }
    assert_eq!(tracker.len(), 5);
    assert_eq!(orphaned(), 0.0, "nothing evicted below the maximum");
    // Full: each new id orphans the oldest pending one.
    for id in 5..8u64 {
        assert!(tracker.register(id));
        hand.advance(Duration::from_millis(1));
        assert_eq!(tracker.len(), 5);
    }
    assert_eq!(orphaned(), 3.0);
    for gone in 0..3u64 {
        assert_eq!(
            tracker.complete(&gone),
            None,
            "{gone} was the oldest, evicted"
        );
    }
    for kept in 3..8u64 {
        assert!(tracker.complete(&kept).is_some(), "{kept} is kept");
    }
    assert!(tracker.is_empty());
    // Freed slots are reused without evicting.
    for id in 10..15u64 {
        assert!(tracker.register(id));
    }
    assert!(!tracker.register(10), "a duplicate takes no slot");
    assert_eq!((tracker.len(), orphaned()), (5, 3.0));
    hand.advance(Duration::from_secs(60));
    assert_eq!(tracker.sweep(), 5);
    assert!(tracker.is_empty());
    for id in 20..25u64 {
        assert!(tracker.register(id));
    }
    assert_eq!(
        (tracker.len(), orphaned()),
        (5, 3.0),
        "swept slots are free"
    );

    // Many threads registering into a full tracker never take it past its maximum.
    let crowded = PendingTracker::<u64>::builder("global_max_threads")
        .max_pending(7)
        .build(&registry)
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let crowded = &crowded;
            s.spawn(move || {
                for i in 0..5_000 {
                    crowded.register(t * 1_000_000 + i);
                    assert!(crowded.len() <= 7, "{}", crowded.len());
                    if i % 3 == 0 {
                        crowded.complete(&(t * 1_000_000 + i));
                    }
                }
            });
        }
    });
    assert!(crowded.len() <= 7);
}

#[test]
fn pending_tracker_from_many_threads_accounts_for_every_id() {
    let registry = registry();
    let tracker = PendingTracker::<u64>::builder("threads")
        .build(&registry)
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let tracker = &tracker;
            s.spawn(move || {
                for i in 0..10_000 {
                    let id = t * 1_000_000 + i;
                    tracker.register(id);
                    if i % 2 == 0 {
                        tracker.complete(&id);
                    } else {
                        tracker.cancel(&id);
                    }
                }
            });
        }
    });
    assert!(tracker.is_empty());
    let parsed = scrape(&registry);
    let l = [("tracker", "threads")];
    assert_eq!(
        value(
            &parsed,
            "pending_completed_total",
            "pending_completed_total",
            &l
        ),
        Some(20_000.0)
    );
    assert_eq!(
        value(
            &parsed,
            "pending_cancelled_total",
            "pending_cancelled_total",
            &l
        ),
        Some(20_000.0)
    );
}

#[test]
fn the_background_sweeper_orphans_without_being_called() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let tracker = PendingTracker::<u64>::builder("swept")
        .timeout(Duration::from_secs(1))
        .clock(clock)
        .build(&registry)
        .unwrap();
    tracker.register(1);
    let sweeper = tracker.spawn_sweeper(Duration::from_millis(5)).unwrap();
    hand.advance(Duration::from_secs(2));
    // Bounded wait for the thread to run (not a speed assertion).
    assert!(
        eventually(Duration::from_secs(10), || tracker.is_empty()),
        "the sweeper orphaned the entry"
    );
    assert!(sweeper.is_running());
    let up = |registry: &Registry| {
        let thread = [("thread", "pending-sweep-swept")];
        registry
            .snapshot()
            .value("perf_instrument_background_thread_up", &thread)
    };
    assert_eq!(up(&registry), Some(1.0));
    sweeper.stop();
    assert_eq!(up(&registry), Some(0.0));
}
