//! Utilisation and the throughput-bottleneck finding: a pool of workers driven above its
//! capacity is named; a slower stage with spare capacity is not.
#![cfg(not(perf_instrument_loom))]

use perf_instrument::{FindingKind, Pipeline, QueueProbe, Registry, Report};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn a_saturated_pool_with_a_growing_queue_is_named_and_a_slower_idle_stage_is_not() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let p = Pipeline::builder("ingest")
        .stages(["parse", "store"])
        .workers("parse", 2)
        .input_queue("parse", "parse_in")
        .input_queue("store", "store_in")
        .build(&registry)
        .unwrap();
    let parse_in = QueueProbe::new(&registry, "parse_in").unwrap();
    let store_in = QueueProbe::new(&registry, "store_in").unwrap();
    let (parse_tx, parse_rx) = crossbeam_channel::unbounded();
    let (store_tx, store_rx) = crossbeam_channel::unbounded();
    let stop = AtomicBool::new(false);
    let mut report = None;
    std::thread::scope(|s| {
        // Parse: 2 workers, 4 ms an item (capacity 500/s), offered about 1,500/s.
        for _ in 0..2 {
            let rx = parse_rx.clone();
            let (p, q, stop) = (&p, &parse_in, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(stamp) = rx.recv_timeout(Duration::from_millis(10)) else {
                        continue;
                    };
                    q.pickup(stamp);
                    let mut event = p.begin();
                    p.time_stage(&mut event, p.stage("parse").unwrap(), || {
                        std::thread::sleep(Duration::from_millis(4));
                    });
                    p.finish(event);
                }
            });
        }
        // Store: 1 worker, 10 ms an item (slower), offered 25/s (a quarter of its capacity).
        {
            let (p, q, stop) = (&p, &store_in, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(stamp) = store_rx.recv_timeout(Duration::from_millis(10)) else {
                        continue;
                    };
                    q.pickup(stamp);
                    let mut event = p.begin();
                    p.time_stage(&mut event, p.stage("store").unwrap(), || {
                        std::thread::sleep(Duration::from_millis(10));
                    });
                    p.finish(event);
                }
            });
        }
        let (parse_in, store_in, stop) = (&parse_in, &store_in, &stop);
        s.spawn(move || {
            let mut tick = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..3 {
                    let _ = parse_tx.send(parse_in.submit());
                }
                if tick.is_multiple_of(20) {
                    let _ = store_tx.send(store_in.submit());
                }
                tick += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let before = registry.snapshot();
        std::thread::sleep(Duration::from_millis(500));
        report = Some(Report::between(&before, &registry.snapshot()));
        stop.store(true, Ordering::Relaxed);
    });
    let report = report.unwrap();
    let named: Vec<&str> = report
        .findings()
        .iter()
        .filter(|f| f.kind == FindingKind::ThroughputBottleneck)
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(named, ["ingest/parse"], "{report}");
    let by = |subject: &str| {
        report
            .utilisation()
            .iter()
            .find(|u| u.subject == subject)
            .unwrap()
    };
    let (parse, store) = (by("ingest/parse"), by("ingest/store"));
    assert_eq!((parse.workers, store.workers), (2, 1));
    assert!(parse.utilisation.unwrap() >= 0.9, "{report}");
    assert!(store.utilisation.unwrap() < 0.9, "{report}");
    assert!(parse.queue_growth().unwrap() >= 5.0, "{report}");
    let f = report
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::ThroughputBottleneck)
        .unwrap();
    assert!(
        f.evidence[1].starts_with("input queue parse_in: depth"),
        "{:?}",
        f.evidence
    );
    assert!(f.threshold.value.starts_with("utilisation >= 90.0%"));
    assert!(report
        .to_string()
        .contains("utilisation (busy time / wall time x workers):"));
}

#[test]
fn workers_for_an_unknown_stage_or_zero_workers_are_refused() {
    let registry = Registry::new();
    let err = Pipeline::builder("x")
        .stages(["a"])
        .workers("b", 2)
        .build(&registry)
        .unwrap_err();
    assert!(matches!(
        err,
        perf_instrument::RegistryError::UnknownStage { .. }
    ));
    let err = Pipeline::builder("y")
        .stages(["a"])
        .workers("a", 0)
        .build(&registry)
        .unwrap_err();
    assert_eq!(
        err,
        perf_instrument::RegistryError::ZeroSetting { setting: "workers" }
    );
}
