//! Byte budgets on what callers control: label values over the family's budget get the
//! overflow series, so 1 MiB values cost neither memory nor scrape size.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::registry;
use perf_instrument::{
    render_as, Format, Opts, DEFAULT_MAX_LABEL_VALUE_BYTES, OVERFLOW_LABEL_VALUE,
};

#[test]
fn a_thousand_one_mebibyte_label_values_stay_within_a_few_kibibytes() {
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
