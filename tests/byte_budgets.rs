//! Byte budgets on what callers control: label values over the family's budget get the
//! overflow series, so 1 MiB values cost neither memory nor scrape size; pending keys over the
//! tracker's budget are refused and counted, and the keys it keeps are stored once (a counting
//! global allocator, this test binary's own, measures the live bytes).
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape, value};
use perf_instrument::{
    render_as, Format, Opts, PendingTracker, DEFAULT_MAX_LABEL_VALUE_BYTES,
    DEFAULT_MAX_PENDING_KEY_BYTES, OVERFLOW_LABEL_VALUE,
};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The tests that measure live bytes run one at a time (the allocator is process-wide).
static MEASURING: Mutex<()> = Mutex::new(());

/// Bytes allocated and not yet freed, process-wide.
fn live_bytes() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

#[test]
fn a_thousand_one_mebibyte_label_values_stay_within_a_few_kibibytes() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let registry = registry();
    let requests = registry
        .register_counter(Opts::new("requests", "Requests.").labels(["path"]))
        .unwrap();
    let latency = registry
        .register_histogram(
            Opts::new("latency_seconds", "Latency.")
                .labels(["path"])
                .unit(perf_instrument::Unit::Seconds),
        )
        .unwrap();
    let before = registry.memory_bytes();
    let mut value = "p".repeat(1 << 20);
    for i in 0..1_000u32 {
        value.replace_range(0..4, &format!("{:04}", i % 10_000));
        requests.with_label_values(&[&value]).inc();
        latency.with(&[&value], |h| h.record(1_000));
    }
    // Every lookup went to the one overflow series of each family, counted.
    assert_eq!(requests.series_count(), 0);
    assert_eq!(requests.overflow_count(), 1_000);
    assert_eq!(latency.overflow_count(), 1_000);
    let grown = registry.memory_bytes() - before;
    assert!(
        grown < 16 * 1024,
        "the budget bounds memory: grew {grown} bytes"
    );
    let text = String::from_utf8(render_as(&registry, Format::OpenMetrics)).unwrap();
    assert!(
        text.len() < 64 * 1024,
        "and the scrape: {} bytes",
        text.len()
    );
    assert!(text.contains(&format!(
        "requests_total{{path=\"{OVERFLOW_LABEL_VALUE}\"}} 1000"
    )));
}

#[test]
fn values_within_the_budget_get_their_own_series_and_the_budget_is_per_family() {
    let registry = registry();
    let hits = registry
        .register_counter(Opts::new("hits", "Hits.").labels(["key"]))
        .unwrap();
    let exact = "k".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES);
    hits.with_label_values(&[&exact]).inc();
    assert_eq!((hits.series_count(), hits.overflow_count()), (1, 0));
    let small = registry
        .register_counter(
            Opts::new("tags", "Tags.")
                .labels(["tag"])
                .max_label_value_bytes(8),
        )
        .unwrap();
    small.with_label_values(&["12345678"]).inc();
    small.with_label_values(&["123456789"]).inc();
    assert_eq!((small.series_count(), small.overflow_count()), (1, 1));
    // A multi-byte value is measured in bytes, not characters.
    small.with_label_values(&["ééééé"]).inc(); // 10 bytes
    assert_eq!(small.overflow_count(), 2);
}

/// `n` distinct keys of `len` bytes each (the index written at the front).
fn keys(n: usize, len: usize) -> impl Iterator<Item = String> {
    let base = "k".repeat(len);
    (0..n).map(move |i| {
        let mut key = base.clone();
        key.replace_range(0..8, &format!("{i:08}"));
        key
    })
}

