//! `LongTaskTimer`: how many long-running tasks are active, how old the oldest is, and how long
//! finished ones took (Micrometer's LongTaskTimer).

use super::active_set::{ActiveSet, Slot};
use super::HistogramShape;
use crate::clock::Clock;
use crate::recorder::{Counter, Gauge, Histogram};
use crate::registry::{FamilyDef, Opts, Registry, RegistryError};
use std::fmt;
use std::sync::{Arc, Weak};

/// The families a [`LongTaskTimer`] registers: each name is the timer's name, `_`, then the
/// entry's; each help the timer's help, a space, then the entry's; the labels are the timer's.
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Tasks running now.
    pub(crate) const ACTIVE_TASKS: FamilyDef =
        FamilyDef::gauge("active_tasks", "Tasks running now.")
            .caller_prefix()
            .caller_labels()
            .not_tabled("a gauge");
    /// Durations of finished tasks.
    pub(crate) const DURATION: FamilyDef =
        FamilyDef::histogram("duration_seconds", "Duration of finished tasks.")
            .unit(Unit::Seconds)
            .caller_prefix()
            .caller_labels()
            .table(
                TableSpec::new("long tasks", "{family}{labels}")
                    .with_rank(900)
                    .with_family_suffix("_duration_seconds"),
            );
    /// Starts beyond the start-time table.
    pub(crate) const UNTRACKED: FamilyDef = FamilyDef::counter(
        "untracked",
        "Tasks started while the start-time table was full.",
    )
    .caller_prefix()
    .caller_labels()
    .not_tabled("a counter");
    /// Age of the oldest running task, read at scrape.
    pub(crate) const OLDEST_ACTIVE_AGE: FamilyDef = FamilyDef::gauge(
        "oldest_active_age_seconds",
        "Age of the oldest running task.",
    )
    .unit(Unit::Seconds)
    .caller_prefix()
    .caller_labels()
    .not_tabled("a gauge");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] =
        &[&ACTIVE_TASKS, &DURATION, &UNTRACKED, &OLDEST_ACTIVE_AGE];
}

struct Inner {
    clock: Clock,
    active: Gauge,
    duration: Histogram,
    untracked: Counter,
    starts: ActiveSet,
}

/// Tracks long-running tasks (backups, compactions, snapshot transfers): while they run, not
/// only after they finish.
///
/// Exports, for base name `X` and the timer's label values:
/// `X_active_tasks` (tasks running now), `X_oldest_active_age_seconds` (age of the oldest
/// running task, 0 when none), `X_duration_seconds` (histogram of finished tasks) and
/// `X_untracked_total` (tasks started while the start-time table was full: counted as active
/// and timed, but not in the oldest age). Cloning shares the timer.
///
/// ```
/// use perf_instrument::{Clock, LongTaskTimer, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let backups = LongTaskTimer::builder("backup")
///     .labels(&[("kind", "full")])
///     .clock(clock)
///     .build(&registry)
///     .unwrap();
/// let task = backups.start();
/// hand.advance(Duration::from_secs(90));
/// assert_eq!(backups.active(), 1);
/// assert_eq!(backups.oldest_active_age(), Some(Duration::from_secs(90)));
/// drop(task);
/// assert_eq!(backups.active(), 0);
/// ```
#[derive(Clone)]
pub struct LongTaskTimer {
    inner: Arc<Inner>,
}

/// Configures a [`LongTaskTimer`].
///
/// ```
/// let b = perf_instrument::LongTaskTimer::builder("compaction").capacity(64);
/// # let _ = b;
/// ```
#[derive(Debug)]
pub struct LongTaskTimerBuilder {
    name: String,
    help: Option<String>,
    labels: Vec<(String, String)>,
    capacity: usize,
    clock: Option<Clock>,
    shape: HistogramShape,
}

