//! The saga tracker: lifecycle and exposition, anomalies by reason, sweep timing on a manual
//! clock, bounded memory under a million abandoned sagas, the stuck/oldest query and its views.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use perf_instrument::saga::{
    SagaError, SagaFailureReason, SagaId, SagaOutcome, SagaRejectReason, SagaStepState,
    SagaVerdict, SagaViewFormat, MAX_SAGA_ID_LEN,
};
use perf_instrument::{render_as, Clock, Format, ManualClock, Registry, SagaTracker};
use std::time::Duration;

const STEPS: [&str; 3] = ["reserve_stock", "charge_payment", "ship"];

fn new_registry() -> Registry {
    Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap()
}

/// An `order` tracker on a manual clock: deadline 10 s, stuck after 3 s.
fn tracker(registry: &Registry) -> (SagaTracker, ManualClock) {
    let (clock, hand) = Clock::manual();
    let tracker = SagaTracker::builder("order")
        .steps(STEPS)
        .failure_reasons(["payment_declined"])
        .deadline(Duration::from_secs(10))
        .stuck_after(Duration::from_secs(3))
        .clock(clock)
        .build(registry)
        .unwrap();
    (tracker, hand)
}

/// Renders and strictly parses the registry in both formats; returns the 0.0.4 parse.
fn scrape(registry: &Registry) -> Parsed {
    let om = String::from_utf8(render_as(registry, Format::OpenMetrics)).unwrap();
    parse(&om, Dialect::OpenMetrics).unwrap();
    let text = String::from_utf8(render_as(registry, Format::PrometheusText)).unwrap();
    parse(&text, Dialect::Prometheus).unwrap()
}

/// The value of sample `name` whose labels include `labels`; panics unless exactly one.
fn value(parsed: &Parsed, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = parsed
        .values()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0]
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn full_lifecycle_is_exposed_with_exact_durations() {
    let registry = new_registry();
    let (orders, hand) = tracker(&registry);
    let [reserve, charge, ship] = orders.steps()[..] else {
        unreachable!()
    };
    let declined = orders.failure_reason("payment_declined").unwrap();

    // o-1 completes every step: 0.25 s + 0.5 s + 1 s (exact in 2^-30 s units).
    assert_eq!(orders.start("o-1"), SagaVerdict::Accepted);
    for (step, took) in [(reserve, 0.25), (charge, 0.5), (ship, 1.0)] {
        assert!(orders.step_started("o-1", step).is_accepted());
        hand.advance(secs(took));
        assert!(orders.step_completed("o-1", step).is_accepted());
    }
    assert!(orders.completed("o-1").is_accepted());

    // 2 fails to charge and is compensated; 3 fails outright.
    orders.start(2u64);
    orders.step_started(2u64, reserve);
    hand.advance(secs(0.25));
    orders.step_completed(2u64, reserve);
    orders.step_started(2u64, charge);
    assert!(orders.step_failed(2u64, charge).is_accepted());
    assert!(orders.compensating(2u64, reserve).is_accepted());
    hand.advance(secs(0.25));
    assert!(orders.compensated(2u64, reserve).is_accepted());
    assert!(orders.compensated_saga(2u64).is_accepted());
    orders.start(3u64);
    hand.advance(secs(2.0));
    assert!(orders.failed(3u64, declined).is_accepted());

    let p = scrape(&registry);
    let saga = ("saga", "order");
    let by = |k: &'static str, v: &'static str| [saga, (k, v)];
    assert_eq!(value(&p, "saga_started_total", &[saga]), 3.0);
    assert_eq!(value(&p, "saga_active", &[saga]), 0.0);
    assert_eq!(value(&p, "saga_stuck", &[saga]), 0.0);
    for (outcome, n) in [
        ("completed", 1.0),
        ("failed", 1.0),
        ("compensated", 1.0),
        ("timed_out", 0.0),
        ("evicted", 0.0),
    ] {
        assert_eq!(value(&p, "saga_finished_total", &by("outcome", outcome)), n);
        assert_eq!(
            value(&p, "saga_duration_seconds_count", &by("outcome", outcome)),
            n
        );
    }
    let sum = |outcome| value(&p, "saga_duration_seconds_sum", &by("outcome", outcome));
    assert_eq!(sum("completed"), 1.75);
    assert_eq!(sum("compensated"), 0.5);
    assert_eq!(sum("failed"), 2.0);
    let step_sum = |step| value(&p, "saga_step_duration_seconds_sum", &by("step", step));
    let step_count = |step| value(&p, "saga_step_duration_seconds_count", &by("step", step));
    assert_eq!(
        (step_count("reserve_stock"), step_sum("reserve_stock")),
        (2.0, 0.5)
    );
    assert_eq!(
        (step_count("charge_payment"), step_sum("charge_payment")),
        (1.0, 0.5)
    );
    assert_eq!((step_count("ship"), step_sum("ship")), (1.0, 1.0));
    let step_failures = |step| value(&p, "saga_step_failures_total", &by("step", step));
    assert_eq!(step_failures("charge_payment"), 1.0);
    assert_eq!(step_failures("reserve_stock"), 0.0);
    let compensations = |step| value(&p, "saga_compensations_total", &by("step", step));
    assert_eq!(compensations("reserve_stock"), 1.0);
    assert_eq!(compensations("ship"), 0.0);
    assert_eq!(
        value(&p, "saga_failures_total", &by("reason", "payment_declined")),
        1.0
    );
    assert_eq!(
        value(&p, "saga_failures_total", &by("reason", "other")),
        0.0
    );
    for reason in SagaRejectReason::ALL {
        assert_eq!(
            value(
                &p,
                "saga_events_rejected_total",
                &[saga, ("reason", reason.label())]
            ),
            0.0
        );
    }
    // The saga duration histogram's classic buckets: le=2 holds all three.
    assert_eq!(
        value(
            &p,
            "saga_duration_seconds_bucket",
            &[saga, ("outcome", "completed"), ("le", "2.0")]
        ),
        1.0
    );
}

