//! `StageLayer`: span busy, idle and total time as pipeline stages, on a manual clock so every
//! duration is exact; the target and field filters; slow-span warnings for the slow ones only.
#![cfg(all(feature = "tracing-layer", not(perf_instrument_loom)))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use common::quiet_registry as registry;
use perf_instrument::{render_as, Clock, Format, ManualClock, Registry, StageLayer};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tracing_subscriber::layer::{Layer, SubscriberExt};

fn scrape(registry: &Registry) -> Parsed {
    let text = String::from_utf8(render_as(registry, Format::PrometheusText)).unwrap();
    parse(&text, Dialect::Prometheus).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// `(count, sum in seconds)` of `family{pipeline, stage}`.
fn stage(parsed: &Parsed, family: &str, pipeline: &str, stage: &str) -> Option<(f64, f64)> {
    let samples = &parsed.get(family)?.samples;
    let find = |suffix: &str| {
        samples.iter().find_map(|s| {
            (s.name == format!("{family}{suffix}")
                && s.label("pipeline") == Some(pipeline)
                && s.label("stage") == Some(stage))
            .then_some(s.value)
        })
    };
    Some((find("_count")?, find("_sum")?))
}

fn assert_seconds(got: Option<(f64, f64)>, count: f64, seconds: f64) {
    let (n, sum) = got.expect("the series exists");
    assert_eq!(n, count);
    // Stored in 2^-30 s units: within a nanosecond per recorded value.
    assert!(
        (sum - seconds).abs() <= 1e-9 * count,
        "sum {sum}, expected {seconds}"
    );
}

fn manual() -> (Clock, ManualClock) {
    Clock::manual()
}

#[test]
fn busy_idle_and_duration_of_a_span_entered_twice() {
    let registry = registry();
    let (clock, hand) = manual();
    let layer = StageLayer::builder()
        .pipeline("orders")
        .clock(clock)
        .build(&registry)
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("persist");
        hand.advance(Duration::from_millis(1)); // idle before the first enter
        span.in_scope(|| {
            hand.advance(Duration::from_millis(3));
            // Re-entering the entered span does not count twice.
            span.in_scope(|| hand.advance(Duration::from_millis(2)));
        });
        hand.advance(Duration::from_millis(10)); // waiting
        span.in_scope(|| hand.advance(Duration::from_millis(4)));
        drop(span);
    });
    let parsed = scrape(&registry);
    assert_seconds(
        stage(&parsed, "pipeline_stage_busy_seconds", "orders", "persist"),
        1.0,
        0.009,
    );
    assert_seconds(
        stage(&parsed, "pipeline_stage_idle_seconds", "orders", "persist"),
        1.0,
        0.011,
    );
    assert_seconds(
        stage(
            &parsed,
            "pipeline_stage_duration_seconds",
            "orders",
            "persist",
        ),
        1.0,
        0.020,
    );
}

#[tracing::instrument]
fn enrich(hand: &ManualClock, order: u32) -> u32 {
    hand.advance(Duration::from_millis(5));
    order + 1
}

/// Pending `polls` times, advancing the clock by 1 ms per poll and 7 ms between polls.
struct Work<'a> {
    hand: &'a ManualClock,
    polls: u32,
}

impl Future for Work<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.hand.advance(Duration::from_millis(1));
        if self.polls == 0 {
            Poll::Ready(())
        } else {
            self.polls -= 1;
            Poll::Pending
        }
    }
}

#[tracing::instrument(skip(hand))]
async fn publish(hand: &ManualClock) {
    Work { hand, polls: 2 }.await;
}

#[test]
fn instrumented_functions_show_up_as_stages_with_their_waits_as_idle() {
    let registry = registry();
    let (clock, hand) = manual();
    let layer = StageLayer::builder().clock(clock).build(&registry).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        assert_eq!(enrich(&hand, 1), 2);
        assert_eq!(enrich(&hand, 2), 3);

        let mut future = Box::pin(publish(&hand));
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if future.as_mut().poll(&mut cx).is_ready() {
                break;
            }
            hand.advance(Duration::from_millis(7)); // waiting to be polled again
        }
    });
    let parsed = scrape(&registry);
    assert_seconds(
        stage(
            &parsed,
            "pipeline_stage_duration_seconds",
            "tracing",
            "enrich",
        ),
        2.0,
        0.010,
    );
    assert_seconds(
        stage(&parsed, "pipeline_stage_idle_seconds", "tracing", "enrich"),
        2.0,
        0.0,
    );
    // Three polls of 1 ms each, two waits of 7 ms.
    assert_seconds(
        stage(&parsed, "pipeline_stage_busy_seconds", "tracing", "publish"),
        1.0,
        0.003,
    );
    assert_seconds(
        stage(&parsed, "pipeline_stage_idle_seconds", "tracing", "publish"),
        1.0,
        0.014,
    );
}

#[test]
fn only_spans_of_the_target_and_with_the_field_are_recorded() {
    let registry = registry();
    let (clock, hand) = manual();
    let layer = StageLayer::builder()
        .pipeline("shop")
        .target("shop::orders")
        .field("stage")
        .clock(clock)
        .build(&registry)
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        // Right target, the field's value names the stage.
        tracing::info_span!(target: "shop::orders::db", "query", stage = "persist")
            .in_scope(|| hand.advance(Duration::from_millis(2)));
        // Right target, no field: not recorded.
        tracing::info_span!(target: "shop::orders", "helper")
            .in_scope(|| hand.advance(Duration::from_millis(2)));
        // Field, wrong target: not recorded.
        tracing::info_span!(target: "shop::billing", "charge", stage = "bill")
            .in_scope(|| hand.advance(Duration::from_millis(2)));
    });
    let parsed = scrape(&registry);
    assert_seconds(
        stage(
            &parsed,
            "pipeline_stage_duration_seconds",
            "shop",
            "persist",
        ),
        1.0,
        0.002,
    );
    let series = &parsed["pipeline_stage_duration_seconds"].samples;
    assert!(series.iter().all(|s| s.label("stage") == Some("persist")));
}

/// Collects the messages of warning events.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", event.metadata().target(), message.0));
        }
    }
}

#[test]
fn only_spans_slower_than_the_threshold_are_logged_and_counted() {
    let registry = registry();
    let (clock, hand) = manual();
    let layer = StageLayer::builder()
        .pipeline("orders")
        .warn_slower_than(Duration::from_millis(10))
        .clock(clock)
        .build(&registry)
        .unwrap();
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(warnings.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("fast").in_scope(|| hand.advance(Duration::from_millis(3)));
        tracing::info_span!("slow").in_scope(|| hand.advance(Duration::from_millis(25)));
        tracing::info_span!("exactly").in_scope(|| hand.advance(Duration::from_millis(10)));
    });
    let logged = warnings.0.lock().unwrap().clone();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].starts_with("perf_instrument::slow_span "));
    assert!(logged[0].contains("stage slow of pipeline orders took 25.000 ms"));

    let parsed = scrape(&registry);
    let slow = |stage: &str| {
        parsed["pipeline_stage_slow_total"]
            .samples
            .iter()
            .find(|s| s.label("stage") == Some(stage))
            .map(|s| s.value)
    };
    assert_eq!(slow("slow"), Some(1.0));
    assert_eq!(slow("fast"), Some(0.0));
}
