//! The domain instruments: pipeline, queue probe and channel, in-flight and long tasks,
//! pending/orphan tracker, batches, locks and the lock watchdog.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use common::YieldNow;
use perf_instrument::{
    channel, render_as, BatchRecorder, Clock, Format, Gauge, LockBuilder, LockWatchdog,
    LongTaskTimer, PendingTracker, Pipeline, QueueProbe, Registry, RemoteToken, RwLock,
};
use std::future::Future;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

fn registry() -> Registry {
    Registry::builder().process_metrics(false).build().unwrap()
}

fn scrape(registry: &Registry) -> Parsed {
    let text = String::from_utf8(render_as(registry, Format::PrometheusText)).unwrap();
    parse(&text, Dialect::Prometheus).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The value of the sample `name` whose labels include all of `labels`.
fn value(parsed: &Parsed, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parsed.get(family)?.samples.iter().find_map(|s| {
        (s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v))).then_some(s.value)
    })
}

// ---------------------------------------------------------------- in-flight and long tasks

#[test]
fn in_flight_is_exact_on_return_panic_cancel_and_across_threads() {
    let registry = registry();
    let in_flight: Gauge = registry.gauge("jobs_in_flight", "Jobs running.").unwrap();

    // Panic while tracked.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = in_flight.track();
        panic!("job failed");
    }));
    assert!(caught.is_err());
    assert_eq!(in_flight.get(), 0);

    // A future cancelled (dropped) while pending at an `.await`.
    let gauge = in_flight.clone();
    let mut task = Box::pin(async move {
        let _guard = gauge.track_owned();
        YieldNow(false).await;
        unreachable!("never polled to completion");
    });
    let waker = std::task::Waker::noop();
    assert!(task
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    assert_eq!(in_flight.get(), 1);
    drop(task);
    assert_eq!(in_flight.get(), 0, "cancellation decrements");

    // Moved across threads and an `.await` on a multi-threaded runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let guard = in_flight.track_owned();
            runtime.spawn(async move {
                tokio::task::yield_now().await;
                drop(guard);
            })
        })
        .collect();
    runtime.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(in_flight.get(), 0);
    let guard = in_flight.track_owned();
    std::thread::spawn(move || drop(guard)).join().unwrap();
    assert_eq!(in_flight.get(), 0);
}

#[test]
fn long_task_timer_reports_active_tasks_and_the_oldest_age() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let backups = LongTaskTimer::builder("backup")
        .labels(&[("db", "orders")])
        .clock(clock)
        .capacity(2)
        .build(&registry)
        .unwrap();
    let first = backups.start();
    hand.advance(Duration::from_secs(60));
    let second = backups.start();
    let third = backups.start(); // beyond capacity: active and timed, not in the oldest age
    hand.advance(Duration::from_secs(30));
    let parsed = scrape(&registry);
    let labels = [("db", "orders")];
    assert_eq!(
        value(
            &parsed,
            "backup_active_tasks",
            "backup_active_tasks",
            &labels
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &parsed,
            "backup_oldest_active_age_seconds",
            "backup_oldest_active_age_seconds",
            &labels
        ),
        Some(90.0)
    );
    assert_eq!(
        value(
            &parsed,
            "backup_untracked_total",
            "backup_untracked_total",
            &labels
        ),
        Some(1.0)
    );
    drop(first);
    assert_eq!(backups.oldest_active_age(), Some(Duration::from_secs(30)));
    drop((second, third));
    assert_eq!(backups.active(), 0);
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "backup_duration_seconds",
            "backup_duration_seconds_count",
            &labels
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &parsed,
            "backup_oldest_active_age_seconds",
            "backup_oldest_active_age_seconds",
            &labels
        ),
        Some(0.0)
    );
}

