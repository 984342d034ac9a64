//! Queue probes and the instrumented channel.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape, value};
use perf_instrument::{channel, Clock, QueueProbe};
use std::time::Duration;

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
