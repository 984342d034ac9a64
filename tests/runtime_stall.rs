//! The runtime stall probe: a blocking call inside a task stalls a one-thread runtime, and
//! the stall finding reports it with its length.
#![cfg(all(feature = "tokio", not(perf_instrument_loom)))]

use perf_instrument::{FindingKind, Registry, Report, RuntimeStallProbe};
use std::time::{Duration, Instant};

fn stall_on(rt: &tokio::runtime::Runtime, name: &str, blocked: Duration) -> (Report, Duration) {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let probe = RuntimeStallProbe::builder(name)
        .interval(Duration::from_millis(2))
        .threshold(Duration::from_millis(100))
        .start(rt.handle(), &registry)
        .unwrap();
    let before = registry.snapshot();
    rt.block_on(async {
        // Let a few probes through first: no stall.
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_millis(50) {
            tokio::task::yield_now().await;
        }
        // The blocking call: nothing else runs on this runtime meanwhile.
        tokio::spawn(async move { std::thread::sleep(blocked) })
            .await
            .unwrap();
        // Keep the runtime polling until the probe has been run.
        let deadline = Instant::now() + Duration::from_secs(5);
        while probe.stalls() == 0 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
    });
    let measured = probe.longest_stall().expect("a stall");
    eprintln!("{name}: blocked {blocked:?}, stall measured {measured:?}");
    let report = Report::between(&before, &registry.snapshot());
    drop(probe);
    (report, measured)
}

#[test]
fn a_blocking_call_on_a_current_thread_runtime_is_a_stall_of_its_length() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let blocked = Duration::from_millis(400);
    let (report, measured) = stall_on(&rt, "current", blocked);
    let error = measured.as_secs_f64() / blocked.as_secs_f64() - 1.0;
    assert!(
        error.abs() <= 0.10,
        "measured {measured:?} for a {blocked:?} block"
    );
    let f = report
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::RuntimeStall)
        .unwrap_or_else(|| panic!("no stall finding in\n{report}"));
    assert_eq!(f.subject, "current");
    assert_eq!(f.threshold.value, "100.00ms");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("last stall: ") && e.contains("from unix time")),
        "{:?}",
        f.evidence
    );
    assert!(report.table("runtime scheduling delay").is_some());
}

#[test]
fn a_blocking_call_on_a_one_worker_runtime_is_a_stall_of_its_length() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let blocked = Duration::from_millis(300);
    let (report, measured) = stall_on(&rt, "one_worker", blocked);
    let error = measured.as_secs_f64() / blocked.as_secs_f64() - 1.0;
    assert!(
        error.abs() <= 0.10,
        "measured {measured:?} for a {blocked:?} block"
    );
    assert!(report
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::RuntimeStall && f.subject == "one_worker"));
}

#[test]
fn a_runtime_that_keeps_polling_has_no_stall() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let probe = RuntimeStallProbe::builder("calm")
        .interval(Duration::from_millis(2))
        .threshold(Duration::from_millis(200))
        .start(rt.handle(), &registry)
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(probe.stalls(), 0);
    let report = Report::from_registry(&registry);
    assert!(!report
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::RuntimeStall));
    assert!(
        report.table("runtime scheduling delay").is_some(),
        "{report}"
    );
}
