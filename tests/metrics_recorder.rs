//! The `metrics` facade through `MetricsRecorder`: what `counter!`, `gauge!`, `histogram!` and
//! `describe_*!` record, as the exposition shows it, and each documented policy.
#![cfg(all(feature = "metrics", not(perf_instrument_loom)))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use common::quiet_registry as registry;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use perf_instrument::{render_as, Format, MetricsRecorder, Registry};

fn scrape(registry: &Registry, format: Format) -> (String, Parsed) {
    let text = String::from_utf8(render_as(registry, format)).unwrap();
    let dialect = if format == Format::OpenMetrics {
        Dialect::OpenMetrics
    } else {
        Dialect::Prometheus
    };
    let parsed = parse(&text, dialect).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, parsed)
}

fn value(parsed: &Parsed, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parsed.get(family)?.samples.iter().find_map(|s| {
        (s.name == name
            && labels.iter().all(|(k, v)| s.label(k) == Some(*v))
            && s.labels.len() == labels.len())
        .then_some(s.value)
    })
}

fn error_count(parsed: &Parsed, reason: &str) -> f64 {
    value(
        parsed,
        "perf_instrument_integration_errors_total",
        "perf_instrument_integration_errors_total",
        &[("integration", "metrics"), ("reason", reason)],
    )
    .unwrap_or(0.0)
}

#[test]
fn macros_land_in_the_registry_with_labels_help_and_units() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        describe_counter!("orders_placed_total", "Orders placed.");
        describe_gauge!("queue_fill", "How full the queue is, 0 to 1.");
        describe_histogram!(
            "checkout_latency",
            metrics::Unit::Milliseconds,
            "Checkout time."
        );
        describe_histogram!("payload_size", metrics::Unit::Kibibytes, "Payload size.");

        counter!("orders_placed_total", "region" => "eu").increment(2);
        counter!("orders_placed_total", "region" => "eu").increment(3);
        counter!("orders_placed_total", "region" => "us").increment(1);
        gauge!("queue_fill", "queue" => "ingest").set(0.75);
        gauge!("queue_fill", "queue" => "ingest").increment(0.125);
        gauge!("queue_fill", "queue" => "ingest").decrement(0.5);
        histogram!("checkout_latency", "step" => "pay").record(250.0);
        histogram!("checkout_latency", "step" => "pay").record(500.0);
        histogram!("payload_size").record(2.0);
        histogram!("request_duration_seconds").record(0.125);
        histogram!("batch_items").record_many(3.0, 4);
    });

    let (text, parsed) = scrape(&registry, Format::PrometheusText);
    let orders = &parsed["orders_placed_total"];
    assert_eq!(orders.help.as_deref(), Some("Orders placed."));
    assert_eq!(
        value(
            &parsed,
            "orders_placed_total",
            "orders_placed_total",
            &[("region", "eu")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &parsed,
            "orders_placed_total",
            "orders_placed_total",
            &[("region", "us")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "queue_fill", "queue_fill", &[("queue", "ingest")]),
        Some(0.375),
        "gauges keep f64 values"
    );
    // Milliseconds are exported in seconds, under a `_seconds` name.
    let latency = &parsed["checkout_latency_seconds"];
    assert_eq!(latency.help.as_deref(), Some("Checkout time."));
    let pay = [("step", "pay")];
    assert_eq!(
        value(
            &parsed,
            "checkout_latency_seconds",
            "checkout_latency_seconds_count",
            &pay
        ),
        Some(2.0)
    );
    let sum = value(
        &parsed,
        "checkout_latency_seconds",
        "checkout_latency_seconds_sum",
        &pay,
    )
    .unwrap();
    assert!((sum - 0.75).abs() < 2e-9, "sum {sum}");
    // 0.25 s and 0.5 s are both at or below the 0.5 bound, not below 0.25 - 1 unit.
    assert_eq!(
        value(
            &parsed,
            "checkout_latency_seconds",
            "checkout_latency_seconds_bucket",
            &[("step", "pay"), ("le", "0.5")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&parsed, "payload_size_bytes", "payload_size_bytes_sum", &[]),
        Some(2048.0)
    );
    assert_eq!(
        value(
            &parsed,
            "request_duration_seconds",
            "request_duration_seconds_sum",
            &[]
        ),
        Some(0.125)
    );
    assert_eq!(
        value(&parsed, "batch_items", "batch_items_count", &[]),
        Some(4.0)
    );
    assert_eq!(
        value(&parsed, "batch_items", "batch_items_sum", &[]),
        Some(12.0)
    );
    // Undescribed metrics say so in their help.
    assert!(text.contains("# HELP batch_items Recorded through the metrics facade"));

    // OpenMetrics carries the units.
    let (_, open) = scrape(&registry, Format::OpenMetrics);
    assert_eq!(
        open["checkout_latency_seconds"].unit.as_deref(),
        Some("seconds")
    );
    assert_eq!(open["payload_size_bytes"].unit.as_deref(), Some("bytes"));
}

#[test]
fn negative_and_nan_histogram_values_are_clamped_or_dropped_and_counted() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        let h = histogram!("wait_seconds");
        h.record(-1.0);
        h.record(f64::NAN);
        h.record(f64::NAN);
        h.record(0.5);
        h.record(f64::INFINITY);
    });
    let (_, parsed) = scrape(&registry, Format::PrometheusText);
    // -1 recorded as 0, NaN dropped, +inf clamped into the top bucket.
    assert_eq!(
        value(&parsed, "wait_seconds", "wait_seconds_count", &[]),
        Some(3.0)
    );
    assert_eq!(
        value(
            &parsed,
            "wait_seconds",
            "wait_seconds_bucket",
            &[("le", "0.5")]
        ),
        Some(2.0)
    );
    assert_eq!(error_count(&parsed, "negative"), 1.0);
    assert_eq!(error_count(&parsed, "nan"), 2.0);
}