/// Runs `event` on a fresh state and checks it moved exactly `reason`'s counter by one and
/// nothing else (no gauge, no outcome, no start).
fn assert_rejected_once(
    orders: &SagaTracker,
    reason: SagaRejectReason,
    event: impl FnOnce() -> SagaVerdict,
) {
    let before: Vec<u64> = SagaRejectReason::ALL
        .iter()
        .map(|r| orders.rejected_count(*r))
        .collect();
    let finished: Vec<u64> = SagaOutcome::ALL
        .iter()
        .map(|o| orders.finished_count(*o))
        .collect();
    let (started, active, stuck) = (
        orders.started_count(),
        orders.active_count(),
        orders.stuck_count(),
    );
    assert_eq!(event(), SagaVerdict::Rejected(reason));
    for (r, b) in SagaRejectReason::ALL.iter().zip(before) {
        let expected = b + u64::from(*r == reason);
        assert_eq!(
            orders.rejected_count(*r),
            expected,
            "{r:?} after a {reason:?} event"
        );
    }
    let after: Vec<u64> = SagaOutcome::ALL
        .iter()
        .map(|o| orders.finished_count(*o))
        .collect();
    assert_eq!(after, finished, "outcomes moved on a {reason:?} event");
    assert_eq!(
        (
            orders.started_count(),
            orders.active_count(),
            orders.stuck_count()
        ),
        (started, active, stuck)
    );
}

