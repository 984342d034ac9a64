//! Sweeps: time out sagas past their deadline, mark stuck ones, publish the oldest age; and
//! the background thread that sweeps every period.

use super::config::SagaError;
use super::outcome::SagaOutcome;
use super::tracker::{Inner, SagaTracker};
use crate::registry::BackgroundThread;
use crate::sync::{self, Arc, Ordering};
use std::sync::Weak;
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
    /// use perf_instrument::saga::SagaOutcome;
    /// use perf_instrument::{Clock, Registry, SagaTracker};
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
    /// assert_eq!(t.finished_count(SagaOutcome::TimedOut), 1);
    /// ```
    pub fn sweep(&self) -> SagaSweepSummary {
        let inner = &*self.inner;
        #[cfg(test)]
        assert!(
            !inner.panic_next_sweep.swap(false, Ordering::Relaxed),
            "sweep made to panic by a test"
        );
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

    /// Starts a thread (named `saga-sweep-<saga>`) that calls [`sweep`](Self::sweep) every
    /// `period`, until the returned handle is dropped (which stops and joins it) or the tracker
    /// is dropped. It is a [`BackgroundThread`] like the other sweepers and the lock watchdog:
    /// `perf_instrument_background_thread_up{thread}` is 1 while it runs, and a sweep that
    /// panics is caught, counted in `perf_instrument_background_panics_total{thread}`, and the
    /// next sweep runs on time. `saga_sweeper_running{saga}` counts the running sweepers of
    /// the saga type. A thread that cannot be started gives a handle that is not running.
    ///
    /// # Errors
    ///
    /// [`SagaError::ZeroDuration`] for a zero period.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// use std::time::Duration;
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// let sweeper = t.spawn_sweeper(Duration::from_secs(1)).unwrap();
    /// assert!(sweeper.is_running());
    /// drop(sweeper); // stops and joins the thread
    /// assert!(t.spawn_sweeper(Duration::ZERO).is_err());
    /// ```
    pub fn spawn_sweeper(&self, period: Duration) -> Result<BackgroundThread, SagaError> {
        if period.is_zero() {
            return Err(SagaError::ZeroDuration {
                what: "sweep period",
            });
        }
        let tracker: Weak<Inner> = Arc::downgrade(&self.inner);
        let running = Running::new(self.inner.metrics.sweepers.clone());
        let name = format!("saga-sweep-{}", self.inner.name);
        let thread = self.inner.metrics.background.spawn(name, period, move || {
            // Dropped with the closure when the thread ends, however it ends.
            let _running = &running;
            let Some(inner) = tracker.upgrade() else {
                return false;
            };
            SagaTracker { inner }.sweep();
            true
        });
        // The period was checked above, the only setting the helper refuses.
        thread.map_err(|_| SagaError::ZeroDuration {
            what: "sweep period",
        })
    }
}

/// Counts one running sweeper in `saga_sweeper_running` from its creation until it is dropped
/// (with the sweeper's tick, when the thread ends or could not start).
struct Running(crate::recorder::Gauge);

impl Running {
    fn new(gauge: crate::recorder::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::super::families;
    use crate::registry::background::families as background;
    use crate::registry::Registry;
    use crate::sync::Ordering;
    use std::time::Duration;

    #[test]
    fn a_panicking_sweep_is_counted_and_the_sweeper_goes_on() {
        let registry = Registry::new();
        let (clock, hand) = crate::clock::Clock::manual();
        let tracker = super::SagaTracker::builder("order")
            .steps(["a"])
            .stuck_after(Duration::from_secs(3))
            .clock(clock)
            .build(&registry)
            .unwrap();
        let panics = registry
            .register_counter(background::PANICS.opts())
            .unwrap()
            .get(&["saga-sweep-order"])
            .unwrap();
        let running = registry
            .register_gauge(families::SWEEPER_RUNNING.opts())
            .unwrap()
            .get(&["order"])
            .unwrap();
        tracker
            .inner
            .panic_next_sweep
            .store(true, Ordering::Relaxed);
        let sweeper = tracker.spawn_sweeper(Duration::from_millis(1)).unwrap();
        // Waits for the panic, then for one more sweep (the flag is taken by the panicking one).
        while panics.get() == 0 {
            std::thread::yield_now();
        }
        tracker.start(1u64);
        hand.advance(Duration::from_secs(4));
        while tracker.stuck_count() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(panics.get(), 1);
        assert!(sweeper.is_running());
        assert_eq!(running.get(), 1);
        drop(sweeper);
        assert_eq!(running.get(), 0);
    }
}
