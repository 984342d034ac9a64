//! Lock-order tracking: an AB/BA pair (and a longer cycle) is reported once, with the call
//! sites of both orders, without ever deadlocking; consistent orders report nothing.
#![cfg(not(perf_instrument_loom))]

use perf_instrument::{FindingKind, Mutex, Registry, Report, RwLock};
use std::sync::Mutex as StdMutex;

fn registry() -> Registry {
    Registry::builder().process_metrics(false).build().unwrap()
}

fn tracked(registry: &Registry, name: &str) -> Mutex<u32> {
    Mutex::builder(name)
        .track_order(true)
        .build(0, registry)
        .unwrap()
}

fn cycles(report: &Report) -> Vec<&perf_instrument::Finding> {
    report
        .findings()
        .iter()
        .filter(|f| f.kind == FindingKind::LockOrderCycle)
        .collect()
}

fn text(registry: &Registry) -> String {
    String::from_utf8(perf_instrument::render(registry, None).1).unwrap()
}

fn site(line: u32) -> String {
    format!("{}:{line}", file!())
}

#[test]
fn an_ab_ba_pair_on_two_threads_is_reported_once_with_both_call_sites() {
    let registry = registry();
    let (a, b) = (tracked(&registry, "ab_a"), tracked(&registry, "ab_b"));
    let lines = StdMutex::new(Vec::new());
    // Sequenced: the second thread starts after the first ends, so nothing can deadlock.
    std::thread::scope(|s| {
        s.spawn(|| {
            let ga = a.lock();
            let l1 = line!() - 1;
            let gb = b.lock();
            let l2 = line!() - 1;
            lines.lock().unwrap().extend([l1, l2]);
            drop((gb, ga));
        });
    });
    assert!(cycles(&Report::from_registry(&registry)).is_empty());
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..3 {
                let gb = b.lock();
                let l3 = line!() - 1;
                let ga = a.lock();
                let l4 = line!() - 1;
                lines.lock().unwrap().extend([l3, l4]);
                drop((ga, gb));
            }
        });
    });
    let lines = lines.into_inner().unwrap();
    let report = Report::from_registry(&registry);
    let found = cycles(&report);
    assert_eq!(found.len(), 1, "{report}");
    let f = found[0];
    assert_eq!(f.subject, "ab_a -> ab_b -> ab_a");
    assert_eq!(f.severity, perf_instrument::Severity::Critical);
    assert_eq!(
        f.evidence,
        [
            format!(
                "ab_a held (taken at {}) while taking ab_b at {}",
                site(lines[0]),
                site(lines[1])
            ),
            format!(
                "ab_b held (taken at {}) while taking ab_a at {}",
                site(lines[2]),
                site(lines[3])
            ),
        ]
    );
    let text = text(&registry);
    assert!(
        text.contains("lock_order_cycles_total{cycle=\"ab_a -> ab_b -> ab_a\"} 1"),
        "reported once although the BA order ran three times:\n{text}"
    );
}

#[test]
fn consistent_orders_report_nothing() {
    let registry = registry();
    let (a, b, c) = (
        tracked(&registry, "ok_a"),
        tracked(&registry, "ok_b"),
        tracked(&registry, "ok_c"),
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    let ga = a.lock();
                    let gb = b.lock();
                    let gc = c.lock();
                    drop((gc, gb, ga));
                    // Skipping a lock keeps the order consistent.
                    let ga = a.lock();
                    let gc = c.lock();
                    drop((gc, ga));
                    // Taken one at a time: no order at all.
                    drop(c.lock());
                    drop(a.lock());
                }
            });
        }
    });
    let report = Report::from_registry(&registry);
    assert!(cycles(&report).is_empty(), "{report}");
    assert!(!text(&registry).contains("lock_order_cycles_total{"));
}

#[test]
fn a_three_lock_cycle_across_three_threads_is_reported() {
    let registry = registry();
    let (a, b, c) = (
        tracked(&registry, "tri_a"),
        tracked(&registry, "tri_b"),
        tracked(&registry, "tri_c"),
    );
    for (first, second) in [(&a, &b), (&b, &c), (&c, &a)] {
        std::thread::scope(|s| {
            s.spawn(|| {
                let g1 = first.lock();
                let g2 = second.lock();
                drop((g2, g1));
            });
        });
    }
    let report = Report::from_registry(&registry);
    let found = cycles(&report);
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0].subject, "tri_a -> tri_b -> tri_c -> tri_a");
    assert_eq!(found[0].evidence.len(), 3);
}

#[test]
fn read_locks_count_and_untracked_locks_do_not() {
    let registry = registry();
    let meta = RwLock::builder("rw_meta")
        .track_order(true)
        .build(0u8, &registry)
        .unwrap();
    let wal = tracked(&registry, "rw_wal");
    let plain = Mutex::new(&registry, "rw_plain", 0u8).unwrap();
    {
        let r = meta.read();
        let w = wal.lock();
        let p = plain.lock();
        drop((p, w, r));
    }
    {
        let p = plain.lock();
        let w = wal.lock();
        let r = meta.write();
        drop((r, w, p));
    }
    let report = Report::from_registry(&registry);
    let found = cycles(&report);
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0].subject, "rw_meta -> rw_wal -> rw_meta");
}

#[test]
fn a_guard_dropped_on_another_thread_leaves_no_phantom_order() {
    let registry = registry();
    let (a, b) = (tracked(&registry, "moved_a"), tracked(&registry, "moved_b"));
    std::thread::scope(|s| {
        let ga = a.lock();
        // The guard of `a` is released by another thread.
        s.spawn(move || drop(ga)).join().unwrap();
        // This thread no longer holds `a`: taking `b` then `a` draws no a -> b order.
        let gb = b.lock();
        let ga = a.lock();
        drop((ga, gb));
    });
    let report = Report::from_registry(&registry);
    assert!(cycles(&report).is_empty(), "{report}");
}
