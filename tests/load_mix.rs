//! A weighted operation mix: calls are given operations in exact proportion, each operation
//! keeps its own latency, throughput and errors (in the record, the comparison and the live
//! registry), and the live achieved rate follows the load.
#![cfg(feature = "load")]

use perf_instrument::load::{
    compare, Judgement, LoadDriver, Mix, Phase, Plan, PlanError, Rate, RunRecord,
};
use perf_instrument::Registry;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

fn driver() -> LoadDriver {
    LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
        .threads(2)
        .queue(100_000)
}

fn mix() -> Mix {
    Mix::new([("read", 60), ("write", 25), ("scan", 15)]).unwrap()
}

/// Reads take 0, writes 1 ms, scans 3 ms; every tenth scan fails.
fn service(call: perf_instrument::load::Call) -> Result<(), &'static str> {
    match call.operation {
        0 => Ok(()),
        1 => {
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        }
        _ => {
            std::thread::sleep(Duration::from_millis(3));
            if call.index.is_multiple_of(10) {
                Err("scan failed")
            } else {
                Ok(())
            }
        }
    }
}

#[test]
fn a_60_25_15_mix_keeps_exact_proportions_and_figures_per_operation() {
    let plan = Plan::new(vec![Phase::constant(
        "steady",
        400.0,
        Duration::from_millis(500),
    )])
    .unwrap()
    .with_mix(mix());
    let result = driver().run_plan(&plan, service);
    let phase = result.phase("steady").unwrap();
    assert_eq!(phase.dropped, 0, "the queue is large enough for every call");
    let ops = &phase.operations;
    assert_eq!(
        ops.keys().map(String::as_str).collect::<Vec<_>>(),
        ["read", "scan", "write"]
    );
    let total: u64 = ops.values().map(|o| o.completed).sum();
    assert_eq!(total, phase.completed);
    // Smooth weighted round robin: every 100 consecutive calls hold exactly 60/25/15, so the
    // counts are within one cycle's share of exact.
    for (name, weight) in [("read", 60u64), ("write", 25), ("scan", 15)] {
        let expected = total * weight / 100;
        let got = ops[name].completed;
        assert!(
            got.abs_diff(expected) <= weight,
            "{name}: {got} vs {expected}"
        );
    }
    // Errors belong to the operation that failed, and to the phase.
    assert_eq!(ops["read"].errors + ops["write"].errors, 0);
    assert!(ops["scan"].errors > 0);
    assert_eq!(ops["scan"].errors, phase.error_count());
    // Latency per operation: scans (3 ms) are slower than writes (1 ms), writes than reads.
    let p50 = |name: &str| ops[name].service_time.quantile(0.5).unwrap();
    assert!(p50("scan") > p50("write") && p50("write") > p50("read"));
    assert!(p50("scan") >= 0.003 * 0.95);
    // Throughput per operation is its share of the phase's.
    let tput = ops["read"].throughput(phase.seconds);
    assert!((tput - 0.6 * phase.completed as f64 / phase.seconds).abs() <= 60.0 / phase.seconds);
}

#[test]
fn operations_survive_the_record_and_become_comparison_rows() {
    let plan = Plan::new(vec![Phase::constant(
        "steady",
        300.0,
        Duration::from_millis(300),
    )])
    .unwrap()
    .with_mix(mix());
    let record = |_: u32| {
        driver()
            .run_plan(&plan, service)
            .into_record(RunRecord::new())
    };
    let (a, b) = (record(0), record(1));
    let back = RunRecord::from_json(&a.to_json()).unwrap();
    assert_eq!(back.phases[0].operations, a.phases[0].operations);
    let c = compare(&[a], &[b]).unwrap();
    for name in [
        "read latency",
        "write latency",
        "scan latency",
        "scan service time",
    ] {
        let row = c
            .row("load", name)
            .unwrap_or_else(|| panic!("no row {name}"));
        assert!(row.old.throughput.unwrap() > 0.0);
        assert_ne!(row.judgement, Judgement::NotCompared, "{name}");
    }
    assert!(
        c.row("load", "scan latency")
            .unwrap()
            .old
            .error_rate
            .unwrap()
            > 0.0
    );
}

#[test]
fn a_record_without_operations_reads_as_before() {
    let plan = Plan::new(vec![Phase::constant("a", 100.0, Duration::from_millis(50))]).unwrap();
    let record = driver()
        .run_plan(&plan, service)
        .into_record(RunRecord::new());
    let json = record.to_json();
    assert!(!json.contains("\"operations\""));
    assert!(RunRecord::from_json(&json).unwrap().phases[0]
        .operations
        .is_empty());
}

#[test]
fn bad_mixes_are_refused_with_a_reason() {
    assert_eq!(
        Mix::new(Vec::<(&str, u32)>::new()),
        Err(PlanError::EmptyMix)
    );
    assert!(matches!(
        Mix::new([("", 1)]),
        Err(PlanError::BadOperation { .. })
    ));
    assert!(matches!(
        Mix::new([("a", 0)]),
        Err(PlanError::BadOperation { .. })
    ));
    let many: Vec<(String, u32)> = (0..40).map(|i| (format!("op{i}"), 1)).collect();
    assert!(matches!(
        Mix::new(many),
        Err(PlanError::TooManyOperations { .. })
    ));
}

#[test]
fn live_figures_show_each_operation_and_the_achieved_rate() {
    let registry = Registry::new();
    let plan = Plan::new(vec![Phase::constant(
        "steady",
        400.0,
        Duration::from_secs(1),
    )])
    .unwrap()
    .with_interval(Duration::from_millis(100))
    .unwrap()
    .with_mix(mix());
    let (running, seen) = (AtomicBool::new(true), AtomicI64::new(0));
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            while running.load(Ordering::Relaxed) {
                if let Some(v) = registry.snapshot().value("load_achieved_rate", &[]) {
                    seen.fetch_max(v as i64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let r = driver().run_plan_in(&plan, &registry, service).unwrap();
        running.store(false, Ordering::Relaxed);
        r
    });
    let phase = result.phase("steady").unwrap();
    assert!(
        seen.load(Ordering::Relaxed) > 0,
        "the achieved rate was never above 0"
    );
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.value("load_achieved_rate", &[]), Some(0.0));
    for (name, op) in &phase.operations {
        let live = snapshot
            .histogram("load_latency_seconds", &[("operation", name)])
            .unwrap();
        assert_eq!(live.count(), op.completed, "{name}");
        let ok = snapshot
            .value("load_calls", &[("operation", name), ("outcome", "ok")])
            .unwrap_or(0.0);
        let failed = snapshot
            .value("load_calls", &[("operation", name), ("outcome", "error")])
            .unwrap_or(0.0);
        assert_eq!((ok + failed) as u64, op.completed, "{name}");
    }
}
