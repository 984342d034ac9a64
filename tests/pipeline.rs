//! Pipelines: stages, gaps, end to end, tokens across threads and processes.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape, value};
use perf_instrument::{Clock, Pipeline, Registry, RemoteToken};
use std::time::Duration;

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
fn pipeline_in_flight_is_exact_and_refuses_tokens_of_another_pipeline() {
    let registry = registry();
    let p = Pipeline::builder("twice").build(&registry).unwrap();
    let other = Pipeline::builder("other").build(&registry).unwrap();
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
    let _ = p.finish(first);
    let _ = p.finish(second);
    // Tokens of another pipeline, ended here once by finish and once by abandon.
    let _ = p.finish(other.begin());
    p.abandon(other.begin());
    assert_eq!(p.in_flight(), 0);
    assert_eq!(
        other.in_flight(),
        2,
        "the other pipeline's events are still in flight"
    );
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
    let third = p.begin();
    assert_eq!(in_flight(), Some(1.0));
    p.abandon(third);
    assert_eq!(in_flight(), Some(0.0));
    drop(p);
    assert_eq!(in_flight(), None, "the series leaves with the pipeline");
}

#[test]
fn pipeline_in_flight_stays_exact_under_racing_begins_finishes_and_foreign_ends() {
    let registry = registry();
    let p = Pipeline::builder("raced").build(&registry).unwrap();
    let other = Pipeline::builder("foreign").build(&registry).unwrap();
    const ROUNDS: usize = 20_000;
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    let event = p.begin();
                    let _ = p.finish(event);
                }
            });
        }
        s.spawn(|| {
            for _ in 0..ROUNDS {
                let _ = p.finish(other.begin());
            }
        });
    });
    assert_eq!(p.in_flight(), 0);
    let snapshot = registry.snapshot();
    let raced = [("pipeline", "raced")];
    assert_eq!(
        snapshot
            .histogram("pipeline_end_to_end_duration_seconds", &raced)
            .unwrap()
            .count(),
        3 * ROUNDS as u64,
        "no legitimate end-to-end time is lost"
    );
    assert_eq!(
        snapshot.value("pipeline_events_in_flight", &raced),
        Some(0.0)
    );
}
