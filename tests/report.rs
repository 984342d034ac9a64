//! Report findings fire when they should, and only then; tables and JSON hold what was recorded.
#![cfg(not(perf_instrument_loom))]

use perf_instrument::lock::LockWatchdog;
use perf_instrument::{
    sort_findings, Clock, Finding, FindingKind, Mutex, Opts, PendingTracker, Pipeline, QueueProbe,
    Registry, Report, SagaTracker, Severity, Threshold,
};
use std::sync::Arc;
use std::time::Duration;

fn registry() -> Registry {
    Registry::builder().process_metrics(false).build().unwrap()
}

fn kinds(report: &Report) -> Vec<FindingKind> {
    report.findings().iter().map(|f| f.kind).collect()
}

fn finding(report: &Report, kind: FindingKind) -> &perf_instrument::Finding {
    report
        .findings()
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in\n{report}"))
}

#[test]
fn an_idle_registry_has_no_findings_and_no_tables() {
    let report = Report::from_registry(&registry());
    assert!(report.findings().is_empty(), "{report}");
    assert!(report.tables().is_empty());
    assert!(report.to_string().contains("findings: none"));
}

/// A pipeline where `slow` takes `slow_ms` and the other stages 1 ms each.
fn pipeline_report(stages: &[&str], slow: &str, slow_ms: u64) -> Report {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let p = Pipeline::builder("orders")
        .stages(stages.iter().copied())
        .clock(clock)
        .build(&registry)
        .unwrap();
    for _ in 0..50 {
        let mut event = p.begin();
        for name in stages {
            let ms = if *name == slow { slow_ms } else { 1 };
            p.time_stage(&mut event, p.stage(name).unwrap(), || {
                hand.advance(Duration::from_millis(ms))
            });
        }
        p.finish(event);
    }
    Report::from_registry(&registry)
}

#[test]
fn the_stage_with_the_largest_share_is_named_and_an_even_pipeline_is_not() {
    let stages = ["enrich", "persist", "view_update", "publish", "complete"];
    let report = pipeline_report(&stages, "persist", 20);
    let f = finding(&report, FindingKind::BottleneckStage);
    assert_eq!(f.subject, "orders/persist");
    assert!(f.summary.contains("83.3%"), "20 of 24 ms: {}", f.summary);
    assert!(
        f.evidence.iter().any(|e| e.contains("20.00ms of 24.00ms")),
        "{:?}",
        f.evidence
    );
    let rows = report.table("stages").unwrap();
    assert!(rows
        .iter()
        .any(|r| r.name == "orders/persist" && r.count == 50));
    assert!(rows.iter().any(|r| r.name == "orders/end_to_end"));

    let even = pipeline_report(&stages, "none", 0);
    assert!(
        !kinds(&even).contains(&FindingKind::BottleneckStage),
        "{even}"
    );
}

#[test]
fn a_growing_queue_is_found_over_a_window_and_a_steady_one_is_not() {
    let registry = registry();
    let growing = QueueProbe::new(&registry, "ingest").unwrap();
    let steady = QueueProbe::new(&registry, "emails").unwrap();
    let before = registry.snapshot();
    for _ in 0..100 {
        let _ = growing.submit();
        steady.pickup(steady.submit());
    }
    let after = registry.snapshot();
    let report = Report::between(&before, &after);
    let f = finding(&report, FindingKind::GrowingQueue);
    assert_eq!(f.subject, "ingest");
    assert!(
        f.evidence[0].starts_with("depth 0 -> 100 (+100"),
        "{:?}",
        f.evidence
    );
    assert_eq!(
        report
            .findings()
            .iter()
            .filter(|f| f.kind == FindingKind::GrowingQueue)
            .count(),
        1,
        "not the steady queue: {report}"
    );
    // A cumulative report has no window to see growth in.
    assert!(!kinds(&Report::from_snapshot(&after)).contains(&FindingKind::GrowingQueue));
}

