//! Trace exemplars (feature `opentelemetry`): inside a `tracing` span that a
//! `tracing-opentelemetry` layer backs with an OpenTelemetry span, `record_with_trace` and
//! `inc_by_with_trace` keep that span's trace and span ids, and OpenMetrics shows them; outside
//! any span they record plainly.
#![cfg(all(feature = "opentelemetry", not(perf_instrument_loom)))]

mod common;

use common::quiet_registry as registry;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use perf_instrument::{render_as, Buckets, Format, Opts, Pipeline, Registry, TraceLabels, Unit};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// A subscriber whose spans are OpenTelemetry spans of an SDK tracer (no exporter).
fn subscriber(sampler: Sampler) -> impl tracing::Subscriber + Send + Sync {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("trace_exemplars")))
}

/// The current span's context, as OpenTelemetry itself renders its ids.
fn current_ids() -> (String, String) {
    let cx = Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

fn openmetrics(registry: &Registry) -> String {
    String::from_utf8(render_as(registry, Format::OpenMetrics)).unwrap()
}

#[test]
fn a_histogram_and_a_counter_carry_the_span_context_of_the_current_span() {
    let registry = registry();
    let latency = registry
        .register_histogram(
            Opts::new("request_seconds", "Requests.")
                .unit(Unit::Seconds)
                .buckets(Buckets::from_values(Unit::Seconds, &[0.01, 1.0])),
        )
        .unwrap()
        .with_label_values(&[]);
    let failures = registry.counter("failures", "Failures.").unwrap();

    let (trace_id, span_id) =
        tracing::subscriber::with_default(subscriber(Sampler::AlwaysOn), || {
            // Outside any span: the plain paths, no exemplar.
            assert!(!latency.record_with_trace(1_000_000));
            assert!(!failures.inc_by_with_trace(2));
            assert!(latency.exemplars().is_empty());
            assert!(failures.exemplar().is_none());

            let _request = tracing::info_span!("request").entered();
            let ids = current_ids();
            assert!(latency.record_with_trace(250_000_000));
            assert!(failures.inc_by_with_trace(1));
            ids
        });
    assert_eq!(trace_id.len(), 32);
    assert_eq!(span_id.len(), 16);
    assert!(trace_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_ne!(trace_id, "0".repeat(32));

    assert_eq!(latency.snapshot().count(), 2);
    assert_eq!(failures.get(), 3);
    let text = openmetrics(&registry);
    let exemplar = format!("# {{trace_id=\"{trace_id}\",span_id=\"{span_id}\"}}");
    let bucket = text
        .lines()
        .find(|l| l.starts_with("request_seconds_bucket{le=\"1.0"))
        .unwrap_or_else(|| panic!("no 1 s bucket in\n{text}"));
    assert!(bucket.contains(&format!("}} 2 {exemplar} 0.25")), "{text}");
    // The fast observation outside the span left its bucket without an exemplar.
    let fast = text
        .lines()
        .find(|l| l.starts_with("request_seconds_bucket{le=\"0.01"))
        .unwrap_or_else(|| panic!("no 10 ms bucket in\n{text}"));
    assert!(!fast.contains('#'), "{fast}");
    let total = text
        .lines()
        .find(|l| l.starts_with("failures_total"))
        .unwrap();
    assert!(
        total.starts_with(&format!("failures_total 3 {exemplar} 1.0 ")),
        "{total}"
    );
}

#[test]
fn a_nested_span_gives_its_own_span_id_under_the_same_trace() {
    let latency = perf_instrument::Histogram::new(Unit::Count);
    tracing::subscriber::with_default(subscriber(Sampler::AlwaysOn), || {
        let _outer = tracing::info_span!("outer").entered();
        let (outer_trace, outer_span) = current_ids();
        let _inner = tracing::info_span!("inner").entered();
        let labels = TraceLabels::from_current_span().unwrap();
        assert_eq!(labels.trace_id(), outer_trace);
        assert_ne!(labels.span_id(), outer_span);
        assert_eq!(
            (labels.trace_id().to_string(), labels.span_id().to_string()),
            current_ids()
        );
        // The layer attached the entered span's context to the thread, so the cheaper lookup
        // finds the same ids.
        assert_eq!(TraceLabels::from_current_context(), Some(labels));
        assert!(latency.record_with_trace(7));
        let kept = latency.exemplars();
        assert_eq!(kept[0].labels()[1].1, labels.span_id());
    });
}

#[test]
fn an_incoming_parent_context_gives_its_trace_id() {
    // A request that arrived with `traceparent: 00-4bf9…-00f0…-01`, attached as the parent.
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let counter = perf_instrument::Counter::new();
    tracing::subscriber::with_default(
        subscriber(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
        || {
            let span = tracing::info_span!("handle");
            span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
                .unwrap();
            let _entered = span.entered();
            assert!(counter.inc_by_with_trace(1));
        },
    );
    let labels = counter.exemplar().unwrap().labels().to_vec();
    assert_eq!(
        labels[0],
        ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into())
    );
    assert_ne!(labels[1].1, "00f067aa0ba902b7"); // the local span's own id
}

#[test]
fn an_unsampled_span_still_names_its_trace() {
    let counter = perf_instrument::Counter::new();
    tracing::subscriber::with_default(subscriber(Sampler::AlwaysOff), || {
        let _request = tracing::info_span!("request").entered();
        let (trace_id, _) = current_ids();
        assert_ne!(trace_id, "0".repeat(32));
        assert!(counter.inc_by_with_trace(1));
        assert_eq!(counter.exemplar().unwrap().labels()[0].1, trace_id);
    });
}

#[test]
fn a_subscriber_without_the_opentelemetry_layer_gives_no_exemplar() {
    let counter = perf_instrument::Counter::new();
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        let _request = tracing::info_span!("request").entered();
        assert!(TraceLabels::from_current_span().is_none());
        assert!(TraceLabels::from_current_context().is_none());
        assert!(!counter.inc_by_with_trace(4));
    });
    assert_eq!(counter.get(), 4);
    assert!(counter.exemplar().is_none());
}

#[test]
fn a_pipeline_takes_the_trace_as_its_event_exemplar() {
    let registry = registry();
    let pipeline = Pipeline::builder("orders").build(&registry).unwrap();
    let trace_id = tracing::subscriber::with_default(subscriber(Sampler::AlwaysOn), || {
        let _request = tracing::info_span!("order").entered();
        let event = pipeline.begin();
        match TraceLabels::from_current_span() {
            Some(trace) => pipeline.finish_with_exemplar(event, &trace.as_labels()),
            None => pipeline.finish(event),
        };
        current_ids().0
    });
    let text = openmetrics(&registry);
    assert!(
        text.lines().any(
            |l| l.starts_with("pipeline_end_to_end_duration_seconds_bucket")
                && l.contains(&format!("# {{trace_id=\"{trace_id}\",span_id=\""))
        ),
        "{text}"
    );
}