// ---------------------------------------------------------------- pending / orphans

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
    let sweeper = tracker.spawn_sweeper(Duration::from_millis(5));
    hand.advance(Duration::from_secs(2));
    // Bounded wait for the thread to run (not a speed assertion).
    for _ in 0..2_000 {
        if tracker.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(tracker.is_empty(), "the sweeper orphaned the entry");
    assert!(sweeper.is_running());
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "perf_instrument_background_thread_up",
            "perf_instrument_background_thread_up",
            &[("thread", "pending-sweep-swept")]
        ),
        Some(1.0)
    );
    sweeper.stop();
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "perf_instrument_background_thread_up",
            "perf_instrument_background_thread_up",
            &[("thread", "pending-sweep-swept")]
        ),
        Some(0.0)
    );
}

// ---------------------------------------------------------------- batches

#[test]
fn batch_sizes_are_exact_small_integers_with_their_durations() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let commits = BatchRecorder::builder("group_commit")
        .clock(clock)
        .build(&registry)
        .unwrap();
    for items in [1u64, 2, 3, 3, 7, 14, 64] {
        let batch = commits.start();
        hand.advance(Duration::from_micros(100 * items));
        batch.finish(items);
    }
    let sizes = commits.sizes().snapshot();
    assert_eq!(sizes.count(), 7);
    assert_eq!(sizes.sum(), 94.0);
    // Small integers have buckets of their own: the quantiles are the values themselves.
    assert_eq!(sizes.quantile(0.5), Some(3.0));
    assert_eq!(sizes.min(), Some(1.0));
    assert_eq!(sizes.max(), Some(64.0));
    assert_eq!(sizes.quantile(6.0 / 7.0), Some(14.0));
    let durations = commits.durations().snapshot();
    assert!(
        (durations.sum() - 0.0094).abs() < 1e-8,
        "{}",
        durations.sum()
    );
    let parsed = scrape(&registry);
    let b = [("batch", "group_commit")];
    assert_eq!(
        value(
            &parsed,
            "batch_size",
            "batch_size_bucket",
            &[b[0], ("le", "4.0")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            &parsed,
            "batch_duration_seconds",
            "batch_duration_seconds_count",
            &b
        ),
        Some(7.0)
    );
}

// ---------------------------------------------------------------- pipeline

#[test]
fn pipeline_stages_gaps_and_end_to_end_across_threads() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let orders = Pipeline::builder("orders")
        .stages(["enrich", "persist", "publish"])
        .clock(clock)
        .build(&registry)
        .unwrap();
    let stage = |name| orders.stage(name).unwrap();
    let mut event = orders.begin();
    assert_eq!(orders.in_flight(), 1);
    orders.time_stage(&mut event, stage("enrich"), || {
        hand.advance(Duration::from_millis(2))
    });
    // Hand the token to another thread, as a queue would, after 5 ms of waiting.
    hand.advance(Duration::from_millis(5));
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(event).unwrap();
    let (orders2, hand2) = (orders.clone(), hand.clone());
    let persist = stage("persist");
    let event = std::thread::spawn(move || {
        let mut event = rx.recv().unwrap();
        orders2.time_stage(&mut event, persist, || {
            hand2.advance(Duration::from_millis(3))
        });
        event
    })
    .join()
    .unwrap();
    let took = orders.finish(event);
    assert_eq!(took, Duration::from_millis(10));
    assert_eq!(orders.in_flight(), 0);

    let parsed = scrape(&registry);
    let sum = |family: &str, stage: &str| {
        value(
            &parsed,
            family,
            &format!("{family}_sum"),
            &[("pipeline", "orders"), ("stage", stage)],
        )
        .unwrap()
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    assert!(close(
        sum("pipeline_stage_duration_seconds", "enrich"),
        0.002
    ));
    assert!(close(
        sum("pipeline_stage_duration_seconds", "persist"),
        0.003
    ));
    assert!(
        close(sum("pipeline_stage_gap_seconds", "persist"), 0.005),
        "waiting between stages"
    );
    assert!(close(sum("pipeline_stage_gap_seconds", "enrich"), 0.0));
    let e2e = value(
        &parsed,
        "pipeline_end_to_end_duration_seconds",
        "pipeline_end_to_end_duration_seconds_sum",
        &[("pipeline", "orders")],
    );
    assert!(close(e2e.unwrap(), 0.010));

    // A stage handle of another pipeline is refused and counted, not recorded.
    let other = Pipeline::builder("other")
        .stages(["enrich"])
        .build(&registry)
        .unwrap();
    let mut event = orders.begin();
    orders.stage_started(&mut event, other.stage("enrich").unwrap());
    orders.abandon(event);
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "pipeline_events_rejected_total",
            "pipeline_events_rejected_total",
            &[("pipeline", "orders"), ("reason", "wrong_stage")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &parsed,
            "pipeline_events_abandoned_total",
            "pipeline_events_abandoned_total",
            &[("pipeline", "orders")]
        ),
        Some(1.0)
    );
}

