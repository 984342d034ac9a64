//! Loom model of the `metrics` facade recorder's cells: racing increments, `absolute` values
//! and gauge updates on one cell lose nothing.
//!
//! Run with `scripts/loom.sh` (it enables the `metrics` feature). The handles are resolved
//! before the racing threads start (resolution takes the recorder's own std locks); the cells'
//! atomics and the counters they feed are loom's.
#![cfg(all(perf_instrument_loom, feature = "metrics"))]

mod common;

use common::loom_model::{bare_registry, model};

use loom::thread;
use perf_instrument::MetricsRecorder;

#[test]
fn racing_updates_of_one_facade_cell_lose_nothing() {
    model(|| {
        let registry = bare_registry();
        let recorder = MetricsRecorder::new(&registry);
        let (counter, gauge) = metrics::with_local_recorder(&recorder, || {
            (metrics::counter!("jobs"), metrics::gauge!("level"))
        });
        // Each thread increments the counter, raises it with `absolute`, and moves the gauge
        // (a CAS loop on the f64 bits).
        let racers: Vec<_> = [(1u64, 5u64, 1.0f64), (2, 3, 2.0)]
            .into_iter()
            .map(|(inc, absolute, add)| {
                let (c, g) = (counter.clone(), gauge.clone());
                thread::spawn(move || {
                    c.increment(inc);
                    c.absolute(absolute);
                    g.increment(add);
                })
            })
            .collect();
        for r in racers {
            r.join().unwrap();
        }
        let snapshot = registry.snapshot();
        // Increments 1 + 2, plus the largest absolute value (5) however the two interleave.
        assert_eq!(snapshot.value("jobs", &[]), Some(8.0));
        assert_eq!(snapshot.value("level", &[]), Some(3.0));
    });
}