#[test]
fn the_first_use_fixes_the_label_keys_and_subsets_fill_in_empty() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        counter!("jobs", "queue" => "a", "kind" => "x").increment(1);
        // Same keys, other order: the same series.
        counter!("jobs", "kind" => "x", "queue" => "a").increment(1);
        // A subset: the missing label is empty, i.e. absent for Prometheus.
        counter!("jobs", "queue" => "a").increment(10);
        counter!("jobs").increment(100);
        // A key the family does not have: detached and counted.
        counter!("jobs", "queue" => "a", "tenant" => "t1").increment(1000);
        counter!("jobs", "queue" => "a", "tenant" => "t1").increment(1000);
    });
    let (text, parsed) = scrape(&registry, Format::PrometheusText);
    let samples = &parsed["jobs_total"].samples;
    let get = |kind: &str, queue: &str| {
        samples
            .iter()
            .find(|s| s.label("kind") == Some(kind) && s.label("queue") == Some(queue))
            .map(|s| s.value)
    };
    assert_eq!(get("x", "a"), Some(2.0));
    assert_eq!(get("", "a"), Some(10.0));
    assert_eq!(get("", ""), Some(100.0));
    assert_eq!(samples.len(), 3, "{text}");
    assert!(!text.contains("tenant"));
    // Counted once per key resolved (the second call hit the cache).
    assert_eq!(error_count(&parsed, "label_keys"), 1.0);
}

#[test]
fn a_description_after_first_use_is_ignored_and_counted() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        histogram!("late_latency").record(3.0);
        describe_histogram!("late_latency", metrics::Unit::Seconds, "Too late.");
        histogram!("late_latency").record(4.0);
    });
    let (text, parsed) = scrape(&registry, Format::PrometheusText);
    let family = &parsed["late_latency"];
    assert!(family
        .help
        .as_deref()
        .unwrap()
        .starts_with("Recorded through"));
    assert_eq!(
        value(&parsed, "late_latency", "late_latency_sum", &[]),
        Some(7.0),
        "still dimensionless: {text}"
    );
    assert!(!text.contains("late_latency_seconds"));
    assert_eq!(error_count(&parsed, "late_describe"), 1.0);
}