#[test]
fn each_anomaly_is_counted_once_under_its_reason() {
    use SagaRejectReason::*;
    let registry = new_registry();
    let (orders, _hand) = tracker(&registry);
    let [reserve, charge, ship] = orders.steps()[..] else {
        unreachable!()
    };

    assert_rejected_once(&orders, UnknownId, || orders.step_started("ghost", reserve));
    assert_rejected_once(&orders, UnknownId, || orders.compensated("ghost", reserve));

    orders.start("a");
    assert_rejected_once(&orders, DuplicateStart, || orders.start("a"));

    orders.step_started("a", reserve);
    assert_rejected_once(&orders, DuplicateStep, || orders.step_started("a", reserve));
    assert_rejected_once(&orders, OutOfOrderStep, || orders.step_started("a", charge));
    assert_rejected_once(&orders, OutOfOrderStep, || {
        orders.step_completed("a", charge)
    });
    orders.step_completed("a", reserve);
    assert_rejected_once(&orders, DuplicateStep, || {
        orders.step_completed("a", reserve)
    });
    assert_rejected_once(&orders, DuplicateStep, || orders.step_started("a", reserve));
    orders.step_started("a", ship); // skipping charge is allowed
    assert_rejected_once(&orders, OutOfOrderStep, || orders.step_started("a", charge));
    orders.step_failed("a", ship);
    assert_rejected_once(&orders, DuplicateStep, || orders.step_failed("a", ship));
    orders.compensating("a", reserve);
    assert_rejected_once(&orders, DuplicateStep, || orders.compensating("a", reserve));
    assert_rejected_once(&orders, OutOfOrderStep, || orders.compensating("a", ship));
    assert_rejected_once(&orders, OutOfOrderStep, || orders.compensated("a", ship));
    orders.compensated("a", reserve);
    assert_rejected_once(&orders, DuplicateStep, || orders.compensated("a", reserve));
    assert_rejected_once(&orders, OutOfOrderStep, || orders.step_started("a", ship));
    assert_rejected_once(&orders, OutOfOrderStep, || orders.compensating("a", charge));
    assert!(orders.compensated_saga("a").is_accepted());

    // After the terminal outcome: every kind of event, start included.
    assert_rejected_once(&orders, AfterTerminal, || orders.step_started("a", ship));
    assert_rejected_once(&orders, AfterTerminal, || orders.completed("a"));
    assert_rejected_once(&orders, AfterTerminal, || {
        orders.failed("a", SagaFailureReason::OTHER)
    });
    assert_rejected_once(&orders, AfterTerminal, || orders.start("a"));

    // A terminal event first: the late start is not left active.
    assert_rejected_once(&orders, TerminalBeforeStart, || orders.completed("early"));
    assert_rejected_once(&orders, AfterTerminal, || orders.start("early"));
    assert_rejected_once(&orders, TerminalBeforeStart, || {
        orders.compensated_saga(7u64)
    });

    let long = "x".repeat(MAX_SAGA_ID_LEN + 1);
    assert_rejected_once(&orders, IdTooLong, || orders.start(long.as_str()));
    assert_rejected_once(&orders, IdTooLong, || orders.step_started(&long, reserve));
    assert_rejected_once(&orders, IdTooLong, || orders.completed(&long));
    assert!(orders
        .start("y".repeat(MAX_SAGA_ID_LEN).as_str())
        .is_accepted());

    let other_registry = registry.clone();
    let (other, _) = {
        let (clock, hand) = Clock::manual();
        let t = SagaTracker::builder("payment")
            .steps(["authorize"])
            .failure_reasons(["declined"])
            .clock(clock)
            .build(&other_registry)
            .unwrap();
        (t, hand)
    };
    let foreign_step = other.step("authorize").unwrap();
    let foreign_reason = other.failure_reason("declined").unwrap();
    orders.start("b");
    assert_rejected_once(&orders, InvalidHandle, || {
        orders.step_started("b", foreign_step)
    });
    assert_rejected_once(&orders, InvalidHandle, || {
        orders.failed("b", foreign_reason)
    });
    // The id is checked first: one reason per event.
    assert_rejected_once(&orders, IdTooLong, || orders.failed(&long, foreign_reason));
    assert_rejected_once(&orders, IdTooLong, || {
        orders.step_started(&long, foreign_step)
    });
    assert!(orders.failed("b", SagaFailureReason::OTHER).is_accepted());

    // The gauges only counted what was accepted: the 64-byte saga is the one still active.
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_active", &[("saga", "order")]), 1.0);
    assert_eq!(
        value(
            &p,
            "saga_events_rejected_total",
            &[("saga", "order"), ("reason", "after_terminal")]
        ),
        5.0
    );
    assert_eq!(value(&p, "saga_active", &[("saga", "payment")]), 0.0);
}

