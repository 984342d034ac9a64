//! One rule for zero settings (docs/ARCHITECTURE.md, "Instruments"): a zero count or duration
//! that would make an instrument useless is refused at build with an error naming the setting.

use perf_instrument::lock::{LockWatchdog, Mutex, RwLock};
use perf_instrument::saga::SagaError;
use perf_instrument::{
    LongTaskTimer, PendingTracker, Pipeline, Registry, RegistryError, SagaTracker,
};
use std::time::Duration;

fn zero(setting: &'static str) -> RegistryError {
    RegistryError::ZeroSetting { setting }
}

#[test]
fn pending_tracker_refuses_a_zero_max_pending_timeout_or_sweep_period() {
    let r = Registry::new();
    let b = || PendingTracker::<u64>::builder("zero");
    assert_eq!(
        b().max_pending(0).build(&r).unwrap_err(),
        zero("max_pending")
    );
    assert_eq!(
        b().timeout(Duration::ZERO).build(&r).unwrap_err(),
        zero("timeout")
    );
    assert_eq!(
        b().max_key_bytes(0).build(&r).unwrap_err(),
        zero("max_key_bytes")
    );
    let tracker = b().max_pending(1).build(&r).unwrap();
    assert_eq!(
        tracker.spawn_sweeper(Duration::ZERO).unwrap_err(),
        zero("period")
    );
    assert!(RegistryError::ZeroSetting { setting: "timeout" }
        .to_string()
        .contains("timeout"));
}

#[test]
fn long_task_timer_refuses_a_zero_capacity() {
    let r = Registry::new();
    let err = LongTaskTimer::builder("zero_tasks")
        .capacity(0)
        .build(&r)
        .unwrap_err();
    assert_eq!(err, zero("capacity"));
    assert!(LongTaskTimer::builder("zero_tasks")
        .capacity(1)
        .build(&r)
        .is_ok());
}

#[test]
fn pipeline_refuses_a_zero_max_remote_age() {
    let r = Registry::new();
    let err = Pipeline::builder("zero")
        .stages(["a"])
        .max_remote_age(Duration::ZERO)
        .build(&r)
        .unwrap_err();
    assert_eq!(err, zero("max_remote_age"));
}

#[test]
fn locks_refuse_a_zero_watchdog_threshold_and_the_watchdog_a_zero_period() {
    let r = Registry::new();
    let m = Mutex::builder("zero_m")
        .watchdog(Duration::ZERO)
        .build(0u8, &r);
    assert_eq!(m.unwrap_err(), zero("watchdog"));
    let l = RwLock::builder("zero_rw")
        .watchdog(Duration::ZERO)
        .build(0u8, &r);
    assert_eq!(l.unwrap_err(), zero("watchdog"));
    assert_eq!(
        LockWatchdog::start(&r, Duration::ZERO).unwrap_err(),
        zero("period")
    );
}

#[cfg(feature = "tokio")]
#[test]
fn async_mutex_refuses_a_zero_watchdog_threshold() {
    let r = Registry::new();
    let m = perf_instrument::lock::AsyncMutex::builder("zero_am")
        .watchdog(Duration::ZERO)
        .build(0u8, &r);
    assert_eq!(m.unwrap_err(), zero("watchdog"));
}

#[test]
fn saga_tracker_refuses_zero_durations_and_counts() {
    let r = Registry::new();
    let b = || SagaTracker::builder("zero").steps(["a"]);
    let what = |e: SagaError| match e {
        SagaError::ZeroDuration { what } | SagaError::ZeroCount { what } => what,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(
        what(b().deadline(Duration::ZERO).build(&r).unwrap_err()),
        "deadline"
    );
    assert_eq!(
        what(b().stuck_after(Duration::ZERO).build(&r).unwrap_err()),
        "stuck_after"
    );
    assert_eq!(what(b().max_active(0).build(&r).unwrap_err()), "max_active");
    assert_eq!(what(b().shards(0).build(&r).unwrap_err()), "shards");
    let tracker = b().build(&r).unwrap();
    assert_eq!(
        what(tracker.spawn_sweeper(Duration::ZERO).unwrap_err()),
        "sweep period"
    );
}
