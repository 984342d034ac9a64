//! Sweeps: time out sagas past their deadline, mark stuck ones, publish the oldest age; and
//! [`SagaSweeper`], the background thread that sweeps every period.

use super::config::SagaError;
use super::outcome::SagaOutcome;
use super::tracker::{Inner, SagaTracker};
use crate::sync::{self, Arc, Ordering};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::Duration;

/// What one [`sweep`](SagaTracker::sweep) did and saw.
///
/// ```
/// # use perf_instrument::{Registry, SagaTracker};
/// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
/// t.start(1u64);
/// let s = t.sweep();
/// assert_eq!((s.active, s.timed_out, s.stuck), (1, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SagaSweepSummary {
    /// Sagas ended as `timed_out` by this sweep.
    pub timed_out: usize,
    /// Sagas this sweep marked stuck.
    pub newly_stuck: usize,
    /// Sagas marked stuck after this sweep (new and earlier ones still without progress).
    pub stuck: usize,
    /// Sagas still active after this sweep.
    pub active: usize,
    /// Age of the oldest saga still active, if any.
    pub oldest_age: Option<Duration>,
}

impl SagaTracker {
    /// Times out sagas older than the deadline (outcome `timed_out`, age recorded in
    /// `saga_duration_seconds{outcome="timed_out"}`), marks as stuck the ones without progress
    /// for longer than `stuck_after` (`saga_stuck`), and sets
    /// `saga_oldest_active_age_seconds`. A saga exactly at its deadline or threshold is not yet
    /// past it.
    ///
    /// Takes each shard's lock in turn (never two at once) for a scan of its sagas.
    ///
    /// ```
    /// use perf_instrument::{Clock, Registry, SagaOutcome, SagaTracker};
    /// use std::time::Duration;
    /// let (clock, hand) = Clock::manual();
    /// let t = SagaTracker::builder("order").steps(["a"])
    ///     .deadline(Duration::from_secs(10)).stuck_after(Duration::from_secs(3))
    ///     .clock(clock).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// hand.advance(Duration::from_secs(4));
    /// assert_eq!(t.sweep().newly_stuck, 1);
    /// hand.advance(Duration::from_secs(7));
    /// assert_eq!(t.sweep().timed_out, 1);
    /// assert_eq!(t.finished(SagaOutcome::TimedOut), 1);
    /// ```
    pub fn sweep(&self) -> SagaSweepSummary {
        let inner = &*self.inner;
        let m = &inner.metrics;
        let now = self.now();
        let mut summary = SagaSweepSummary::default();
        let mut oldest: Option<u64> = None;
        let mut timed_out_ages = Vec::new();
        for shard in inner.shards.iter() {
            let mut shard = sync::lock(shard);
            let mut timed_out = Vec::new();
            shard.active.retain(|key, saga| {
                let age = now.saturating_sub(saga.started);
                if age > inner.deadline_ns {
                    timed_out.push(*key);
                    timed_out_ages.push(age);
                    inner.active.fetch_sub(1, Ordering::Relaxed);
                    m.active.dec();
                    if saga.stuck {
                        m.stuck.dec();
                    }
                    return false;
                }
                if !saga.stuck && now.saturating_sub(saga.last_progress) > inner.stuck_after_ns {
                    saga.stuck = true;
                    m.stuck.inc();
                    summary.newly_stuck += 1;
                }
                summary.stuck += usize::from(saga.stuck);
                summary.active += 1;
                oldest = Some(oldest.map_or(age, |o| o.max(age)));
                true
            });
            for key in timed_out {
                shard.remember(key, inner.recent_per_shard);
            }
            shard.shrink();
            drop(shard);
            summary.timed_out += timed_out_ages.len();
            for age in timed_out_ages.drain(..) {
                self.record_finish(SagaOutcome::TimedOut, age);
            }
        }
        m.oldest_age
            .set(oldest.map_or(0, |ns| i64::try_from(ns).unwrap_or(i64::MAX)));
        summary.oldest_age = oldest.map(Duration::from_nanos);
        summary
    }

    /// Starts a thread (named `saga-sweep`) that calls [`sweep`](Self::sweep) every `period`,
    /// until the returned handle is dropped (which stops and joins it) or the tracker is
    /// dropped. `saga_sweeper_running{saga}` counts running sweepers; a sweep that panicked
    /// stops its thread and shows there as a drop.
    ///
    /// # Errors
    ///
    /// [`SagaError::ZeroDuration`] for a zero period, [`SagaError::Spawn`] if the thread cannot
    /// be started.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// use std::time::Duration;
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// let sweeper = t.spawn_sweeper(Duration::from_secs(1)).unwrap();
    /// drop(sweeper); // stops and joins the thread
    /// assert!(t.spawn_sweeper(Duration::ZERO).is_err());
    /// ```
    pub fn spawn_sweeper(&self, period: Duration) -> Result<SagaSweeper, SagaError> {
        if period.is_zero() {
            return Err(SagaError::ZeroDuration {
                what: "sweep period",
            });
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let tracker: Weak<Inner> = Arc::downgrade(&self.inner);
        let running = self.inner.metrics.sweepers.clone();
        running.inc();
        let thread = std::thread::Builder::new()
            .name("saga-sweep".to_string())
            .spawn(move || {
                let _running = Running(running);
                // A message or a dropped sender (the handle dropped) stops the thread.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    let Some(inner) = tracker.upgrade() else {
                        break;
                    };
                    let tracker = SagaTracker { inner };
                    if catch_unwind(AssertUnwindSafe(|| tracker.sweep())).is_err() {
                        break;
                    }
                }
            });
        match thread {
            Ok(thread) => Ok(SagaSweeper {
                stop: Some(stop),
                thread: Some(thread),
                period,
            }),
            Err(e) => {
                self.inner.metrics.sweepers.dec();
                Err(SagaError::Spawn(e))
            }
        }
    }
}

/// Decrements `saga_sweeper_running` when the sweeper thread ends, however it ends.
struct Running(crate::recorder::Gauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The handle of a background sweeper thread ([`SagaTracker::spawn_sweeper`]); dropping it
/// stops the thread and waits for it (at most one sweep's time).
///
/// ```
/// # use perf_instrument::{Registry, SagaTracker};
/// # use std::time::Duration;
/// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
/// let sweeper = t.spawn_sweeper(Duration::from_millis(500)).unwrap();
/// assert_eq!(sweeper.period(), Duration::from_millis(500));
/// ```
#[must_use = "dropping the sweeper stops its thread"]
pub struct SagaSweeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    period: Duration,
}

impl SagaSweeper {
    /// Time between sweeps.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// # use std::time::Duration;
    /// # let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// let sweeper = t.spawn_sweeper(Duration::from_secs(2)).unwrap();
    /// assert_eq!(sweeper.period().as_secs(), 2);
    /// ```
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl Drop for SagaSweeper {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic inside a sweep was caught in the thread; nothing to propagate.
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for SagaSweeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SagaSweeper")
            .field("period", &self.period)
            .field(
                "running",
                &self.thread.as_ref().is_some_and(|t| !t.is_finished()),
            )
            .finish()
    }
}