#[test]
fn pipeline_tokens_cross_processes_and_skew_is_clamped_and_counted() {
    let registry = registry();
    let producer = Pipeline::builder("orders").build(&registry).unwrap();
    let event = producer.begin();
    let wire = producer.wire_token(&event).to_bytes();
    producer.finish(event);

    // Another process decodes the 8 bytes from the record.
    let consumer_registry = Registry::builder().process_metrics(false).build().unwrap();
    let consumer = Pipeline::builder("orders")
        .max_remote_age(Duration::from_secs(60))
        .build(&consumer_registry)
        .unwrap();
    let token = RemoteToken::from_bytes(&wire).unwrap();
    let now = token.unix_nanos() + 25_000_000;
    assert_eq!(
        consumer.record_remote_at(token, now),
        Duration::from_millis(25)
    );
    // The producer's clock is ahead: negative latency is clamped to zero.
    assert_eq!(
        consumer.record_remote_at(token, token.unix_nanos() - 1_000),
        Duration::ZERO
    );
    // An origin hours old: clamped to the maximum age.
    assert_eq!(
        consumer.record_remote_at(token, token.unix_nanos() + 3_600_000_000_000),
        Duration::from_secs(60)
    );
    // A live round trip through the real wall clock.
    assert!(consumer.record_remote(token) < Duration::from_secs(60));

    let parsed = scrape(&consumer_registry);
    let skew = |reason| {
        value(
            &parsed,
            "pipeline_remote_clock_skew_total",
            "pipeline_remote_clock_skew_total",
            &[("pipeline", "orders"), ("reason", reason)],
        )
    };
    assert_eq!(skew("negative"), Some(1.0));
    assert_eq!(skew("absurd"), Some(1.0));
    assert_eq!(
        value(
            &parsed,
            "pipeline_end_to_end_duration_seconds",
            "pipeline_end_to_end_duration_seconds_count",
            &[("pipeline", "orders")]
        ),
        Some(4.0)
    );
}

#[test]
fn pipeline_in_flight_never_goes_negative_when_a_token_ends_twice() {
    let registry = registry();
    let p = Pipeline::builder("twice").build(&registry).unwrap();
    let in_flight = || {
        value(
            &scrape(&registry),
            "pipeline_events_in_flight",
            "pipeline_events_in_flight",
            &[("pipeline", "twice")],
        )
    };
    let first = p.begin();
    let second = p.begin();
    p.finish(first);
    p.finish(second);
    // Copies of ended tokens ended again, once by finish and once by abandon.
    p.finish(first);
    p.abandon(second);
    assert_eq!(p.in_flight(), 0);
    assert_eq!(in_flight(), Some(0.0));
    let parsed = scrape(&registry);
    let l = [("pipeline", "twice")];
    assert_eq!(
        value(
            &parsed,
            "pipeline_events_rejected_total",
            "pipeline_events_rejected_total",
            &[("pipeline", "twice"), ("reason", "unmatched_end")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &parsed,
            "pipeline_end_to_end_duration_seconds",
            "pipeline_end_to_end_duration_seconds_count",
            &l
        ),
        Some(2.0),
        "a refused end records no latency"
    );
    assert_eq!(
        value(
            &parsed,
            "pipeline_events_abandoned_total",
            "pipeline_events_abandoned_total",
            &l
        ),
        Some(0.0),
        "nor an abandonment"
    );
    // Back to normal accounting afterwards.
    let third = p.begin();
    assert_eq!(in_flight(), Some(1.0));
    p.abandon(third);
    assert_eq!(in_flight(), Some(0.0));
    drop(p);
    assert_eq!(in_flight(), None, "the series leaves with the pipeline");
}

// ---------------------------------------------------------------- queues

#[test]
fn queue_probe_measures_wait_and_depth() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let probe = QueueProbe::builder("ingest")
        .clock(clock)
        .build(&registry)
        .unwrap();
    let stamps: Vec<_> = (0..3).map(|_| probe.submit()).collect();
    assert_eq!(probe.depth(), 3);
    hand.advance(Duration::from_millis(7));
    probe.pickup(stamps[0]);
    probe.pickup(stamps[1]);
    probe.discard(stamps[2]);
    assert_eq!(probe.depth(), 0);
    let parsed = scrape(&registry);
    let q = [("queue", "ingest")];
    let wait_sum = value(&parsed, "queue_wait_seconds", "queue_wait_seconds_sum", &q).unwrap();
    assert!((wait_sum - 0.014).abs() < 1e-6);
    assert_eq!(
        value(&parsed, "queue_dropped_total", "queue_dropped_total", &q),
        Some(1.0)
    );
    assert_eq!(
        value(
            &parsed,
            "queue_dropped_wait_seconds",
            "queue_dropped_wait_seconds_count",
            &q
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "queue_enqueued_total", "queue_enqueued_total", &q),
        Some(3.0)
    );
    assert_eq!(
        value(&parsed, "queue_dequeued_total", "queue_dequeued_total", &q),
        Some(2.0)
    );
}