#[test]
fn names_are_sanitised_and_kind_clashes_are_counted() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        counter!("http.requests", "http.method" => "GET").increment(1);
        counter!("dual").increment(1);
        gauge!("dual").set(5.0);
        gauge!("dual").set(6.0);
        histogram!("sizes", "le" => "x").record(1.0);
    });
    let (text, parsed) = scrape(&registry, Format::PrometheusText);
    assert_eq!(
        value(
            &parsed,
            "http_requests_total",
            "http_requests_total",
            &[("http_method", "GET")]
        ),
        Some(1.0)
    );
    assert_eq!(parsed["dual_total"].kind, "counter", "{text}");
    assert!(!text.contains("dual 6"));
    // The gauge `dual` and the histogram with a reserved `le` label were refused.
    assert_eq!(error_count(&parsed, "registration"), 2.0);
}

#[test]
fn names_with_another_types_sample_suffix_are_refused_and_counted() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        gauge!("queue_total").set(3.0);
        gauge!("queue_total").increment(1.0);
        gauge!("rpc_count").set(1.0);
        histogram!("batch_created").record(2.0);
        counter!("jobs_total").increment(2);
        histogram!("rows_count").record(4.0);
    });
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let (text, parsed) = scrape(&registry, format);
        // Each refused name is counted once, records into a detached recorder, and is not shown.
        assert_eq!(
            error_count_in(&parsed, format, "registration"),
            3.0,
            "{text}"
        );
        for refused in ["queue_total", "rpc_count", "batch_created"] {
            assert!(!parsed.contains_key(refused), "{text}");
        }
        // A counter's `_total` and a histogram ending like its own samples are fine.
        assert!(parsed.contains_key("rows_count"), "{text}");
        assert!(text.contains("jobs_total 2"), "{text}");
    }
}

fn error_count_in(parsed: &Parsed, format: Format, reason: &str) -> f64 {
    let family = if format == Format::OpenMetrics {
        "perf_instrument_integration_errors"
    } else {
        "perf_instrument_integration_errors_total"
    };
    value(
        parsed,
        family,
        "perf_instrument_integration_errors_total",
        &[("integration", "metrics"), ("reason", reason)],
    )
    .unwrap_or(0.0)
}

#[test]
fn counters_take_absolute_values_and_handles_can_be_kept() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        let bytes = counter!("bytes_read_total");
        bytes.absolute(100);
        bytes.absolute(40); // an older reading: no change
        bytes.absolute(150);
        let latency = histogram!("kept_seconds");
        for _ in 0..1000 {
            latency.record(0.001);
        }
    });
    let (_, parsed) = scrape(&registry, Format::PrometheusText);
    assert_eq!(
        value(&parsed, "bytes_read_total", "bytes_read_total", &[]),
        Some(150.0)
    );
    assert_eq!(
        value(&parsed, "kept_seconds", "kept_seconds_count", &[]),
        Some(1000.0)
    );
    let sum = value(&parsed, "kept_seconds", "kept_seconds_sum", &[]).unwrap();
    // 1 ms = 1,073,741.824 units of 2^-30 s, stored as 1,073,741: within 1 ns per value.
    assert!((sum - 1.0).abs() <= 1000.0 * 1e-9, "sum {sum}");
}

#[test]
fn label_sets_beyond_the_cache_and_family_caps_stay_bounded() {
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        for i in 0..1_500 {
            counter!("per_user", "user" => i.to_string()).increment(1);
        }
    });
    let (_, parsed) = scrape(&registry, Format::PrometheusText);
    let samples = &parsed["per_user_total"].samples;
    // 1,000 series (the default cap) plus the overflow series with the other 500.
    assert_eq!(samples.len(), 1_001);
    let overflow = samples
        .iter()
        .find(|s| s.label("user") == Some(perf_instrument::OVERFLOW_LABEL_VALUE))
        .unwrap();
    assert_eq!(overflow.value, 500.0);
    let total: f64 = samples.iter().map(|s| s.value).sum();
    assert_eq!(total, 1_500.0);
}

