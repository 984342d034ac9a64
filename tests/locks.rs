//! Instrumented locks, contention by call site, and the lock watchdog.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape, value};
use perf_instrument::lock::{LockWatchdog, Mutex, RwLock};
use perf_instrument::{Clock, Registry};
use std::future::Future;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

#[test]
fn contention_is_counted_and_attributed_to_waiter_and_holder_sites() {
    let registry = registry();
    let lock = Arc::new(
        Mutex::builder("metadata")
            .hold_timing(true)
            .build(0u64, &registry)
            .unwrap(),
    );
    let held = lock.lock(); // the holder's site: this line
    let waiter = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            *lock.lock() += 1; // the waiter's site: this line
        })
    };
    // Release only once the waiter has found the lock taken (it counts before it blocks).
    let contended = || {
        value(
            &scrape(&registry),
            "lock_contended_total",
            "lock_contended_total",
            &[("lock", "metadata")],
        )
        .unwrap_or(0.0)
    };
    for _ in 0..4_000 {
        if contended() > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(held);
    waiter.join().unwrap();
    assert_eq!(*lock.lock(), 1);

    let parsed = scrape(&registry);
    let l = [("lock", "metadata")];
    assert_eq!(
        value(&parsed, "lock_contended_total", "lock_contended_total", &l),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "lock_wait_seconds", "lock_wait_seconds_count", &l),
        Some(1.0)
    );
    assert_eq!(
        value(&parsed, "lock_hold_seconds", "lock_hold_seconds_count", &l),
        Some(3.0)
    );
    let sites = &parsed["lock_contended_by_site_total"].samples;
    let site_of = |role: &str| {
        sites
            .iter()
            .find(|s| s.label("role") == Some(role) && s.value == 1.0)
            .and_then(|s| s.label("site"))
            .unwrap()
            .to_string()
    };
    assert!(
        site_of("waiter").starts_with("tests/locks.rs:"),
        "{sites:?}"
    );
    assert!(site_of("holder").starts_with("tests/locks.rs:"));
    assert_ne!(site_of("waiter"), site_of("holder"));
}

/// `lock_held_too_long_total` of lock `lock`: what the watchdog reported for it, whichever
/// test's `LockWatchdog::scan()` did the reporting (a scan covers every lock in the process, and
/// tests in this binary run in parallel, so a stall can be reported by another test's scan).
fn held_too_long(registry: &Registry, lock: &str) -> f64 {
    value(
        &scrape(registry),
        "lock_held_too_long_total",
        "lock_held_too_long_total",
        &[("lock", lock)],
    )
    .unwrap_or(0.0)
}

#[test]
fn watchdog_reports_a_long_hold_after_the_threshold_and_not_before() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let node = Mutex::builder("raft_node_wd")
        .watchdog(Duration::from_secs(2))
        .clock(clock)
        .build((), &registry)
        .unwrap();
    let held = node.lock();
    hand.advance(Duration::from_secs(2));
    let _ = LockWatchdog::scan();
    assert_eq!(
        held_too_long(&registry, "raft_node_wd"),
        0.0,
        "at the threshold: not yet"
    );
    hand.advance(Duration::from_millis(1));
    for stall in LockWatchdog::scan()
        .into_iter()
        .filter(|s| s.lock == "raft_node_wd")
    {
        assert!(stall.site.starts_with("tests/locks.rs:"));
        assert!(stall.held_for >= Duration::from_millis(2_001));
    }
    assert_eq!(held_too_long(&registry, "raft_node_wd"), 1.0);
    hand.advance(Duration::from_secs(5));
    let _ = LockWatchdog::scan();
    assert_eq!(
        held_too_long(&registry, "raft_node_wd"),
        1.0,
        "reported once per hold"
    );
    let parsed = scrape(&registry);
    let l = [("lock", "raft_node_wd")];
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &l
        ),
        Some(7.001)
    );
    drop(held);
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &l
        ),
        Some(0.0)
    );
}