#[test]
fn a_dropped_probe_leaves_no_frozen_depth() {
    let registry = registry();
    let depth = || {
        value(
            &scrape(&registry),
            "queue_depth",
            "queue_depth",
            &[("queue", "short_lived")],
        )
    };
    let probe = QueueProbe::new(&registry, "short_lived").unwrap();
    let (tx, rx) = channel::unbounded::<u8>(probe.clone());
    drop(probe);
    tx.send(1).unwrap();
    assert_eq!(depth(), Some(1.0), "the channel keeps the probe alive");
    drop((tx, rx));
    assert_eq!(depth(), None, "the series leaves with the last probe");
}

#[test]
fn instrumented_channel_iterates_by_reference_and_by_value() {
    let registry = registry();
    let probe = QueueProbe::new(&registry, "iterated").unwrap();
    let (tx, rx) = channel::bounded::<u32>(4, probe.clone());
    for i in 1..=3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().next(), Some(1));
    tx.send(4).unwrap();
    drop(tx);
    let mut by_ref = Vec::new();
    for i in &rx {
        by_ref.push(i);
        if i == 3 {
            break;
        }
    }
    assert_eq!(by_ref, [2, 3]);
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), [4]);
    assert_eq!(probe.depth(), 0);
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "queue_wait_seconds",
            "queue_wait_seconds_count",
            &[("queue", "iterated")]
        ),
        Some(4.0),
        "every item taken through an iterator is a pickup"
    );
}

#[test]
fn instrumented_channel_keeps_depth_and_wait_and_counts_unreceived_items() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let probe = QueueProbe::builder("events")
        .clock(clock)
        .build(&registry)
        .unwrap();
    let (tx, rx) = channel::bounded::<u32>(8, probe.clone());
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(probe.depth(), 5);
    assert!(matches!(
        channel::bounded::<u32>(0, probe.clone()).0.try_send(9),
        Err(channel::TrySendError::Full(9))
    ));
    assert_eq!(probe.depth(), 5, "a failed send does not count");
    hand.advance(Duration::from_millis(3));
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(probe.depth(), 3);
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(probe.depth(), 3, "another receiver is still there");
    drop(rx2);
    assert_eq!(
        probe.depth(),
        0,
        "the last receiver counts what is left as dropped"
    );
    assert!(tx.send(99).is_err());
    assert_eq!(probe.depth(), 0);
    let parsed = scrape(&registry);
    let q = [("queue", "events")];
    assert_eq!(
        value(&parsed, "queue_dropped_total", "queue_dropped_total", &q),
        Some(3.0)
    );
    assert_eq!(
        value(
            &parsed,
            "queue_wait_seconds",
            "queue_wait_seconds_count",
            &q
        ),
        Some(2.0)
    );
}

