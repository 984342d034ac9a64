//! Rolling history: a bounded in-process ring of periodic registry snapshots, so a report over
//! "the last N minutes" needs no snapshots kept by hand.

use super::Report;
use crate::registry::background::{Background, BackgroundThread};
use crate::registry::{Registry, RegistryError, RegistrySnapshot};
use crate::sync::{lock, Mutex};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ring {
    capacity: usize,
    snapshots: VecDeque<RegistrySnapshot>,
}

impl Ring {
    fn push(&mut self, snapshot: RegistrySnapshot) {
        if self.snapshots.len() >= self.capacity {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(snapshot);
    }
}

/// Snapshots of a registry taken every `period` on a background thread, the last `capacity`
/// kept (memory: `capacity` registry snapshots), so [`report_last`](Self::report_last) can
/// report on the last N minutes. Served at `/report` by
/// [`Route::report`](crate::Route::report) (feature `http`). Stops when dropped.
///
/// ```
/// use perf_instrument::{Registry, ReportHistory};
/// use std::time::Duration;
/// let registry = Registry::new();
/// let history = ReportHistory::start(&registry, Duration::from_secs(10), 60).unwrap();
/// history.take_now();
/// let report = history.report_last(Duration::from_secs(600));
/// assert!(report.window_seconds().is_some());
/// assert_eq!(history.len(), 2, "one at start, one taken now");
/// ```
#[derive(Clone)]
pub struct ReportHistory {
    registry: Registry,
    ring: Arc<Mutex<Ring>>,
    period: Duration,
    _thread: Option<Arc<BackgroundThread>>,
}

impl fmt::Debug for ReportHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportHistory")
            .field("period", &self.period)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl ReportHistory {
    /// Snapshots `registry` now and every `period` after, keeping the last `capacity`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the background-thread families clash in `registry`;
    /// [`RegistryError::ZeroSetting`] for a zero `period` or `capacity`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let h = perf_instrument::ReportHistory::start(&r, std::time::Duration::from_secs(1), 0);
    /// assert!(h.is_err());
    /// ```
    pub fn start(
        registry: &Registry,
        period: Duration,
        capacity: usize,
    ) -> Result<Self, RegistryError> {
        let mut history = Self::manual(registry, capacity)?;
        history.period = period;
        history.take_now();
        let ring = Arc::clone(&history.ring);
        let source = registry.clone();
        let thread =
            Background::new(registry)?.spawn("report-history".to_string(), period, move || {
                let snapshot = source.snapshot();
                lock(&ring).push(snapshot);
                true
            })?;
        history._thread = Some(Arc::new(thread));
        Ok(history)
    }

    /// A history without a thread: snapshots are taken by [`take_now`](Self::take_now) only.
    ///
    /// # Errors
    ///
    /// [`RegistryError::ZeroSetting`] for a zero `capacity`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let h = perf_instrument::ReportHistory::manual(&r, 10).unwrap();
    /// assert!(h.is_empty());
    /// ```
    pub fn manual(registry: &Registry, capacity: usize) -> Result<Self, RegistryError> {
        if capacity == 0 {
            return Err(RegistryError::ZeroSetting {
                setting: "capacity",
            });
        }
        Ok(Self {
            registry: registry.clone(),
            ring: Arc::new(Mutex::new(Ring {
                capacity,
                snapshots: VecDeque::with_capacity(capacity.min(1_024)),
            })),
            period: Duration::ZERO,
            _thread: None,
        })
    }

    /// Takes a snapshot now (the oldest is dropped when full).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let h = perf_instrument::ReportHistory::manual(&r, 1).unwrap();
    /// h.take_now();
    /// h.take_now();
    /// assert_eq!(h.len(), 1);
    /// ```
    pub fn take_now(&self) {
        let snapshot = self.registry.snapshot();
        lock(&self.ring).push(snapshot);
    }

    /// Snapshots kept.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert_eq!(perf_instrument::ReportHistory::manual(&r, 5).unwrap().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.ring).snapshots.len()
    }

    /// Whether no snapshot is kept yet.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::ReportHistory::manual(&r, 5).unwrap().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A report of the last `span`: from the oldest kept snapshot taken within `span` of now
    /// (or, if every kept snapshot is older, the newest of them) to a snapshot taken now. With
    /// no snapshot kept, a cumulative report.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = perf_instrument::Registry::new();
    /// let h = perf_instrument::ReportHistory::manual(&r, 5).unwrap();
    /// assert!(h.report_last(Duration::from_secs(60)).window_seconds().is_none());
    /// h.take_now();
    /// assert!(h.report_last(Duration::from_secs(60)).window_seconds().is_some());
    /// ```
    #[must_use]
    pub fn report_last(&self, span: Duration) -> Report {
        let now = self.registry.snapshot();
        let start = {
            let ring = lock(&self.ring);
            let cutoff = Instant::now().checked_sub(span);
            ring.snapshots
                .iter()
                .find(|s| cutoff.is_none_or(|c| s.taken_at() >= c))
                .or_else(|| ring.snapshots.back())
                .cloned()
        };
        match start {
            Some(start) => Report::between(&start, &now),
            None => Report::from_snapshot(&now),
        }
    }
}
