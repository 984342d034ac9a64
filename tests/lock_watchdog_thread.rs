//! The lock watchdog's own thread, in a binary of its own: `LockWatchdog::scan()` covers every
//! lock in the process and reports each long hold once, so a watchdog thread scanning every few
//! milliseconds would report — and take from their own scans — the stalls that tests running
//! beside it set up. Here one test runs alone: first its own scans, then the thread's.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use perf_instrument::lock::LockWatchdog;
use perf_instrument::{render_as, Clock, Format, Mutex, Registry};
use std::time::Duration;

fn scrape(registry: &Registry) -> Parsed {
    let text = String::from_utf8(render_as(registry, Format::PrometheusText)).unwrap();
    parse(&text, Dialect::Prometheus).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn held_too_long(registry: &Registry, lock: &str) -> f64 {
    scrape(registry)
        .get("lock_held_too_long_total")
        .and_then(|f| {
            f.samples
                .iter()
                .find(|s| s.label("lock") == Some(lock))
                .map(|s| s.value)
        })
        .unwrap_or(0.0)
}

#[test]
fn scans_name_the_holder_and_the_thread_reports_within_threshold_plus_a_scan_period() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let (clock, hand) = Clock::manual();
    let wal = Mutex::builder("wal_wd_thread")
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .build((), &registry)
        .unwrap();

    // Scans called here: nothing else in this process scans, so the stall is returned here.
    let held = wal.lock(); // the holder's site: this line
    let line = line!() - 1;
    hand.advance(Duration::from_millis(1_001));
    let stalls = LockWatchdog::scan();
    assert_eq!(stalls.len(), 1, "{stalls:?}");
    assert_eq!(stalls[0].lock, "wal_wd_thread");
    assert_eq!(
        stalls[0].site,
        format!("tests/lock_watchdog_thread.rs:{line}")
    );
    assert_eq!(stalls[0].held_for, Duration::from_millis(1_001));
    assert!(LockWatchdog::scan().is_empty(), "reported once per hold");
    drop(held);
    assert_eq!(held_too_long(&registry, "wal_wd_thread"), 1.0);

    // The thread, scanning every 5 ms.
    let watchdog = LockWatchdog::start(&registry, Duration::from_millis(5)).unwrap();
    let held = wal.lock();
    std::thread::sleep(Duration::from_millis(50)); // several scans, all below the threshold
    assert_eq!(held_too_long(&registry, "wal_wd_thread"), 1.0);
    hand.advance(Duration::from_millis(1_001));
    for _ in 0..2_000 {
        if held_too_long(&registry, "wal_wd_thread") > 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(held_too_long(&registry, "wal_wd_thread"), 2.0);
    drop(held);
    watchdog.stop();
}
