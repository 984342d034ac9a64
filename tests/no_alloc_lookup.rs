//! A labelled lookup of an existing series allocates nothing: a counting global allocator
//! (this test binary's own) proves it for `Family::with`.

use perf_instrument::{Opts, Registry, Unit};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations and reallocations since the process started.
fn allocations() -> usize {
    let stats = GLOBAL.stats();
    stats.allocations + stats.reallocations
}

#[test]
fn a_lookup_and_record_of_an_existing_series_allocates_nothing() {
    let registry = Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap();
    let latency = registry
        .register_histogram(
            Opts::new("rpc_seconds", "RPC latency.")
                .unit(Unit::Seconds)
                .labels(["method", "code"]),
        )
        .unwrap();
    let methods = ["GET", "PUT", "POST", "DELETE"];
    let codes = ["200", "404", "500"];
    // Create the series, and record once so this thread's lane, shard and page exist.
    for m in methods {
        for c in codes {
            latency.with(&[m, c], |h| h.record(1_500));
        }
    }
    // The allocator is process-wide: the test harness's own threads may allocate now and then.
    // A lookup path that allocated would show in every window, so the quietest of a few
    // windows must be zero.
    let quietest = (0..5)
        .map(|_| {
            let before = allocations();
            for i in 0..10_000u64 {
                let (m, c) = (methods[i as usize % 4], codes[i as usize % 3]);
                latency.with(&[m, c], |h| h.record(1_000 + i % 900));
            }
            allocations() - before
        })
        .min()
        .unwrap();
    assert_eq!(quietest, 0, "allocations on the lookup path");
    let total: u64 = methods
        .iter()
        .flat_map(|m| codes.iter().map(move |c| (*m, *c)))
        .map(|(m, c)| latency.with(&[m, c], |h| h.snapshot().count()))
        .sum();
    assert_eq!(total, 12 + 5 * 10_000);
    // A new label set does allocate (its series), and then is found the same way.
    let before = allocations();
    latency.with(&["PATCH", "200"], |h| h.record(1));
    assert!(allocations() > before);
}