#[test]
fn instrumented_channel_across_threads_loses_no_item() {
    let registry = registry();
    let probe = QueueProbe::new(&registry, "mpmc").unwrap();
    let (tx, rx) = channel::unbounded::<u64>(probe.clone());
    let received = std::thread::scope(|s| {
        for t in 0..3u64 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..20_000 {
                    tx.send(t * 100_000 + i).unwrap();
                }
            });
        }
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || rx.iter().count())
            })
            .collect();
        consumers
            .into_iter()
            .map(|c| c.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(received, 60_000);
    assert_eq!(probe.depth(), 0);
}

// ---------------------------------------------------------------- locks

#[test]
fn contention_is_counted_and_attributed_to_waiter_and_holder_sites() {
    let registry = registry();
    let lock = Arc::new(
        LockBuilder::new("metadata")
            .hold_timing(true)
            .mutex(0u64, &registry)
            .unwrap(),
    );
    let held = lock.lock(); // the holder's site: this line
    let waiter = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            *lock.lock() += 1; // the waiter's site: this line
        })
    };
    // Release only once the waiter has found the lock taken (it counts before it blocks).
    let contended = || {
        value(
            &scrape(&registry),
            "lock_contended_total",
            "lock_contended_total",
            &[("lock", "metadata")],
        )
        .unwrap_or(0.0)
    };
    for _ in 0..4_000 {
        if contended() > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(held);
    waiter.join().unwrap();
    assert_eq!(*lock.lock(), 1);

    let parsed = scrape(&registry);
    let l = [("lock", "metadata")];
    assert_eq!(
        value(&parsed, "lock_contended_total", "lock_contended_total", &l),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "lock_wait_seconds", "lock_wait_seconds_count", &l),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "lock_hold_seconds", "lock_hold_seconds_count", &l),
        Some(3.0)
    );
    let sites = &parsed["lock_contended_by_site_total"].samples;
    let site_of = |role: &str| {
        sites
            .iter()
            .find(|s| s.label("role") == Some(role) && s.value == 1.0)
            .and_then(|s| s.label("site"))
            .unwrap()
            .to_string()
    };
    assert!(
        site_of("waiter").starts_with("tests/instruments.rs:"),
        "{sites:?}"
    );
    assert!(site_of("holder").starts_with("tests/instruments.rs:"));
    assert_ne!(site_of("waiter"), site_of("holder"));
}

/// `lock_held_too_long_total` of lock `lock`: what the watchdog reported for it, whichever
/// test's `LockWatchdog::scan()` did the reporting (a scan covers every lock in the process, and
/// tests in this binary run in parallel, so a stall can be reported by another test's scan).
fn held_too_long(registry: &Registry, lock: &str) -> f64 {
    value(
        &scrape(registry),
        "lock_held_too_long_total",
        "lock_held_too_long_total",
        &[("lock", lock)],
    )
    .unwrap_or(0.0)
}

#[test]
fn watchdog_reports_a_long_hold_after_the_threshold_and_not_before() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let node = LockBuilder::new("raft_node_wd")
        .watchdog(Duration::from_secs(2))
        .clock(clock)
        .mutex((), &registry)
        .unwrap();
    let held = node.lock();
    hand.advance(Duration::from_secs(2));
    let _ = LockWatchdog::scan();
    assert_eq!(
        held_too_long(&registry, "raft_node_wd"),
        0.0,
        "at the threshold: not yet"
    );
    hand.advance(Duration::from_millis(1));
    for stall in LockWatchdog::scan()
        .into_iter()
        .filter(|s| s.lock == "raft_node_wd")
    {
        assert!(stall.site.starts_with("tests/instruments.rs:"));
        assert!(stall.held_for >= Duration::from_millis(2_001));
    }
    assert_eq!(held_too_long(&registry, "raft_node_wd"), 1.0);
    hand.advance(Duration::from_secs(5));
    let _ = LockWatchdog::scan();
    assert_eq!(
        held_too_long(&registry, "raft_node_wd"),
        1.0,
        "reported once per hold"
    );
    let parsed = scrape(&registry);
    let l = [("lock", "raft_node_wd")];
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &l
        ),
        Some(7.001)
    );
    drop(held);
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &l
        ),
        Some(0.0)
    );
}

