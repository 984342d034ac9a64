//! Values above a histogram's range: counted in the top bucket, added to the sum as recorded,
//! and exported in `perf_instrument_clamped_values_total{family}`; the coordinated-omission
//! fill-in is capped.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::registry;
use perf_instrument::{Histogram, Opts, Unit, MAX_FILL_IN, MAX_VALUE};

#[test]
fn a_clamped_value_keeps_the_sum_exact_and_is_exported() {
    let registry = registry();
    let sizes = registry
        .register_histogram(
            Opts::new("payload_bytes", "Sizes.")
                .unit(Unit::Bytes)
                .labels(["k"]),
        )
        .unwrap();
    let huge = MAX_VALUE * 3;
    sizes.with_label_values(&["a"]).record(huge);
    sizes.with_label_values(&["a"]).record(10);
    sizes.with_label_values(&["b"]).record(u64::MAX);
    let snapshot = registry.snapshot();
    let a = snapshot.histogram("payload_bytes", &[("k", "a")]).unwrap();
    assert_eq!(a.count(), 2);
    assert_eq!(a.clamped(), 1);
    assert_eq!(
        a.sum(),
        (huge + 10) as f64,
        "the sum adds the value as recorded"
    );
    assert_eq!(
        a.count_at_or_below(MAX_VALUE),
        2,
        "counted in the top bucket"
    );
    assert_eq!(
        snapshot.value(
            "perf_instrument_clamped_values",
            &[("family", "payload_bytes")]
        ),
        Some(2.0)
    );
    let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    assert!(text.contains("perf_instrument_clamped_values_total{family=\"payload_bytes\"} 2"));
}

#[test]
fn families_that_never_clamp_export_no_series() {
    let registry = registry();
    let h = registry
        .register_histogram(Opts::new("fine_bytes", "Fine.").unit(Unit::Bytes))
        .unwrap();
    h.with_label_values(&[]).record(5);
    let snapshot = registry.snapshot();
    assert!(snapshot
        .family("perf_instrument_clamped_values")
        .unwrap()
        .series
        .is_empty());
}

#[test]
fn the_coordinated_omission_fill_in_is_capped() {
    let h = Histogram::new(Unit::Count);
    h.record_with_expected_interval(1 << 40, 1);
    assert_eq!(h.snapshot().count(), 1 + MAX_FILL_IN);
    // Below the cap, every missed value is filled in.
    let small = Histogram::new(Unit::Count);
    small.record_with_expected_interval(1_000, 10);
    assert_eq!(small.snapshot().count(), 100);
}