#[test]
fn a_full_queue_whose_wait_grows_is_found_and_one_with_a_steady_wait_is_not() {
    // Both queues hold 10 items throughout (depth does not grow): one item in, one out, every
    // step. Each has its own clock. Before the window a step takes 0.1 ms on both, so items
    // wait 1 ms; in the window `orders` steps take 1 ms (items wait up to 10 ms) while
    // `emails` steps still take 0.1 ms.
    let registry = registry();
    let queue = |name: &str| {
        let (clock, hand) = Clock::manual();
        let probe = QueueProbe::builder(name)
            .clock(clock)
            .build(&registry)
            .unwrap();
        let queued: Vec<_> = (0..10).map(|_| probe.submit()).collect();
        (probe, hand, queued)
    };
    let (mut orders, mut emails) = (queue("orders"), queue("emails"));
    let step = |(probe, hand, queued): &mut (QueueProbe, perf_instrument::ManualClock, Vec<_>),
                micros: u64| {
        for _ in 0..50 {
            hand.advance(Duration::from_micros(micros));
            probe.pickup(queued.remove(0));
            queued.push(probe.submit());
        }
    };
    step(&mut orders, 100);
    step(&mut emails, 100);
    let before = registry.snapshot();
    step(&mut orders, 1_000);
    step(&mut emails, 100);
    let report = Report::between(&before, &registry.snapshot());
    let growing: Vec<_> = report
        .findings()
        .iter()
        .filter(|f| f.kind == FindingKind::GrowingQueue)
        .collect();
    assert_eq!(growing.len(), 1, "{report}");
    assert_eq!(growing[0].subject, "orders");
    assert!(
        growing[0].evidence[0].starts_with("wait p99 "),
        "{:?}",
        growing[0].evidence
    );
    assert!(growing[0].summary.contains("wait longer"), "{report}");
}

#[test]
fn the_most_contended_lock_is_named_with_its_call_sites() {
    let registry = registry();
    let hot = Arc::new(Mutex::builder("raft_node").build(0u64, &registry).unwrap());
    let _cold = Mutex::builder("config").build((), &registry).unwrap();
    let before = registry.snapshot();
    let held = hot.lock();
    let waiters: Vec<_> = (0..12)
        .map(|_| {
            let hot = hot.clone();
            std::thread::spawn(move || *hot.lock() += 1)
        })
        .collect();
    // Release once every waiter has found the lock taken (they count before blocking).
    let contended = || match &registry
        .snapshot()
        .family("lock_contended")
        .and_then(|f| f.series.iter().find(|s| &s.label_values[0] == "raft_node"))
        .map(|s| s.value.clone())
    {
        Some(perf_instrument::SeriesValue::Unsigned(n)) => *n,
        _ => 0,
    };
    for _ in 0..4_000 {
        if contended() >= 12 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(held);
    for w in waiters {
        w.join().unwrap();
    }
    let report = Report::between(&before, &registry.snapshot());
    let f = finding(&report, FindingKind::ContendedLock);
    assert_eq!(f.subject, "raft_node");
    assert!(
        f.evidence[0].starts_with("12 contended"),
        "{:?}",
        f.evidence
    );
    let line = |prefix: &str| {
        f.evidence
            .iter()
            .find(|e| e.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", f.evidence))
            .clone()
    };
    let waiter = line("most waiting done at tests/report.rs:");
    let holder = line("most waiting caused by the holder at tests/report.rs:");
    assert!(waiter.ends_with("over 12 waits"), "{waiter}");
    assert!(holder.ends_with("over 12 waits"), "{holder}");

    let quiet = registry.snapshot();
    *hot.lock() += 1;
    assert!(!kinds(&Report::between(&quiet, &registry.snapshot()))
        .contains(&FindingKind::ContendedLock));
}

#[test]
fn a_long_hold_is_reported_once_the_watchdog_saw_it() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let wal = Mutex::builder("report_wal")
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .build((), &registry)
        .unwrap();
    let held = wal.lock();
    hand.advance(Duration::from_millis(500));
    let _ = LockWatchdog::scan();
    assert!(!kinds(&Report::from_registry(&registry)).contains(&FindingKind::LongLockHold));
    hand.advance(Duration::from_secs(2));
    let _ = LockWatchdog::scan();
    let report = Report::from_registry(&registry);
    let f = finding(&report, FindingKind::LongLockHold);
    assert_eq!(f.subject, "report_wal");
    assert!(
        f.evidence.iter().any(|e| e == "held right now for 2.50s"),
        "{:?}",
        f.evidence
    );
    assert_eq!(
        f.threshold.value, "1.00s",
        "the lock's own watchdog threshold"
    );
    assert!(f.threshold.set_by.contains("watchdog"));
    let site = format!("{}:", file!());
    assert!(f.summary.contains(&site), "{}", f.summary);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with(&format!("held by {site}"))),
        "{:?}",
        f.evidence
    );
    drop(held);
}