impl LongTaskTimerBuilder {
    /// Native schema of this instrument's histograms, 0 to 8 (default 3): see
    /// [`Opts::schema`](crate::Opts::schema). Outside `0..=8`, `build` fails with
    /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::LongTaskTimer::builder("backup").schema(5).build(&r).is_ok());
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: i32) -> Self {
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of the finished tasks' duration histogram (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) the unit). The families are
    /// shared by every instrument of this kind in a registry, so they must agree on them, as on
    /// the schema.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, Unit};
    /// let r = Registry::new();
    /// let coarse = Buckets::from_values(Unit::Seconds, &[0.25, 1.0, 4.0]);
    /// let _it = perf_instrument::LongTaskTimer::builder("backup").buckets(coarse).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// // Three bounds and `+Inf`.
    /// assert_eq!(text.lines().filter(|l| l.starts_with("backup_duration_seconds_bucket")).count(), 4);
    /// ```
    #[must_use]
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
        self
    }

    /// Help text (a generic one by default).
    ///
    /// ```
    /// let b = perf_instrument::LongTaskTimer::builder("backup").help("Database backups.");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Label names and values of this timer.
    ///
    /// ```
    /// let b = perf_instrument::LongTaskTimer::builder("backup").labels(&[("db", "orders")]);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = labels
            .iter()
            .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
            .collect();
        self
    }

    /// Most running tasks whose start times are kept for the oldest age (default 4,096; zero
    /// is refused by `build`).
    ///
    /// ```
    /// let b = perf_instrument::LongTaskTimer::builder("backup").capacity(16);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The clock (default: the process clock).
    ///
    /// ```
    /// let b = perf_instrument::LongTaskTimer::builder("backup").clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Registers the families (shared with other timers of the same name) and builds the timer.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] for an invalid name or labels, or a clash with other families;
    /// [`RegistryError::ZeroSetting`] for a zero `capacity`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::LongTaskTimer::builder("bad name").build(&r).is_err());
    /// ```
    pub fn build(self, registry: &Registry) -> Result<LongTaskTimer, RegistryError> {
        if self.capacity == 0 {
            return Err(RegistryError::ZeroSetting {
                setting: "capacity",
            });
        }
        let name = &self.name;
        let help = self.help.as_deref().unwrap_or("Long-running tasks.");
        let names: Vec<&str> = self.labels.iter().map(|(n, _)| n.as_str()).collect();
        let values: Vec<&str> = self.labels.iter().map(|(_, v)| v.as_str()).collect();
        let opts =
            |def: &FamilyDef| -> Opts { def.prefixed_opts(name, help).labels(names.clone()) };
        let active = registry
            .register_gauge(opts(&families::ACTIVE_TASKS))?
            .with_label_values(&values);
        let duration = registry
            .register_histogram(self.shape.apply(opts(&families::DURATION)))?
            .with_label_values(&values);
        let untracked = registry
            .register_counter(opts(&families::UNTRACKED))?
            .with_label_values(&values);
        let oldest = registry
            .register_fn_gauge(opts(&families::OLDEST_ACTIVE_AGE))?
            .with_label_values(&values);
        let inner = Arc::new(Inner {
            clock: self.clock.unwrap_or_else(|| Clock::global().clone()),
            active,
            duration,
            untracked,
            starts: ActiveSet::new(self.capacity),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        oldest.set_fn(move || {
            let timer = LongTaskTimer {
                inner: weak.upgrade()?,
            };
            Some(timer.oldest_active_age().map_or(0.0, |d| d.as_secs_f64()))
        });
        Ok(LongTaskTimer { inner })
    }
}

impl LongTaskTimer {
    /// A builder for timers of base name `name`.
    ///
    /// ```
    /// let b = perf_instrument::LongTaskTimer::builder("snapshot_transfer");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder(name: impl Into<String>) -> LongTaskTimerBuilder {
        LongTaskTimerBuilder {
            name: name.into(),
            help: None,
            labels: Vec::new(),
            capacity: 4_096,
            clock: None,
            shape: HistogramShape::default(),
        }
    }

    /// Starts a task; it counts as active until the returned guard drops (also on panic or
    /// cancellation), and its duration is recorded then.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let t = perf_instrument::LongTaskTimer::builder("job").build(&r).unwrap();
    /// let task = t.start();
    /// assert_eq!(t.active(), 1);
    /// drop(task);
    /// ```
    pub fn start(&self) -> LongTask {
        let start = self.inner.clock.raw();
        self.inner.active.inc();
        let slot = self.inner.starts.insert(start);
        if slot.is_none() {
            self.inner.untracked.inc();
        }
        LongTask {
            inner: self.inner.clone(),
            start,
            slot,
        }
    }

    /// Tasks running now.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let t = perf_instrument::LongTaskTimer::builder("job").build(&r).unwrap();
    /// assert_eq!(t.active(), 0);
    /// ```
    #[must_use]
    pub fn active(&self) -> i64 {
        self.inner.active.get()
    }

    /// Age of the oldest running task whose start time is kept; `None` when none runs.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let t = perf_instrument::LongTaskTimer::builder("job").build(&r).unwrap();
    /// assert_eq!(t.oldest_active_age(), None);
    /// ```
    #[must_use]
    pub fn oldest_active_age(&self) -> Option<std::time::Duration> {
        let oldest = self.inner.starts.oldest()?;
        Some(self.inner.clock.elapsed(oldest))
    }
}

impl fmt::Debug for LongTaskTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongTaskTimer")
            .field("active", &self.active())
            .field("oldest_active_age", &self.oldest_active_age())
            .finish()
    }
}

/// A running task of a [`LongTaskTimer`]; finishing (dropping) it records its duration.
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let t = perf_instrument::LongTaskTimer::builder("job").build(&r).unwrap();
/// let task = t.start();
/// let took = task.finish();
/// assert!(took.as_secs() < 60);
/// ```
#[must_use = "the task ends when this guard is dropped"]
pub struct LongTask {
    inner: Arc<Inner>,
    start: u64,
    slot: Option<Slot>,
}

impl LongTask {
    /// Ends the task now and returns its duration.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let t = perf_instrument::LongTaskTimer::builder("job").build(&r).unwrap();
    /// let _ = t.start().finish();
    /// assert_eq!(t.active(), 0);
    /// ```
    pub fn finish(self) -> std::time::Duration {
        self.inner.clock.elapsed(self.start)
    }
}

impl Drop for LongTask {
    fn drop(&mut self) {
        let nanos = self
            .inner
            .clock
            .delta_nanos(self.start, self.inner.clock.raw());
        self.inner.duration.record(nanos);
        if let Some(slot) = self.slot.take() {
            self.inner.starts.remove(slot);
        }
        self.inner.active.dec();
    }
}

impl fmt::Debug for LongTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongTask")
            .field("age", &self.inner.clock.elapsed(self.start))
            .finish()
    }
}