#[test]
fn capacity_evicts_the_oldest_of_the_shard_as_its_own_outcome() {
    let registry = new_registry();
    let (clock, hand) = Clock::manual();
    // One shard, so "oldest of the shard" is the oldest overall.
    let orders = SagaTracker::builder("order")
        .steps(STEPS)
        .max_active(3)
        .shards(1)
        .clock(clock)
        .build(&registry)
        .unwrap();
    for id in 1..=3u64 {
        orders.start(id);
        hand.advance(Duration::from_secs(1));
    }
    assert_eq!(orders.start(4u64), SagaVerdict::Accepted);
    assert_eq!(orders.active_count(), 3);
    assert_eq!(orders.finished_count(SagaOutcome::Evicted), 1);
    assert_eq!(orders.started_count(), 4);
    assert!(SagaRejectReason::ALL
        .iter()
        .all(|r| orders.rejected_count(*r) == 0));
    let ids: Vec<SagaId> = orders.oldest(10).into_iter().map(|s| s.id).collect();
    assert_eq!(ids, [SagaId::Int(2), SagaId::Int(3), SagaId::Int(4)]);
    // The evicted saga is remembered as finished.
    assert_eq!(
        orders.completed(1u64),
        SagaVerdict::Rejected(SagaRejectReason::AfterTerminal)
    );
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_active", &[("saga", "order")]), 3.0);
    assert_eq!(
        value(&p, "saga_finished_total", &[("outcome", "evicted")]),
        1.0
    );
    // Evicted at age 3 s.
    assert_eq!(
        value(&p, "saga_duration_seconds_sum", &[("outcome", "evicted")]),
        3.0
    );
}

#[test]
fn a_full_tracker_with_an_empty_shard_drops_the_new_saga() {
    let registry = new_registry();
    // Two shards, capacity one: fill one shard, then start ids until one lands in the other.
    let orders = SagaTracker::builder("order")
        .steps(STEPS)
        .max_active(1)
        .shards(2)
        .build(&registry)
        .unwrap();
    orders.start(0u64);
    let verdicts: Vec<SagaVerdict> = (1..64u64).map(|id| orders.start(id)).collect();
    let dropped = verdicts
        .iter()
        .filter(|v| **v == SagaVerdict::Dropped)
        .count();
    assert!(dropped > 0, "no id hashed to the empty shard: {verdicts:?}");
    assert_eq!(orders.active_count(), 1);
    assert_eq!(orders.started_count(), 64);
    assert_eq!(orders.finished_count(SagaOutcome::Evicted), 63);
}