// The watchdog thread (`LockWatchdog::start`) is tested in `tests/lock_watchdog_thread.rs`, a
// binary of its own: its scans would report the stalls the tests here set up.

#[test]
fn panics_and_cross_thread_guards_leave_the_bookkeeping_right() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let lock = Arc::new(
        Mutex::builder("panicky")
            .hold_timing(true)
            .watchdog(Duration::from_secs(1))
            .clock(clock)
            .build(0u32, &registry)
            .unwrap(),
    );
    let current = |registry: &Registry| {
        value(
            &scrape(registry),
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &[("lock", "panicky")],
        )
    };
    let l2 = lock.clone();
    let result = std::thread::spawn(move || {
        let _guard = l2.lock();
        panic!("while holding");
    })
    .join();
    assert!(result.is_err());
    hand.advance(Duration::from_secs(5));
    assert_eq!(current(&registry), Some(0.0), "released during unwinding");
    let _ = LockWatchdog::scan();
    assert_eq!(held_too_long(&registry, "panicky"), 0.0);

    // Acquired here, dropped on another thread.
    let guard = lock.lock();
    hand.advance(Duration::from_secs(2));
    assert_eq!(current(&registry), Some(2.0));
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
    assert_eq!(current(&registry), Some(0.0));
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "lock_hold_seconds",
            "lock_hold_seconds_count",
            &[("lock", "panicky")]
        ),
        Some(2.0)
    );
    *lock.lock() += 1; // still usable: parking_lot does not poison
}

#[test]
fn rwlock_tracks_writers_exactly_and_read_stretches() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let meta = RwLock::new(&registry, "plain_rw", 1).unwrap();
    assert_eq!(*meta.read() + *meta.read(), 2);
    *meta.write() = 5;
    let timed = RwLock::builder("timed_rw")
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .build(0, &registry)
        .unwrap();
    let r1 = timed.read();
    hand.advance(Duration::from_secs(2));
    let r2 = timed.read();
    let _ = LockWatchdog::scan();
    assert_eq!(
        held_too_long(&registry, "timed_rw"),
        1.0,
        "the read stretch began 2 s ago"
    );
    drop((r1, r2));
    *timed.write() += 1;
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &[("lock", "timed_rw")]
        ),
        Some(0.0)
    );
    assert_eq!(meta.into_inner(), 5);
}

