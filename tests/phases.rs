//! Phased load: a baseline → burst → recovery run shows the burst in its per-phase figures and
//! reports the recovery time; a saturation sweep finds the knee of a pool of known capacity.
#![cfg(feature = "load")]

use perf_instrument::load::{recovery_seconds, LoadDriver, Phase, Plan, Rate, RunRecord};
use perf_instrument::Registry;
use std::time::Duration;

fn driver(threads: usize) -> LoadDriver {
    LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO).threads(threads)
}

#[test]
fn burst_shows_in_its_phase_and_recovery_time_is_reported() {
    // One worker, 2 ms per call: capacity 500/s. The burst offers 1,500/s for 300 ms, so a
    // backlog builds that the recovery phase drains.
    let plan = Plan::new(vec![
        Phase::warm_up(100.0, Duration::from_millis(300)),
        Phase::constant("baseline", 100.0, Duration::from_secs(1)),
        Phase::burst(1_500.0, Duration::from_millis(300)),
        Phase::recovery(100.0, Duration::from_secs(2)),
    ])
    .unwrap()
    .with_interval(Duration::from_millis(100))
    .unwrap();
    let registry = Registry::new();
    let result = driver(1)
        .run_plan_in(&plan, &registry, |call| {
            std::thread::sleep(Duration::from_millis(2));
            if call.index % 50 == 0 {
                Err("rejected")
            } else {
                Ok(())
            }
        })
        .unwrap();
    println!("{result}");
    let base = result.phase("baseline").unwrap();
    let burst = result.phase("burst").unwrap();
    let recovery = result.phase("recovery").unwrap();
    let p95 = |p: &perf_instrument::load::PhaseRecord| p.latency.quantile(0.95).unwrap();
    assert!(
        p95(burst) > 2.0 * p95(base),
        "{} vs {}",
        p95(burst),
        p95(base)
    );
    let reference = base.latency.quantile(0.99).unwrap();
    let back = recovery_seconds(recovery, reference, 0.10);
    println!("recovery: {back:?} s");
    assert!(back.is_some(), "never recovered");
    assert!(!result.phases[0].in_verdict);
    assert!(base.errors["rejected"] > 0);
    let record = result.into_record(RunRecord::new());
    assert!((record.seconds - 3.3).abs() < 1e-9);
    let snapshot = registry.snapshot();
    let total: u64 = record.phases.iter().map(|p| p.completed).sum();
    assert_eq!(
        snapshot
            .histogram("load_latency_seconds", &[("operation", "call")])
            .unwrap()
            .count(),
        total
    );
    let back = RunRecord::from_json(&record.to_json()).unwrap();
    assert_eq!(back.phases, record.phases);
}

/// A worker busy for `d` per call, on a schedule of its own: each call ends `d` after the
/// previous one's planned end (or `d` after it starts, when the worker was idle), so a sleep
/// that overshoots on a busy machine is made up by the next call and the capacity stays exactly
/// one call per `d`.
fn serve_for(d: Duration) {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local!(static FREE_AT: Cell<Option<Instant>> = const { Cell::new(None) });
    let now = Instant::now();
    let end = FREE_AT.with(|f| {
        let end = f.get().map_or(now, |t| t.max(now)) + d;
        f.set(Some(end));
        end
    });
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
}

#[test]
fn sweep_finds_the_knee_of_a_pool_within_ten_percent() {
    // Two workers, 10 ms per call: capacity 200/s.
    let rates: Vec<f64> = (0..=10).map(|i| 150.0 + 10.0 * f64::from(i)).collect();
    let sweep = driver(2).sweep(
        &rates,
        Duration::from_secs(1),
        Duration::from_millis(100),
        |_| {
            serve_for(Duration::from_millis(10));
            Ok::<(), String>(())
        },
    );
    println!("{sweep}");
    let knee = sweep.knee.expect("a knee");
    assert!((180.0..=220.0).contains(&knee), "knee {knee}");
}

#[test]
fn registry_rows_of_a_record_leave_the_warm_up_out() {
    use perf_instrument::Pipeline;
    let registry = Registry::new();
    let pipeline = Pipeline::builder("orders")
        .stages(["work"])
        .build(&registry)
        .unwrap();
    let work = pipeline.stage("work").unwrap();
    let plan = Plan::new(vec![
        Phase::warm_up(200.0, Duration::from_millis(200)),
        Phase::constant("steady", 200.0, Duration::from_millis(300)),
    ])
    .unwrap();
    let result = driver(1)
        .run_plan_in(&plan, &registry, |_| {
            let mut event = pipeline.begin();
            pipeline.time_stage(&mut event, work, || ());
            pipeline.finish(event);
            Ok::<(), String>(())
        })
        .unwrap();
    let start = result
        .verdict_start
        .clone()
        .expect("a snapshot at the end of the warm-up");
    let end = registry.snapshot();
    let whole = RunRecord::new().with_registry(&end);
    let verdict = RunRecord::new().with_registry_between(&start, &end);
    let count = |r: &RunRecord| {
        r.rows
            .iter()
            .find(|row| row.key() == "stages: orders/work")
            .unwrap()
            .histogram
            .count
    };
    let (warm, steady) = (result.phases[0].completed, result.phases[1].completed);
    assert_eq!(count(&whole), warm + steady);
    // Warm-up calls still running when the snapshot was taken may end in the window: one at most
    // with one worker.
    assert!(count(&verdict) >= steady && count(&verdict) <= steady + 1);
    assert!(count(&verdict) < count(&whole));
    // Without a warm-up there is nothing to leave out.
    let plain = Plan::new(vec![Phase::constant("a", 100.0, Duration::from_millis(50))]).unwrap();
    let r = driver(1)
        .run_plan_in(&plain, &Registry::new(), |_| Ok::<(), String>(()))
        .unwrap();
    assert!(r.verdict_start.is_none());
}