#[test]
fn sweeps_time_out_and_mark_stuck_at_the_right_instants() {
    let registry = new_registry();
    let (orders, hand) = tracker(&registry); // deadline 10 s, stuck after 3 s
    let reserve = orders.step("reserve_stock").unwrap();
    orders.start("a");
    let tick = Duration::from_nanos(1);

    hand.advance(Duration::from_secs(3));
    let s = orders.sweep();
    assert_eq!(
        (s.newly_stuck, s.stuck, s.timed_out, s.active),
        (0, 0, 0, 1)
    );
    assert_eq!(s.oldest_age, Some(Duration::from_secs(3)));
    assert!(orders.stuck(10).is_empty());
    hand.advance(tick);
    let s = orders.sweep();
    assert_eq!((s.newly_stuck, s.stuck), (1, 1));
    assert_eq!(orders.stuck_count(), 1);
    assert_eq!(orders.stuck(10)[0].id, SagaId::Str("a".into()));
    // A second sweep does not mark it again.
    assert_eq!(orders.sweep().newly_stuck, 0);
    assert_eq!(orders.stuck_count(), 1);

    // Progress unmarks it at once.
    orders.step_started("a", reserve);
    assert_eq!(orders.stuck_count(), 0);
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_stuck", &[("saga", "order")]), 0.0);

    orders.start("b"); // younger: must survive a's time-out
    hand.advance(Duration::from_secs(7) - tick); // a is exactly 10 s old
    let s = orders.sweep();
    assert_eq!((s.timed_out, s.active, s.newly_stuck), (0, 2, 2));
    let p = scrape(&registry);
    assert_eq!(
        value(&p, "saga_oldest_active_age_seconds", &[("saga", "order")]),
        10.0
    );
    assert_eq!(value(&p, "saga_stuck", &[("saga", "order")]), 2.0);

    hand.advance(tick);
    let s = orders.sweep();
    assert_eq!((s.timed_out, s.active, s.stuck), (1, 1, 1));
    assert_eq!(orders.finished_count(SagaOutcome::TimedOut), 1);
    assert_eq!(
        orders.completed("a"),
        SagaVerdict::Rejected(SagaRejectReason::AfterTerminal)
    );
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_active", &[("saga", "order")]), 1.0);
    assert_eq!(value(&p, "saga_stuck", &[("saga", "order")]), 1.0);
    assert_eq!(
        value(&p, "saga_finished_total", &[("outcome", "timed_out")]),
        1.0
    );
    let b_age = Duration::from_secs(7);
    assert_eq!(
        value(&p, "saga_oldest_active_age_seconds", &[("saga", "order")]),
        b_age.as_secs_f64()
    );
    // b times out exactly one deadline after its own start, not before.
    hand.advance(Duration::from_secs(3));
    assert_eq!(orders.sweep().timed_out, 0);
    hand.advance(tick);
    assert_eq!(orders.sweep().timed_out, 1);
    assert_eq!((orders.active_count(), orders.stuck_count()), (0, 0));
    let p = scrape(&registry);
    assert_eq!(
        value(&p, "saga_oldest_active_age_seconds", &[("saga", "order")]),
        0.0
    );
    assert_eq!(
        value(
            &p,
            "saga_duration_seconds_count",
            &[("outcome", "timed_out")]
        ),
        2.0
    );
}

#[test]
fn a_completion_before_the_sweep_wins_over_the_deadline() {
    let registry = new_registry();
    let (orders, hand) = tracker(&registry);
    orders.start("late");
    hand.advance(Duration::from_secs(60));
    assert!(orders.completed("late").is_accepted());
    assert_eq!(orders.sweep().timed_out, 0);
    assert_eq!(orders.finished_count(SagaOutcome::Completed), 1);
    assert_eq!(orders.finished_count(SagaOutcome::TimedOut), 0);
}

#[test]
fn a_million_abandoned_sagas_stay_within_the_cap() {
    const CAP: usize = 10_000;
    const TOTAL: u64 = 1_000_000;
    let registry = new_registry();
    let (clock, hand) = Clock::manual();
    let orders = SagaTracker::builder("order")
        .steps(STEPS)
        .max_active(CAP)
        .recent_finished(CAP)
        .clock(clock)
        .build(&registry)
        .unwrap();
    let mut at_warm = None;
    for id in 0..TOTAL {
        orders.start(id);
        if id % 1000 == 0 {
            hand.advance(Duration::from_millis(1));
        }
        if id == 5 * CAP as u64 {
            at_warm = Some(orders.memory());
        }
    }
    let at_warm = at_warm.unwrap();
    let end = orders.memory();
    assert_eq!(orders.active_count(), CAP);
    assert_eq!(end.active, CAP);
    assert_eq!(orders.started_count(), TOTAL);
    assert_eq!(
        orders.finished_count(SagaOutcome::Evicted),
        TOTAL - CAP as u64
    );
    // The finished-id memory is split per shard, rounded up.
    assert!(end.remembered_finished <= CAP + orders.shard_count());
    assert!(end.remembered_finished >= CAP - orders.shard_count());
    // No growth after warm-up, and under 1 KB per saga of capacity (its map slot, its place
    // in the start order, and one remembered finished id, each by capacity).
    assert!(
        end.bytes <= at_warm.bytes + at_warm.bytes / 10,
        "{at_warm:?} -> {end:?}"
    );
    assert!(end.bytes < 1000 * CAP, "{end:?}");
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_active", &[("saga", "order")]), CAP as f64);
    assert_eq!(
        value(&p, "saga_finished_total", &[("outcome", "evicted")]),
        (TOTAL - CAP as u64) as f64
    );
    // The oldest survivors are from the last ~CAP starts (eviction is per shard).
    let oldest = orders.oldest(1);
    let SagaId::Int(oldest_id) = oldest[0].id else {
        unreachable!()
    };
    assert!(oldest_id >= TOTAL - 2 * CAP as u64, "{oldest:?}");
}