#[test]
fn a_writer_waiting_for_readers_blames_a_reader_site_with_or_without_a_watchdog() {
    for watchdog in [false, true] {
        let registry = registry();
        let mut builder = RwLock::builder("blamed_rw");
        if watchdog {
            builder = builder.watchdog(Duration::from_secs(60));
        }
        let lock = Arc::new(builder.build(0u32, &registry).unwrap());
        *lock.write() = 1; // an earlier writer, gone: not the one to blame
        let reading = lock.read();
        let reader_line = line!() - 1;
        let writer = {
            let lock = lock.clone();
            std::thread::spawn(move || *lock.write() += 1)
        };
        let contended = || {
            value(
                &scrape(&registry),
                "lock_contended_total",
                "lock_contended_total",
                &[("lock", "blamed_rw")],
            )
            .unwrap_or(0.0)
        };
        for _ in 0..4_000 {
            if contended() > 0.0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(reading);
        writer.join().unwrap();
        assert_eq!(*lock.read(), 2);
        let parsed = scrape(&registry);
        let holder = parsed["lock_contended_by_site_total"]
            .samples
            .iter()
            .find(|s| s.label("role") == Some("holder") && s.value == 1.0)
            .and_then(|s| s.label("site"))
            .unwrap()
            .to_string();
        assert_eq!(
            holder,
            format!("tests/locks.rs:{reader_line}"),
            "watchdog: {watchdog}"
        );
    }
}

#[test]
fn try_lock_try_read_and_try_write_are_tracked_like_the_waiting_kinds() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let rw = RwLock::builder("try_rw")
        .hold_timing(true)
        .watchdog(Duration::from_secs(1))
        .clock(clock.clone())
        .build(0u32, &registry)
        .unwrap();
    let m = Mutex::builder("try_m")
        .hold_timing(true)
        .watchdog(Duration::from_secs(1))
        .clock(clock)
        .build(0u32, &registry)
        .unwrap();
    let longest = |lock: &str| {
        value(
            &scrape(&registry),
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &[("lock", lock)],
        )
    };
    let reading = rw.try_read().unwrap();
    assert!(rw.try_write().is_none());
    hand.advance(Duration::from_secs(2));
    assert_eq!(longest("try_rw"), Some(2.0), "a try_read hold is seen");
    drop(reading);
    let mut writing = rw.try_write().unwrap();
    *writing += 1;
    assert!(rw.try_read().is_none());
    hand.advance(Duration::from_secs(3));
    assert_eq!(longest("try_rw"), Some(3.0), "a try_write hold is seen");
    drop(writing);
    assert_eq!(longest("try_rw"), Some(0.0));
    let locked = m.try_lock().unwrap();
    hand.advance(Duration::from_secs(4));
    assert_eq!(longest("try_m"), Some(4.0));
    drop(locked);
    let parsed = scrape(&registry);
    let count = |lock: &str, family: &str| {
        value(
            &parsed,
            family,
            &format!("{family}_count"),
            &[("lock", lock)],
        )
    };
    assert_eq!(count("try_rw", "lock_hold_seconds"), Some(2.0));
    assert_eq!(count("try_m", "lock_hold_seconds"), Some(1.0));
    assert_eq!(
        count("try_rw", "lock_wait_seconds"),
        Some(0.0),
        "a failed try waits for nothing"
    );
    let (mut rw, mut m) = (rw, m);
    *rw.get_mut() += 1;
    *m.get_mut() += 1;
    assert_eq!((rw.into_inner(), m.into_inner()), (2, 1));
}

#[cfg(feature = "tokio")]
#[test]
fn a_cancelled_async_lock_records_its_wait() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let session = perf_instrument::lock::AsyncMutex::builder("async_cancelled")
        .clock(clock)
        .build(0u32, &registry)
        .unwrap();
    let wait = |suffix: &str| {
        value(
            &scrape(&registry),
            "lock_wait_seconds",
            &format!("lock_wait_seconds_{suffix}"),
            &[("lock", "async_cancelled")],
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let held = runtime.block_on(session.lock());
    // A waiting lock() given up after 2 s (a timeout would drop it the same way).
    let mut waiting = Box::pin(session.lock());
    let waker = std::task::Waker::noop();
    assert!(waiting
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    hand.advance(Duration::from_secs(2));
    drop(waiting);
    assert_eq!(wait("count"), Some(1.0), "the wait is recorded on cancel");
    assert!((wait("sum").unwrap() - 2.0).abs() < 1e-6);
    drop(held);
    assert_eq!(*runtime.block_on(session.lock()), 0, "still usable");
    assert_eq!(
        wait("count"),
        Some(1.0),
        "an uncontended lock waits for nothing"
    );
}

#[cfg(feature = "tokio")]
#[test]
fn an_async_guard_held_across_await_is_reported_like_any_holder() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let session = Arc::new(
        perf_instrument::lock::AsyncMutex::builder("async_session")
            .hold_timing(true)
            .watchdog(Duration::from_secs(1))
            .clock(clock)
            .build(0u32, &registry)
            .unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut guard = session.lock().await; // attributed to this line
        tokio::task::yield_now().await;
        hand.advance(Duration::from_secs(3));
        let _ = LockWatchdog::scan();
        assert_eq!(held_too_long(&registry, "async_session"), 1.0);
        *guard += 1;
    });
    let parsed = scrape(&registry);
    let l = [("lock", "async_session")];
    assert_eq!(
        value(&parsed, "lock_hold_seconds", "lock_hold_seconds_count", &l),
        Some(1.0)
    );
    assert_eq!(
        value(
            &parsed,
            "lock_current_longest_hold_seconds",
            "lock_current_longest_hold_seconds",
            &l
        ),
        Some(0.0)
    );
}
