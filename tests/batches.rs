//! Batch sizes and their durations.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape, value};
use perf_instrument::{BatchRecorder, Clock};
use std::time::Duration;

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