#[test]
fn report_lists_stuck_and_oldest_with_steps_and_ages() {
    let registry = new_registry();
    let (orders, hand) = tracker(&registry); // stuck after 3 s
    let [reserve, charge, _] = orders.steps()[..] else {
        unreachable!()
    };
    orders.start("a"); // t=0, no step
    hand.advance(Duration::from_secs(1));
    orders.start(2u64); // t=1
    orders.step_started(2u64, reserve);
    hand.advance(Duration::from_secs(1));
    orders.start("c\"\n"); // t=2, a hostile id
    orders.step_started("c\"\n", reserve);
    orders.step_completed("c\"\n", reserve);
    orders.step_started("c\"\n", charge);
    orders.step_failed("c\"\n", charge);
    hand.advance(Duration::from_secs(3)); // t=5: a idle 5 s, 2 idle 4 s, c idle 3 s (not stuck)
    orders.start("d");

    let report = orders.report(10);
    assert_eq!((report.active, report.stuck_count), (4, 2));
    let stuck: Vec<_> = report.stuck.iter().map(|s| s.id.clone()).collect();
    assert_eq!(stuck, [SagaId::Str("a".into()), SagaId::Int(2)]);
    let oldest: Vec<_> = report.oldest.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(oldest, ["a", "2", "c\"\n", "d"]);
    let a = &report.oldest[0];
    assert_eq!((a.step.as_deref(), a.step_state), (None, None));
    assert_eq!(
        (a.age, a.since_progress, a.stuck),
        (secs(5.0), secs(5.0), true)
    );
    let two = &report.oldest[1];
    assert_eq!(
        (two.step.as_deref(), two.step_state),
        (Some("reserve_stock"), Some(SagaStepState::Running))
    );
    assert_eq!((two.age, two.since_progress), (secs(4.0), secs(4.0)));
    let c = &report.oldest[2];
    assert_eq!(
        (c.step.as_deref(), c.step_state, c.stuck),
        (Some("charge_payment"), Some(SagaStepState::Failed), false)
    );
    assert_eq!(orders.oldest(2).len(), 2);
    assert_eq!(orders.stuck(1)[0].id, SagaId::Str("a".into()));
    assert!(orders.report(0).oldest.is_empty());

    // JSON: parses, ids keep their types, durations are seconds.
    let json: serde_json::Value = serde_json::from_str(&report.to_json(64 * 1024)).unwrap();
    assert_eq!(json["saga"], "order");
    assert_eq!(json["truncated"], false);
    assert_eq!(json["stuck_count"], 2);
    assert_eq!(json["deadline_seconds"], 10.0);
    assert_eq!(json["oldest"][1]["id"], 2);
    assert_eq!(json["oldest"][2]["id"], "c\"\n");
    assert_eq!(json["oldest"][1]["step"], "reserve_stock");
    assert_eq!(json["oldest"][1]["step_state"], "running");
    assert_eq!(json["oldest"][0]["age_seconds"], 5.0);
    assert_eq!(json["stuck"][0]["since_progress_seconds"], 5.0);

    // Text: one line per saga, the hostile id escaped.
    let text = report.to_text(64 * 1024);
    assert!(
        text.starts_with("saga \"order\": 4 active, 2 stuck"),
        "{text}"
    );
    assert!(
        text.contains("  \"c\\\"\\n\"  step charge_payment (failed)"),
        "{text}"
    );
    assert!(
        text.contains("  2  step reserve_stock (running)  age 4.000s"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + 1 + 2 + 1 + 4);
}

#[test]
fn views_respect_their_entry_and_byte_bounds() {
    let registry = new_registry();
    let (clock, hand) = Clock::manual();
    let orders = SagaTracker::builder("order")
        .steps(STEPS)
        .stuck_after(Duration::from_secs(1))
        .view_limits(50, 4096)
        .clock(clock)
        .build(&registry)
        .unwrap();
    let long_id = |n: u64| format!("{n:0>width$}", width = MAX_SAGA_ID_LEN);
    for n in 0..5_000u64 {
        orders.start(long_id(n).as_str());
    }
    hand.advance(Duration::from_secs(2));

    let (content_type, body) = orders.view(SagaViewFormat::Json);
    assert_eq!(content_type, "application/json");
    assert!(body.len() <= 4096, "{}", body.len());
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["truncated"], true);
    assert_eq!(json["active"], 5_000);
    assert_eq!(json["stuck_count"], 5_000);
    let listed = json["stuck"].as_array().unwrap().len() + json["oldest"].as_array().unwrap().len();
    assert!(listed > 0 && listed < 100, "{listed}");

    // Entry bound: 50 per list, and 1,000 at most whatever is asked.
    let report = orders.report(50);
    assert_eq!((report.stuck.len(), report.oldest.len()), (50, 50));
    assert_eq!(orders.report(usize::MAX).oldest.len(), 1_000);
    let roomy = report.to_json(1 << 20);
    let json: serde_json::Value = serde_json::from_str(&roomy).unwrap();
    assert_eq!(json["truncated"], false);
    assert_eq!(json["oldest"].as_array().unwrap().len(), 50);

    // Byte bounds are clamped to 1 KiB – 1 MiB.
    for max in [0, 1, 1024, 1500, 3000, 10_000] {
        let json = report.to_json(max);
        assert!(json.len() <= max.max(1024), "{max}: {}", json.len());
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
        let text = report.to_text(max);
        assert!(text.len() <= max.max(1024), "{max}: {}", text.len());
        assert!(text.contains("left out"), "{text}");
    }
    let (content_type, text) = orders.view(SagaViewFormat::Text);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert!(text.len() <= 4096);
}

