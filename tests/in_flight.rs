//! In-flight gauges and long-task timers.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape, value, YieldNow};
use perf_instrument::{Clock, Gauge, LongTaskTimer};
use std::future::Future;
use std::task::Context;
use std::time::Duration;

#[test]
fn in_flight_is_exact_on_return_panic_cancel_and_across_threads() {
    let registry = registry();
    let in_flight: Gauge = registry.gauge("jobs_in_flight", "Jobs running.").unwrap();

    // Panic while tracked.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = in_flight.track();
        panic!("job failed");
    }));
    assert!(caught.is_err());
    assert_eq!(in_flight.get(), 0);

    // A future cancelled (dropped) while pending at an `.await`.
    let gauge = in_flight.clone();
    let mut task = Box::pin(async move {
        let _guard = gauge.track_owned();
        YieldNow(false).await;
        unreachable!("never polled to completion");
    });
    let waker = std::task::Waker::noop();
    assert!(task
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    assert_eq!(in_flight.get(), 1);
    drop(task);
    assert_eq!(in_flight.get(), 0, "cancellation decrements");

    // Moved across threads and an `.await` on a multi-threaded runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let guard = in_flight.track_owned();
            runtime.spawn(async move {
                tokio::task::yield_now().await;
                drop(guard);
            })
        })
        .collect();
    runtime.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(in_flight.get(), 0);
    let guard = in_flight.track_owned();
    std::thread::spawn(move || drop(guard)).join().unwrap();
    assert_eq!(in_flight.get(), 0);
}

#[test]
fn long_task_timer_reports_active_tasks_and_the_oldest_age() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let backups = LongTaskTimer::builder("backup")
        .labels(&[("db", "orders")])
        .clock(clock)
        .capacity(2)
        .build(&registry)
        .unwrap();
    let first = backups.start();
    hand.advance(Duration::from_secs(60));
    let second = backups.start();
    let third = backups.start(); // beyond capacity: active and timed, not in the oldest age
    hand.advance(Duration::from_secs(30));
    let parsed = scrape(&registry);
    let labels = [("db", "orders")];
    assert_eq!(
        value(
            &parsed,
            "backup_active_tasks",
            "backup_active_tasks",
            &labels
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &parsed,
            "backup_oldest_active_age_seconds",
            "backup_oldest_active_age_seconds",
            &labels
        ),
        Some(90.0)
    );
    assert_eq!(
        value(
            &parsed,
            "backup_untracked_total",
            "backup_untracked_total",
            &labels
        ),
        Some(1.0)
    );
    drop(first);
    assert_eq!(backups.oldest_active_age(), Some(Duration::from_secs(30)));
    drop((second, third));
    assert_eq!(backups.active(), 0);
    let parsed = scrape(&registry);
    assert_eq!(
        value(
            &parsed,
            "backup_duration_seconds",
            "backup_duration_seconds_count",
            &labels
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &parsed,
            "backup_oldest_active_age_seconds",
            "backup_oldest_active_age_seconds",
            &labels
        ),
        Some(0.0)
    );
}