#[test]
fn a_hundred_thousand_4_kib_pending_keys_are_refused_counted_and_cost_no_memory() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let registry = registry();
    let replies = PendingTracker::<String>::builder("replies")
        .build(&registry)
        .unwrap();
    assert!(replies.register("warm-up".to_string()));
    let before = live_bytes();
    let mut refused = 0;
    for key in keys(100_000, 4096) {
        refused += usize::from(!replies.register(key));
    }
    let grown = live_bytes() - before;
    assert_eq!(refused, 100_000);
    assert_eq!(replies.len(), 1);
    assert!(
        grown < 64 * 1024,
        "refused keys are not kept: grew {grown} bytes"
    );
    let long = "k".repeat(DEFAULT_MAX_PENDING_KEY_BYTES + 1);
    assert_eq!(replies.complete(&long), None, "a long key is never pending");
    let parsed = scrape(&registry);
    let labels = [("tracker", "replies"), ("reason", "key_too_long")];
    assert_eq!(
        value(
            &parsed,
            "pending_rejected_total",
            "pending_rejected_total",
            &labels
        ),
        Some(100_000.0)
    );
    assert_eq!(
        value(
            &parsed,
            "pending_registered_total",
            "pending_registered_total",
            &[("tracker", "replies")]
        ),
        Some(1.0)
    );
}

#[test]
fn pending_keys_within_the_budget_are_stored_once() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let registry = registry();
    let (n, len) = (10_000, 4096);
    let replies = PendingTracker::<String>::builder("replies")
        .max_key_bytes(len)
        .max_pending(4 * n) // room in every shard: nothing is evicted
        .build(&registry)
        .unwrap();
    let before = live_bytes();
    for key in keys(n, len) {
        assert!(replies.register(key));
    }
    let grown = live_bytes() - before;
    let key_bytes = (n * len) as isize;
    eprintln!("{n} keys of {len} bytes: {grown} live bytes");
    // Each key once, plus at most 256 bytes of table, age index and counters per entry (a
    // second copy of each key would add another 4,096).
    assert!(grown >= key_bytes, "the keys are kept: grew {grown} bytes");
    assert!(
        grown < key_bytes + 256 * n as isize,
        "each key is stored once: grew {grown} bytes for {key_bytes} bytes of keys"
    );
    assert_eq!(replies.len(), n);
    // Distinct long keys that share a prefix are never confused.
    for key in keys(n, len).take(100) {
        assert!(replies.complete(&key).is_some());
    }
    assert_eq!(replies.len(), n - 100);
}

#[cfg(feature = "metrics")]
#[test]
fn a_hundred_thousand_facade_names_create_at_most_the_family_cap_counted_exactly() {
    use perf_instrument::{MetricsRecorder, DEFAULT_MAX_FACADE_FAMILIES};
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let registry = registry();
    let recorder = MetricsRecorder::new(&registry);
    let cap = DEFAULT_MAX_FACADE_FAMILIES;
    let (n, mut at_cap, mut grown_past_cap) = (100_000, 0, 0);
    let before = live_bytes();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..n {
            if i == cap {
                at_cap = live_bytes();
            }
            metrics::counter!(format!("dynamic_name_{i}")).increment(1);
        }
        grown_past_cap = live_bytes() - at_cap;
        // A name already created keeps recording.
        metrics::counter!("dynamic_name_7").increment(1);
    });
    let grown = live_bytes() - before;
    eprintln!(
        "{n} names: {grown} live bytes ({} at the cap, {grown_past_cap} past it)",
        at_cap - before
    );
    assert!(
        grown_past_cap < 64 * 1024,
        "names past the cap cost nothing: grew {grown_past_cap} bytes"
    );
    assert!(
        grown < 16 << 20,
        "{cap} families at most: grew {grown} bytes"
    );
    let parsed = scrape(&registry);
    let labels = [("integration", "metrics"), ("reason", "family_cap")];
    let errors = "perf_instrument_integration_errors_total";
    assert_eq!(
        value(&parsed, errors, errors, &labels),
        Some((n - cap) as f64)
    );
    let created = (0..n)
        .filter(|i| {
            let name = format!("dynamic_name_{i}_total");
            value(&parsed, &name, &name, &[]).is_some()
        })
        .count();
    assert_eq!(created, cap);
    let name = "dynamic_name_7_total";
    assert_eq!(value(&parsed, name, name, &[]), Some(2.0));
}