#[test]
fn trackers_share_families_through_the_saga_label() {
    let registry = new_registry();
    let orders = SagaTracker::builder("order")
        .steps(["a"])
        .build(&registry)
        .unwrap();
    let payments = SagaTracker::builder("payment")
        .steps(["a"])
        .build(&registry)
        .unwrap();
    orders.start(1u64);
    payments.start(1u64); // ids are per tracker
    payments.start(2u64);
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_active", &[("saga", "order")]), 1.0);
    assert_eq!(value(&p, "saga_active", &[("saga", "payment")]), 2.0);

    // A family of another shape under a saga name is an error, not a panic.
    let taken = new_registry();
    taken.counter("saga_active", "Not a gauge.").unwrap();
    let err = SagaTracker::builder("order")
        .steps(["a"])
        .build(&taken)
        .unwrap_err();
    assert!(matches!(err, SagaError::Registry(_)), "{err}");
}

#[test]
fn bad_settings_are_errors_that_say_what_to_fix() {
    let r = new_registry();
    let build = |b: perf_instrument::saga::SagaTrackerBuilder| b.build(&r).unwrap_err();
    let err = build(SagaTracker::builder("").steps(["a"]));
    assert!(
        matches!(err, SagaError::InvalidName { what: "saga", .. }),
        "{err}"
    );
    let err = build(SagaTracker::builder("s").steps(["a\n"]));
    assert!(err.to_string().contains("control characters"), "{err}");
    let err = build(SagaTracker::builder("s").steps((0..65).map(|i| format!("s{i}"))));
    assert!(matches!(err, SagaError::TooMany { count: 65, .. }), "{err}");
    let err = build(SagaTracker::builder("s").steps(["a", "a"]));
    assert!(matches!(err, SagaError::DuplicateName { .. }), "{err}");
    let err = build(
        SagaTracker::builder("s")
            .steps(["a"])
            .deadline(Duration::ZERO),
    );
    assert!(err.to_string().contains("deadline"), "{err}");
    let err = build(SagaTracker::builder("s").steps(["a"]).max_active(0));
    assert!(
        matches!(err, SagaError::ZeroCount { what: "max_active" }),
        "{err}"
    );
    let t = SagaTracker::builder("s")
        .steps(["a"])
        .failure_reasons(["other", "x"])
        .build(&r)
        .unwrap();
    assert!(t.step("b").unwrap_err().to_string().contains("[\"a\"]"));
    assert!(t.failure_reason("x").is_ok());
    assert_eq!(t.failure_reason("other").unwrap(), SagaFailureReason::OTHER);
}

