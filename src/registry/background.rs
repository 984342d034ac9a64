//! Background threads (the pending and saga sweepers, the lock watchdog, the pushers): one helper for all,
//! periodic, stoppable and visible — `perf_instrument_background_thread_up{thread}` is 1 while one runs, and a
//! panic in a tick is caught and counted in `perf_instrument_background_panics_total{thread}`.

use super::{Family, Registry, RegistryError};
use crate::recorder::{Counter, Gauge};
use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

/// The families background threads register (by label `thread`).
pub(crate) mod families {
    use crate::registry::FamilyDef;

    /// 1 while a thread runs.
    pub(crate) const THREAD_UP: FamilyDef = FamilyDef::gauge(
        "perf_instrument_background_thread_up",
        "1 while a background thread of the crate runs.",
    )
    .labels(&["thread"])
    .not_tabled("a gauge");
    /// Panics caught per tick.
    pub(crate) const PANICS: FamilyDef = FamilyDef::counter(
        "perf_instrument_background_panics",
        "Panics caught in background threads of the crate.",
    )
    .labels(&["thread"])
    .not_tabled("a counter (the background-panics finding reads it)");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[&THREAD_UP, &PANICS];
}

/// The families background threads report to, for one registry.
#[derive(Clone)]
pub(crate) struct Background {
    up: Family<Gauge>,
    panics: Family<Counter>,
}

impl Background {
    pub(crate) fn new(registry: &Registry) -> Result<Self, RegistryError> {
        Ok(Self {
            up: registry.register_gauge(families::THREAD_UP.opts())?,
            panics: registry.register_counter(families::PANICS.opts())?,
        })
    }

    /// Runs `tick` every `period` on a new thread until the handle drops or `tick` returns
    /// `false`. A zero period (a thread that would spin) is refused.
    pub(crate) fn spawn(
        &self,
        name: String,
        period: Duration,
        tick: impl FnMut() -> bool + Send + 'static,
    ) -> Result<BackgroundThread, RegistryError> {
        self.spawn_with_last(name, period, tick, || {})
    }

    /// As [`spawn`](Self::spawn), and runs `last` once on the thread after the handle asked
    /// it to stop (not after `tick` returned `false`): a pusher's final flush. A panic in
    /// `last` is caught and counted like one in `tick`.
    pub(crate) fn spawn_with_last(
        &self,
        name: String,
        period: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
        last: impl FnOnce() + Send + 'static,
    ) -> Result<BackgroundThread, RegistryError> {
        if period.is_zero() {
            return Err(RegistryError::ZeroSetting { setting: "period" });
        }
        let up = self.up.with_label_values(&[&name]);
        let panics = self.panics.with_label_values(&[&name]);
        let (stop, stopped) = mpsc::channel::<()>();
        up.set(1);
        let thread_up = up.clone();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let mut asked_to_stop = true;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut tick)) {
                        Ok(true) => {}
                        Ok(false) => {
                            asked_to_stop = false;
                            break;
                        }
                        Err(_) => panics.inc(),
                    }
                }
                if asked_to_stop
                    && std::panic::catch_unwind(std::panic::AssertUnwindSafe(last)).is_err()
                {
                    panics.inc();
                }
                thread_up.set(0);
            });
        Ok(match thread {
            Ok(thread) => BackgroundThread {
                name,
                period,
                stop: Some(stop),
                thread: Some(thread),
            },
            Err(_) => {
                up.set(0);
                BackgroundThread {
                    name,
                    period,
                    stop: None,
                    thread: None,
                }
            }
        })
    }
}

/// A background thread of an instrument; dropping the handle stops and joins it.
///
/// ```
/// use perf_instrument::{PendingTracker, Registry};
/// let registry = Registry::new();
/// let tracker = PendingTracker::<u64>::builder("replies").build(&registry).unwrap();
/// let sweeper = tracker.spawn_sweeper(std::time::Duration::from_secs(1)).unwrap();
/// assert!(sweeper.is_running());
/// drop(sweeper);
/// ```
#[must_use = "the thread stops when the handle is dropped"]
pub struct BackgroundThread {
    name: String,
    period: Duration,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundThread {
    /// Whether the thread is still running.
    ///
    /// ```
    /// # use perf_instrument::{PendingTracker, Registry};
    /// # let registry = Registry::new();
    /// # let tracker = PendingTracker::<u64>::builder("r").build(&registry).unwrap();
    /// let sweeper = tracker.spawn_sweeper(std::time::Duration::from_secs(1)).unwrap();
    /// assert!(sweeper.is_running());
    /// ```
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The thread's name: its `thread` label value and the OS thread's name
    /// (`pending-sweep-<tracker>`, `saga-sweep-<saga>`, `lock-watchdog`).
    ///
    /// ```
    /// # use perf_instrument::{PendingTracker, Registry};
    /// # let registry = Registry::new();
    /// # let tracker = PendingTracker::<u64>::builder("replies").build(&registry).unwrap();
    /// let sweeper = tracker.spawn_sweeper(std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(sweeper.name(), "pending-sweep-replies");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time between two ticks.
    ///
    /// ```
    /// # use perf_instrument::{PendingTracker, Registry};
    /// # let registry = Registry::new();
    /// # let tracker = PendingTracker::<u64>::builder("r").build(&registry).unwrap();
    /// let sweeper = tracker.spawn_sweeper(std::time::Duration::from_millis(500)).unwrap();
    /// assert_eq!(sweeper.period(), std::time::Duration::from_millis(500));
    /// ```
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Stops the thread and waits for it.
    ///
    /// ```
    /// # use perf_instrument::{PendingTracker, Registry};
    /// # let registry = Registry::new();
    /// # let tracker = PendingTracker::<u64>::builder("r").build(&registry).unwrap();
    /// tracker.spawn_sweeper(std::time::Duration::from_secs(1)).unwrap().stop();
    /// ```
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl fmt::Debug for BackgroundThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundThread")
            .field("name", &self.name)
            .field("period", &self.period)
            .field("running", &self.is_running())
            .finish()
    }
}