#[test]
fn stuck_sagas_and_a_low_completion_ratio_are_found() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let orders = SagaTracker::builder("order")
        .steps(["reserve", "charge", "ship"])
        .deadline(Duration::from_secs(600))
        .stuck_after(Duration::from_secs(30))
        .clock(clock)
        .build(&registry)
        .unwrap();
    let reserve = orders.step("reserve").unwrap();
    let reason = orders
        .failure_reason("declined")
        .unwrap_or(perf_instrument::saga::SagaFailureReason::OTHER);
    for id in 0..30u64 {
        orders.start(id);
        orders.step_started(id, reserve);
        orders.step_completed(id, reserve);
        if id < 20 {
            orders.completed(id);
        } else if id < 28 {
            orders.failed(id, reason);
        }
        // 28 and 29 stay active.
    }
    hand.advance(Duration::from_secs(10));
    orders.sweep();
    let early = Report::from_registry(&registry);
    assert!(
        !kinds(&early).contains(&FindingKind::StuckSagas),
        "not stuck yet: {early}"
    );
    hand.advance(Duration::from_secs(60));
    orders.sweep();
    let report = Report::from_registry(&registry);
    let stuck = finding(&report, FindingKind::StuckSagas);
    assert_eq!(stuck.subject, "order");
    assert!(
        stuck.summary.starts_with("2 order saga(s) stuck"),
        "{}",
        stuck.summary
    );
    let low = finding(&report, FindingKind::LowSagaCompletion);
    assert!(low.summary.contains("71.4%"), "20 of 28: {}", low.summary);
    assert!(report
        .table("sagas")
        .unwrap()
        .iter()
        .any(|r| r.name == "order/completed" && r.count == 20));

    // All completed: no completion finding.
    let healthy = Registry::builder().process_metrics(false).build().unwrap();
    let ok = SagaTracker::builder("payment")
        .steps(["a"])
        .build(&healthy)
        .unwrap();
    for id in 0..25u64 {
        ok.start(id);
        ok.completed(id);
    }
    assert!(!kinds(&Report::from_registry(&healthy)).contains(&FindingKind::LowSagaCompletion));
}