#[test]
fn the_family_cap_counts_described_and_used_names_once_and_drops_the_rest() {
    let registry = registry();
    let recorder = MetricsRecorder::builder(&registry).max_families(3).build();
    metrics::with_local_recorder(&recorder, || {
        describe_counter!("described_first", "Described, then used.");
        describe_counter!("described_only", "Described, never used: still a place.");
        counter!("described_first").increment(1); // takes its own place, not a second one
        counter!("used_third").increment(2);
        describe_counter!("described_past_cap", "Ignored.");
        counter!("used_past_cap").increment(5);
        gauge!("gauge_past_cap").set(1.0);
        histogram!("histogram_past_cap").record(1.0);
        let kept = counter!("used_past_cap"); // a no-op handle: records nothing
        kept.increment(1);
        counter!("used_third").increment(1); // an existing name keeps recording
    });
    let (text, parsed) = scrape(&registry, Format::PrometheusText);
    assert_eq!(
        value(
            &parsed,
            "described_first_total",
            "described_first_total",
            &[]
        ),
        Some(1.0)
    );
    assert!(text.contains("# HELP described_first_total Described, then used."));
    assert_eq!(
        value(&parsed, "used_third_total", "used_third_total", &[]),
        Some(3.0)
    );
    for dropped in ["used_past_cap", "gauge_past_cap", "histogram_past_cap"] {
        assert!(!text.contains(dropped), "{dropped} was created:\n{text}");
    }
    // One ignored description and five refused handles.
    assert_eq!(error_count(&parsed, "family_cap"), 5.0);
}

#[test]
fn a_facade_metric_named_like_an_instruments_family_is_refused_and_the_family_is_untouched() {
    let registry = registry();
    let probe = perf_instrument::QueueProbe::new(&registry, "jobs").unwrap();
    let stamp = probe.submit();
    let waited = probe.pickup(stamp);
    let recorder = MetricsRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        // The same kind, unit and label set as the probe's families: without an owner these
        // would merge into them.
        describe_histogram!("queue_wait", metrics::Unit::Seconds, "Third-party wait.");
        histogram!("queue_wait", "queue" => "jobs").record(5.0);
        counter!("queue_wait_seconds", "queue" => "jobs").increment(1);
        gauge!("queue_depth", "queue" => "jobs").set(5.0);
        // A name of its own still works.
        counter!("third_party_jobs_total").increment(1);
    });
    let (text, parsed) = scrape(&registry, Format::PrometheusText);
    let snapshot = registry.snapshot();
    let wait = snapshot
        .histogram("queue_wait_seconds", &[("queue", "jobs")])
        .unwrap();
    assert_eq!(wait.count(), 1, "{text}");
    assert!(wait.max().unwrap() <= waited.as_secs_f64() * 1.05 + 1e-6);
    assert_eq!(
        snapshot.value("queue_depth", &[("queue", "jobs")]),
        Some(0.0)
    );
    assert_eq!(error_count(&parsed, "registration"), 3.0, "{text}");
    assert_eq!(
        value(
            &parsed,
            "third_party_jobs_total",
            "third_party_jobs_total",
            &[]
        ),
        Some(1.0)
    );
    // Code, unlike the facade, shares the instrument's family when it asks for the same shape.
    let err = registry
        .register_histogram(
            perf_instrument::Opts::new("queue_wait_seconds", "x")
                .labels(["queue"])
                .unit(perf_instrument::Unit::Seconds),
        )
        .map(|_| ());
    assert!(
        err.is_ok(),
        "code may share the instrument's family: {err:?}"
    );
}