// The watchdog thread (`LockWatchdog::start`) is tested in `tests/lock_watchdog_thread.rs`, a
// binary of its own: its scans would report the stalls the tests here set up.

#[test]
fn panics_and_cross_thread_guards_leave_the_bookkeeping_right() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let lock = Arc::new(
        LockBuilder::new("panicky")
            .hold_timing(true)
            .watchdog(Duration::from_secs(1))
            .clock(clock)
            .mutex(0u32, &registry)
            .unwrap(),
    );
    let current = |registry: &Registry| {
        value(
            &scrape(registry),
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &[("lock", "panicky")],
        )
    };
    let l2 = lock.clone();
    let result = std::thread::spawn(move || {
        let _guard = l2.lock();
        panic!("while holding");
    })
    .join();
    assert!(result.is_err());
    hand.advance(Duration::from_secs(5));
    assert_eq!(current(&registry), Some(0.0), "released during unwinding");
    let _ = LockWatchdog::scan();
    assert_eq!(held_too_long(&registry, "panicky"), 0.0);

    // Acquired here, dropped on another thread.
    let guard = lock.lock();
    hand.advance(Duration::from_secs(2));
    assert_eq!(current(&registry), Some(2.0));
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
    assert_eq!(current(&registry), Some(0.0));
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "lock_hold_seconds",
            "lock_hold_seconds_count",
            &[("lock", "panicky")]
        ),
        Some(2.0)
    );
    *lock.lock() += 1; // still usable: parking_lot does not poison
}

#[test]
fn rwlock_tracks_writers_exactly_and_read_stretches() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let meta = RwLock::new("plain_rw", 1, &registry).unwrap();
    assert_eq!(*meta.read() + *meta.read(), 2);
    *meta.write() = 5;
    let timed = LockBuilder::new("timed_rw")
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .rwlock(0, &registry)
        .unwrap();
    let r1 = timed.read();
    hand.advance(Duration::from_secs(2));
    let r2 = timed.read();
    let _ = LockWatchdog::scan();
    assert_eq!(
        held_too_long(&registry, "timed_rw"),
        1.0,
        "the read stretch began 2 s ago"
    );
    drop((r1, r2));
    *timed.write() += 1;
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &[("lock", "timed_rw")]
        ),
        Some(0.0)
    );
    assert_eq!(meta.into_inner(), 5);
}