#[test]
fn many_threads_running_whole_sagas_lose_nothing() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 5_000;
    let registry = new_registry();
    let orders = SagaTracker::builder("order")
        .steps(STEPS)
        .max_active(1_000_000)
        .build(&registry)
        .unwrap();
    let steps = orders.steps();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (orders, steps) = (&orders, &steps);
            s.spawn(move || {
                for n in 0..PER_THREAD {
                    let id = t * PER_THREAD + n;
                    assert!(orders.start(id).is_accepted());
                    for &step in steps {
                        assert!(orders.step_started(id, step).is_accepted());
                        assert!(orders.step_completed(id, step).is_accepted());
                    }
                    assert!(orders.completed(id).is_accepted());
                }
            });
        }
        s.spawn(|| {
            for _ in 0..50 {
                let _ = orders.sweep();
                let _ = orders.report(5);
            }
        });
    });
    let total = THREADS * PER_THREAD;
    assert_eq!(orders.started_count(), total);
    assert_eq!(orders.finished_count(SagaOutcome::Completed), total);
    assert_eq!(orders.active_count(), 0);
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_active", &[("saga", "order")]), 0.0);
    assert_eq!(
        value(&p, "saga_step_duration_seconds_count", &[("step", "ship")]),
        total as f64
    );
}

#[test]
fn the_sweeper_thread_sweeps_until_dropped() {
    let registry = new_registry();
    let (orders, hand) = tracker(&registry);
    orders.start("a");
    hand.advance(Duration::from_secs(11));
    let sweeper = orders.spawn_sweeper(Duration::from_millis(1)).unwrap();
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_sweeper_running", &[("saga", "order")]), 1.0);
    // Wait (without asserting on how long it takes) for a sweep to time the saga out.
    for _ in 0..10_000 {
        if orders.finished_count(SagaOutcome::TimedOut) == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(orders.finished_count(SagaOutcome::TimedOut), 1);
    drop(sweeper);
    let p = scrape(&registry);
    assert_eq!(value(&p, "saga_sweeper_running", &[("saga", "order")]), 0.0);
    assert!(matches!(
        orders.spawn_sweeper(Duration::ZERO),
        Err(SagaError::ZeroDuration { .. })
    ));
}

#[cfg(feature = "http")]
#[test]
fn the_route_serves_the_view_next_to_metrics() {
    use perf_instrument::{Route, Server};
    use std::io::{Read, Write};

    let registry = new_registry();
    let (orders, _hand) = tracker(&registry);
    orders.start("o-1");
    let server = Server::builder(registry)
        .bind("127.0.0.1:0".parse().unwrap())
        .route(Route::saga_view(&orders, "/sagas", SagaViewFormat::Json))
        .route(Route::saga_view(
            &orders,
            "/sagas.txt",
            SagaViewFormat::Text,
        ))
        .start()
        .unwrap();
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    };
    let reply = get("/sagas");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let body = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["oldest"][0]["id"], "o-1");
    let reply = get("/sagas.txt");
    assert!(reply.contains("saga \"order\": 1 active"), "{reply}");
}