#[test]
fn orphans_are_found_by_reason() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let replies = PendingTracker::<u64>::builder("replies")
        .timeout(Duration::from_secs(1))
        .clock(clock)
        .build(&registry)
        .unwrap();
    let before = registry.snapshot();
    for id in 0..5 {
        replies.register(id);
    }
    replies.complete(&0);
    let calm = Report::between(&before, &registry.snapshot());
    assert!(!kinds(&calm).contains(&FindingKind::OrphanedPending));
    hand.advance(Duration::from_secs(2));
    replies.sweep();
    let report = Report::between(&before, &registry.snapshot());
    let f = finding(&report, FindingKind::OrphanedPending);
    assert_eq!(f.subject, "replies");
    assert!(
        f.evidence.iter().any(|e| e.starts_with("timeout: 4")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn background_panics_are_reported() {
    let registry = registry();
    // The family background threads count their panics in, as a synthetic snapshot.
    let panics = registry
        .register_counter(
            Opts::new("perf_instrument_background_panics", "Panics.").labels(["thread"]),
        )
        .unwrap();
    assert!(Report::from_registry(&registry).findings().is_empty());
    panics.with_label_values(&["pending-sweep-replies"]).inc();
    let report = Report::from_registry(&registry);
    assert_eq!(
        finding(&report, FindingKind::BackgroundPanics).subject,
        "pending-sweep-replies"
    );
}

#[test]
fn the_json_report_carries_tables_findings_machine_and_config() {
    let report = pipeline_report(&["a", "b"], "b", 9).with_config("rate", "400/s");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["config"]["rate"], "400/s");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert_eq!(json["machine"]["profile"], profile);
    assert_eq!(json["findings"][0]["kind"], "bottleneck_stage");
    assert_eq!(json["findings"][0]["subject"], "orders/b");
    assert_eq!(json["tables"][0]["title"], "stages");
    assert!(json["tables"][0]["rows"][0]["p99"].as_f64().unwrap() > 0.0);
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(!json["machine"]["clock_source"].as_str().unwrap().is_empty());
}

#[test]
fn findings_come_most_severe_first_in_a_mixed_report() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    // Info: a stage with most of the latency.
    let p = Pipeline::builder("orders")
        .stages(["enrich", "persist"])
        .clock(clock.clone())
        .build(&registry)
        .unwrap();
    // Warning: a growing queue and orphans.
    let ingest = QueueProbe::new(&registry, "ingest").unwrap();
    let replies = PendingTracker::<u64>::builder("replies")
        .timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build(&registry)
        .unwrap();
    // Critical: a lock held past its watchdog.
    let node = Mutex::builder("mixed_node")
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .build((), &registry)
        .unwrap();
    let before = registry.snapshot();
    for _ in 0..20 {
        let mut event = p.begin();
        p.time_stage(&mut event, p.stage("enrich").unwrap(), || {
            hand.advance(Duration::from_millis(1));
        });
        p.time_stage(&mut event, p.stage("persist").unwrap(), || {
            hand.advance(Duration::from_millis(9));
        });
        p.finish(event);
    }
    for i in 0..50 {
        let _ = ingest.submit();
        replies.register(i);
    }
    let held = node.lock();
    hand.advance(Duration::from_secs(2));
    let _ = LockWatchdog::scan();
    replies.sweep();
    let report = Report::between(&before, &registry.snapshot());
    assert_eq!(
        kinds(&report),
        [
            FindingKind::LongLockHold,
            FindingKind::GrowingQueue,
            FindingKind::OrphanedPending,
            FindingKind::BottleneckStage,
        ],
        "{report}"
    );
    let severities: Vec<Severity> = report.findings().iter().map(|f| f.severity).collect();
    assert_eq!(
        severities,
        [
            Severity::Critical,
            Severity::Warning,
            Severity::Warning,
            Severity::Info
        ]
    );
    for f in report.findings() {
        assert!(!f.threshold.value.is_empty() && !f.threshold.set_by.is_empty());
        assert!(!f.next_step.is_empty());
    }
    let text = report.to_string();
    let critical = text.find("CRITICAL [long_lock_hold]").unwrap();
    let info = text.find("INFO [bottleneck_stage]").unwrap();
    assert!(critical < info, "{text}");
    assert!(text.contains("threshold: 25.0% of end-to-end time (fixed by the report)"));
    let md = report.to_markdown();
    assert!(md.contains("1. **critical** `long_lock_hold`"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["findings"][0]["severity"], "critical");
    assert_eq!(json["findings"][0]["threshold"]["value"], "1.00s");
    assert_eq!(json["findings"][3]["kind"], "bottleneck_stage");
    drop(held);
}

#[test]
fn sort_findings_orders_by_severity_then_kind_then_subject() {
    let f = |kind: FindingKind, subject: &str| Finding {
        kind,
        severity: kind.severity(),
        subject: subject.to_string(),
        summary: String::new(),
        threshold: Threshold::new("1", "test"),
        evidence: Vec::new(),
        next_step: String::new(),
    };
    let mut findings = vec![
        f(FindingKind::BottleneckStage, "p/a"),
        f(FindingKind::OrphanedPending, "t"),
        f(FindingKind::ContendedLock, "b"),
        f(FindingKind::BackgroundPanics, "x"),
        f(FindingKind::GrowingQueue, "q2"),
        f(FindingKind::GrowingQueue, "q1"),
        f(FindingKind::StuckSagas, "s"),
    ];
    sort_findings(&mut findings);
    let order: Vec<(FindingKind, &str)> = findings
        .iter()
        .map(|f| (f.kind, f.subject.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (FindingKind::StuckSagas, "s"),
            (FindingKind::BackgroundPanics, "x"),
            (FindingKind::GrowingQueue, "q1"),
            (FindingKind::GrowingQueue, "q2"),
            (FindingKind::ContendedLock, "b"),
            (FindingKind::OrphanedPending, "t"),
            (FindingKind::BottleneckStage, "p/a"),
        ]
    );
}