#[test]
fn a_writer_waiting_for_readers_blames_a_reader_site_with_or_without_a_watchdog() {
    for watchdog in [false, true] {
        let registry = registry();
        let mut builder = LockBuilder::new("blamed_rw");
        if watchdog {
            builder = builder.watchdog(Duration::from_secs(60));
        }
        let lock = Arc::new(builder.rwlock(0u32, &registry).unwrap());
        *lock.write() = 1; // an earlier writer, gone: not the one to blame
        let reading = lock.read();
        let reader_line = line!() - 1;
        let writer = {
            let lock = lock.clone();
            std::thread::spawn(move || *lock.write() += 1)
        };
        let contended = || {
            value(
                &scrape(&registry),
                "lock_contended_total",
                "lock_contended_total",
                &[("lock", "blamed_rw")],
            )
            .unwrap_or(0.0)
        };
        for _ in 0..4_000 {
            if contended() > 0.0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(reading);
        writer.join().unwrap();
        assert_eq!(*lock.read(), 2);
        let parsed = scrape(&registry);
        let holder = parsed["lock_contended_by_site_total"]
            .samples
            .iter()
            .find(|s| s.label("role") == Some("holder") && s.value == 1.0)
            .and_then(|s| s.label("site"))
            .unwrap()
            .to_string();
        assert_eq!(
            holder,
            format!("tests/instruments.rs:{reader_line}"),
            "watchdog: {watchdog}"
        );
    }
}

#[test]
fn try_lock_try_read_and_try_write_are_tracked_like_the_waiting_kinds() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let rw = LockBuilder::new("try_rw")
        .hold_timing(true)
        .watchdog(Duration::from_secs(1))
        .clock(clock.clone())
        .rwlock(0u32, &registry)
        .unwrap();
    let m = LockBuilder::new("try_m")
        .hold_timing(true)
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .mutex(0u32, &registry)
        .unwrap();
    let longest = |lock: &str| {
        value(
            &scrape(&registry),
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &[("lock", lock)],
        )
    };
    let reading = rw.try_read().unwrap();
    assert!(rw.try_write().is_none());
    hand.advance(Duration::from_secs(2));
    assert_eq!(longest("try_rw"), Some(2.0), "a try_read hold is seen");
    drop(reading);
    let mut writing = rw.try_write().unwrap();
    *writing += 1;
    assert!(rw.try_read().is_none());
    hand.advance(Duration::from_secs(3));
    assert_eq!(longest("try_rw"), Some(3.0), "a try_write hold is seen");
    drop(writing);
    assert_eq!(longest("try_rw"), Some(0.0));
    let locked = m.try_lock().unwrap();
    hand.advance(Duration::from_secs(4));
    assert_eq!(longest("try_m"), Some(4.0));
    drop(locked);
    let parsed = scrape(&registry);
    let count = |lock: &str, family: &str| {
        value(
            &parsed,
            family,
            &format!("{family}_count"),
            &[("lock", lock)],
        )
    };
    assert_eq!(count("try_rw", "lock_hold_seconds"), Some(2.0));
    assert_eq!(count("try_m", "lock_hold_seconds"), Some(1.0));
    assert_eq!(
        count("try_rw", "lock_wait_seconds"),
        Some(0.0),
        "a failed try waits for nothing"
    );
    let (mut rw, mut m) = (rw, m);
    *rw.get_mut() += 1;
    *m.get_mut() += 1;
    assert_eq!((rw.into_inner(), m.into_inner()), (2, 1));
}

#[cfg(feature = "tokio")]
#[test]
fn a_cancelled_async_lock_records_its_wait() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let session = LockBuilder::new("async_cancelled")
        .clock(clock)
        .async_mutex(0u32, &registry)
        .unwrap();
    let wait = |suffix: &str| {
        value(
            &scrape(&registry),
            "lock_wait_seconds",
            &format!("lock_wait_seconds_{suffix}"),
            &[("lock", "async_cancelled")],
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let held = runtime.block_on(session.lock());
    // A waiting lock() given up after 2 s (a timeout would drop it the same way).
    let mut waiting = Box::pin(session.lock());
    let waker = std::task::Waker::noop();
    assert!(waiting
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    hand.advance(Duration::from_secs(2));
    drop(waiting);
    assert_eq!(wait("count"), Some(1.0), "the wait is recorded on cancel");
    assert!((wait("sum").unwrap() - 2.0).abs() < 1e-6);
    drop(held);
    assert_eq!(*runtime.block_on(session.lock()), 0, "still usable");
    assert_eq!(
        wait("count"),
        Some(1.0),
        "an uncontended lock waits for nothing"
    );
}

#[cfg(feature = "tokio")]
#[test]
fn an_async_guard_held_across_await_is_reported_like_any_holder() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let session = Arc::new(
        LockBuilder::new("async_session")
            .hold_timing(true)
            .watchdog(Duration::from_secs(1))
            .clock(clock)
            .async_mutex(0u32, &registry)
            .unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut guard = session.lock().await; // attributed to this line
        tokio::task::yield_now().await;
        hand.advance(Duration::from_secs(3));
        let _ = LockWatchdog::scan();
        assert_eq!(held_too_long(&registry, "async_session"), 1.0);
        *guard += 1;
    });
    let parsed = scrape(&registry);
    let l = [("lock", "async_session")];
    assert_eq!(
        value(&parsed, "lock_hold_seconds", "lock_hold_seconds_count", &l),
        Some(1.0)
    );
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &l
        ),
        Some(0.0)
    );
}
