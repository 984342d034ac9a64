//! Setting a tracker up: [`SagaTrackerBuilder`], its [`SagaError`]s, and the dense
//! [`SagaStep`] / [`SagaFailureReason`] handles events take.

use super::state::MAX_STEPS;
use crate::clock::Clock;
use crate::registry::RegistryError;
use std::time::Duration;

/// Longest saga, step or failure-reason name, in bytes.
pub(super) const MAX_NAME_LEN: usize = 64;
/// Most failure reasons a saga type may declare (besides `other`).
pub(super) const MAX_FAILURE_REASONS: usize = 64;
/// The failure reason every tracker has, at index 0.
pub(super) const OTHER_REASON: &str = "other";
/// Most entries a report list may hold.
pub(super) const MAX_REPORT_ENTRIES: usize = 1_000;
/// The byte bounds a rendered view is clamped to.
pub(super) const VIEW_BYTES_MIN: usize = 1024;
pub(super) const VIEW_BYTES_MAX: usize = 1 << 20;
/// Most shards a tracker may have.
const MAX_SHARDS: usize = 4096;

/// Why a tracker could not be built or a handle not found. Each message says what to change.
///
/// ```
/// use perf_instrument::saga::SagaError;
/// use perf_instrument::{Registry, SagaTracker};
/// let err = SagaTracker::builder("order").build(&Registry::new()).unwrap_err();
/// assert!(matches!(err, SagaError::NoSteps { .. }));
/// assert!(err.to_string().contains("steps(["));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SagaError {
    /// A saga, step or failure-reason name is empty, too long or has control characters.
    #[error(
        "invalid {what} name {name:?}: {reason}; use 1 to 64 bytes without control characters"
    )]
    InvalidName {
        /// What the name is for: `saga`, `step` or `failure reason`.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two steps (or two failure reasons) have the same name.
    #[error("{what} {name:?} is declared twice for saga {saga:?}; give each a distinct name")]
    DuplicateName {
        /// `step` or `failure reason`.
        what: &'static str,
        /// The repeated name.
        name: String,
        /// The saga type.
        saga: String,
    },
    /// No steps were declared.
    #[error("saga {saga:?} declares no steps; pass their names to `steps([...])`")]
    NoSteps {
        /// The saga type.
        saga: String,
    },
    /// More steps or failure reasons than a tracker supports.
    #[error(
        "saga {saga:?} declares {count} {what}s; at most {max} are supported \
         (merge some, or split the saga type)"
    )]
    TooMany {
        /// `step` or `failure reason`.
        what: &'static str,
        /// The saga type.
        saga: String,
        /// How many were declared.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A duration that must be positive was zero.
    #[error("{what} must be longer than zero; pass a positive duration")]
    ZeroDuration {
        /// Which setting: `deadline`, `stuck_after` or `sweep period`.
        what: &'static str,
    },
    /// A count that must be positive was zero (`max_active(0)`, `shards(0)`).
    #[error("{what} must be at least 1; pass a positive count")]
    ZeroCount {
        /// Which setting: `max_active` or `shards`.
        what: &'static str,
    },
    /// [`SagaTracker::step`](crate::SagaTracker::step) with a name that was not declared.
    #[error("saga {saga:?} has no step {name:?}; its steps are {steps:?}")]
    UnknownStep {
        /// The saga type.
        saga: String,
        /// The name asked for.
        name: String,
        /// The declared steps.
        steps: Vec<String>,
    },
    /// [`SagaTracker::failure_reason`](crate::SagaTracker::failure_reason) with a name that
    /// was not declared.
    #[error(
        "saga {saga:?} has no failure reason {name:?}; declare it with \
         `failure_reasons([...])` (declared: {reasons:?})"
    )]
    UnknownFailureReason {
        /// The saga type.
        saga: String,
        /// The name asked for.
        name: String,
        /// The declared reasons.
        reasons: Vec<String>,
    },
    /// Registering the saga families failed (another family already uses one of the names
    /// with another shape).
    #[error("registering the saga metrics failed: {0}")]
    Registry(#[from] RegistryError),
}

/// A step of one tracker's saga type: a small `Copy` handle, resolved once at setup, that the
/// step events take (no string lookup per event).
///
/// ```
/// use perf_instrument::{Registry, SagaTracker};
/// let tracker = SagaTracker::builder("order")
///     .steps(["reserve_stock", "charge_payment"])
///     .build(&Registry::new())
///     .unwrap();
/// let charge = tracker.step("charge_payment").unwrap();
/// assert_eq!(charge.index(), 1);
/// assert_eq!(tracker.step_name(charge), Some("charge_payment"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct SagaStep {
    pub(super) tracker: u32,
    pub(super) index: u8,
}

impl SagaStep {
    /// The step's position in the declared order, from 0.
    ///
    /// ```
    /// use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a", "b"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.step("a").unwrap().index(), 0);
    /// ```
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.index)
    }
}

/// Why a saga failed, for [`SagaTracker::failed`](crate::SagaTracker::failed): a `Copy`
/// handle to one of the reasons declared at setup (the `reason` label of
/// `saga_failures_total`). [`SagaFailureReason::OTHER`] (`"other"`) exists in every tracker.
///
/// ```
/// use perf_instrument::saga::SagaFailureReason;
/// use perf_instrument::{Registry, SagaTracker};
/// let tracker = SagaTracker::builder("order")
///     .steps(["charge_payment"])
///     .failure_reasons(["payment_declined"])
///     .build(&Registry::new())
///     .unwrap();
/// let declined = tracker.failure_reason("payment_declined").unwrap();
/// tracker.start(1u64);
/// assert!(tracker.failed(1u64, declined).is_accepted());
/// tracker.start(2u64);
/// assert!(tracker.failed(2u64, SagaFailureReason::OTHER).is_accepted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct SagaFailureReason {
    pub(super) tracker: u32,
    pub(super) index: u8,
}

impl SagaFailureReason {
    /// The reason `"other"`, valid for every tracker.
    ///
    /// ```
    /// # use perf_instrument::saga::SagaFailureReason;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// # let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.failure_reason("other").unwrap(), SagaFailureReason::OTHER);
    /// ```
    pub const OTHER: SagaFailureReason = SagaFailureReason {
        tracker: ANY_TRACKER,
        index: 0,
    };
}

/// The tag of handles valid for every tracker.
pub(super) const ANY_TRACKER: u32 = 0;

/// Configures a [`SagaTracker`](crate::SagaTracker): its steps, deadline, stuck threshold,
/// capacity, clock and view bounds.
///
/// Defaults: deadline 5 min, stuck after 1 min without progress, 10,000 active sagas at most,
/// the last 10,000 finished ids remembered, `4 × cores` shards (a power of two, at least 4),
/// the process clock ([`Clock::global`]), views of 20 entries per list and 64 KiB.
///
/// ```
/// use perf_instrument::{Registry, SagaTracker};
/// use std::time::Duration;
/// let tracker = SagaTracker::builder("order")
///     .steps(["reserve_stock", "charge_payment", "ship"])
///     .failure_reasons(["out_of_stock", "payment_declined"])
///     .deadline(Duration::from_secs(600))
///     .stuck_after(Duration::from_secs(120))
///     .max_active(50_000)
///     .build(&Registry::new())
///     .unwrap();
/// assert_eq!(tracker.name(), "order");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SagaTrackerBuilder {
    pub(super) name: String,
    pub(super) steps: Vec<String>,
    pub(super) failure_reasons: Vec<String>,
    pub(super) deadline: Duration,
    pub(super) stuck_after: Duration,
    pub(super) max_active: usize,
    pub(super) recent_finished: usize,
    pub(super) shards: Option<usize>,
    pub(super) clock: Option<Clock>,
    pub(super) view_entries: usize,
    pub(super) view_bytes: usize,
    pub(super) shape: crate::instrument::HistogramShape,
    pub(super) saga_buckets: Option<crate::registry::Buckets>,
    pub(super) exemplars_over: Option<Duration>,
}

impl SagaTrackerBuilder {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            steps: Vec::new(),
            failure_reasons: Vec::new(),
            deadline: Duration::from_secs(300),
            stuck_after: Duration::from_secs(60),
            max_active: 10_000,
            recent_finished: 10_000,
            shards: None,
            clock: None,
            view_entries: 20,
            view_bytes: 64 * 1024,
            shape: crate::instrument::HistogramShape::default(),
            saga_buckets: None,
            exemplars_over: None,
        }
    }

    /// Sagas that end (completed, failed or compensated) after at least `threshold` carry
    /// their id as an exemplar, `saga_id="…"`, on `saga_duration_seconds`, so a slow bucket
    /// leads to a saga to look up. Off by default (it allocates per such saga); an id over 128
    /// characters with the label name is refused and counted in
    /// `perf_instrument_exemplars_refused_total`, its duration recorded all the same.
    ///
    /// ```
    /// use perf_instrument::{Format, Registry, SagaTracker};
    /// use std::time::Duration;
    /// let registry = Registry::new();
    /// let t = SagaTracker::builder("order").steps(["a"])
    ///     .exemplars_over(Duration::ZERO)
    ///     .build(&registry).unwrap();
    /// t.start("o-17");
    /// t.completed("o-17");
    /// let text = String::from_utf8(perf_instrument::render_as(&registry, Format::OpenMetrics)).unwrap();
    /// assert!(text.contains("# {saga_id=\"o-17\"}"));
    /// ```
    pub fn exemplars_over(mut self, threshold: Duration) -> Self {
        self.exemplars_over = Some(threshold);
        self
    }

    /// Native schema of the saga and step duration histograms, 0 to 8 (default 3; see
    /// [`Opts::schema`](crate::Opts::schema)). Every tracker of a registry shares these
    /// families, so they must agree on it (another schema is a registry error); outside
    /// `0..=8`, `build` fails with a registry error too.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let r = Registry::new();
    /// assert!(SagaTracker::builder("s").steps(["a"]).schema(6).build(&r).is_ok());
    /// assert!(SagaTracker::builder("t").steps(["a"]).schema(99).build(&Registry::new()).is_err());
    /// ```
    pub fn schema(mut self, schema: i32) -> Self {
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of `saga_step_duration_seconds` (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) seconds). Every tracker of a
    /// registry shares the family, so they must agree on them, as on the schema.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, SagaTracker, Unit};
    /// let r = Registry::new();
    /// let steps = Buckets::from_values(Unit::Seconds, &[0.01, 0.1, 1.0]);
    /// let _t = SagaTracker::builder("s").steps(["a"]).buckets(steps).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// let lines = text.lines().filter(|l| l.starts_with("saga_step_duration_seconds_bucket"));
    /// assert_eq!(lines.count(), 4);
    /// ```
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
        self
    }

    /// Classic buckets of `saga_duration_seconds`, whole sagas from start to end (default: two
    /// per octave from 7.8 ms to 68 min).
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, SagaTracker, Unit};
    /// let r = Registry::new();
    /// let sagas = Buckets::from_values(Unit::Seconds, &[1.0, 60.0, 3600.0]);
    /// let _t = SagaTracker::builder("s").steps(["a"]).saga_buckets(sagas).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// let mut le: Vec<&str> = text.lines()
    ///     .filter(|l| l.starts_with("saga_duration_seconds_bucket"))
    ///     .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
    ///     .collect();
    /// le.sort();
    /// le.dedup();
    /// assert_eq!(le.len(), 4, "three bounds and +Inf, per outcome");
    /// ```
    pub fn saga_buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.saga_buckets = Some(buckets);
        self
    }

    /// The steps, in their forward order (at most 64, distinct names of 1–64 bytes).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a", "b"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.step_names().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn steps<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.steps = names.into_iter().map(Into::into).collect();
        self
    }

    /// The reasons [`failed`](crate::SagaTracker::failed) may give (at most 64), besides
    /// `"other"`, which every tracker has.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).failure_reasons(["declined"])
    ///     .build(&Registry::new()).unwrap();
    /// assert!(t.failure_reason("declined").is_ok());
    /// ```
    pub fn failure_reasons<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.failure_reasons = names.into_iter().map(Into::into).collect();
        self
    }

    /// How long a saga may stay active: a sweep ends sagas older than this as `timed_out`.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker}; use std::time::Duration;
    /// let t = SagaTracker::builder("s").steps(["a"]).deadline(Duration::from_secs(30))
    ///     .build(&Registry::new()).unwrap();
    /// assert_eq!(t.deadline(), Duration::from_secs(30));
    /// ```
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How long without an accepted event makes a saga stuck (`saga_stuck`, the stuck list).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker}; use std::time::Duration;
    /// let t = SagaTracker::builder("s").steps(["a"]).stuck_after(Duration::from_secs(5))
    ///     .build(&Registry::new()).unwrap();
    /// assert_eq!(t.stuck_after(), Duration::from_secs(5));
    /// ```
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.stuck_after = threshold;
        self
    }

    /// The most sagas tracked at once. When full, `start` evicts the oldest saga of the new
    /// saga's shard (outcome `evicted`); see [`SagaTracker`](crate::SagaTracker).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).max_active(100)
    ///     .build(&Registry::new()).unwrap();
    /// assert_eq!(t.max_active(), 100);
    /// ```
    pub fn max_active(mut self, max: usize) -> Self {
        self.max_active = max;
        self
    }

    /// How many finished ids to remember (split evenly across shards), so that a late event
    /// counts as `after_terminal` rather than `unknown_id`. Zero remembers none.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).recent_finished(0)
    ///     .build(&Registry::new()).unwrap();
    /// t.start(1u64);
    /// t.completed(1u64);
    /// assert_eq!(t.completed(1u64), perf_instrument::saga::SagaVerdict::Rejected(
    ///     perf_instrument::saga::SagaRejectReason::TerminalBeforeStart));
    /// ```
    pub fn recent_finished(mut self, count: usize) -> Self {
        self.recent_finished = count;
        self
    }

    /// The number of shards (rounded up to a power of two, at most 4,096; zero is refused by
    /// `build`). Events for ids in
    /// different shards never wait for each other.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).shards(6).build(&Registry::new()).unwrap();
    /// assert_eq!(t.shard_count(), 8);
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The clock (default [`Clock::global`]); [`Clock::manual`] in tests.
    ///
    /// ```
    /// # use perf_instrument::{Clock, Registry, SagaTracker};
    /// let (clock, _hand) = Clock::manual();
    /// let t = SagaTracker::builder("s").steps(["a"]).clock(clock).build(&Registry::new()).unwrap();
    /// # let _ = t;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Bounds of [`view`](crate::SagaTracker::view) and of `Route::saga_view`: at most
    /// `entries` per list (up to 1,000) and `bytes` in all (clamped to 1 KiB – 1 MiB).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).view_limits(5, 4096)
    ///     .build(&Registry::new()).unwrap();
    /// # let _ = t;
    /// ```
    pub fn view_limits(mut self, entries: usize, bytes: usize) -> Self {
        self.view_entries = entries;
        self.view_bytes = bytes;
        self
    }

    /// Validated settings, ready for the tracker.
    pub(super) fn validate(&self) -> Result<Validated, SagaError> {
        check_name("saga", &self.name)?;
        if self.steps.is_empty() {
            return Err(SagaError::NoSteps {
                saga: self.name.clone(),
            });
        }
        let steps = check_names("step", &self.name, &self.steps, MAX_STEPS)?;
        let declared: Vec<String> = self
            .failure_reasons
            .iter()
            .filter(|r| *r != OTHER_REASON)
            .cloned()
            .collect();
        let mut reasons = vec![OTHER_REASON.to_string()];
        reasons.extend(check_names(
            "failure reason",
            &self.name,
            &declared,
            MAX_FAILURE_REASONS,
        )?);
        if self.deadline.is_zero() {
            return Err(SagaError::ZeroDuration { what: "deadline" });
        }
        if self.stuck_after.is_zero() {
            return Err(SagaError::ZeroDuration {
                what: "stuck_after",
            });
        }
        if self.max_active == 0 {
            return Err(SagaError::ZeroCount { what: "max_active" });
        }
        if self.shards == Some(0) {
            return Err(SagaError::ZeroCount { what: "shards" });
        }
        let shards = self
            .shards
            .unwrap_or_else(default_shards)
            .clamp(1, MAX_SHARDS)
            .next_power_of_two();
        Ok(Validated {
            steps,
            reasons,
            deadline_ns: nanos(self.deadline),
            stuck_after_ns: nanos(self.stuck_after),
            shards,
            recent_per_shard: self.recent_finished.div_ceil(shards),
            view_entries: self.view_entries.min(MAX_REPORT_ENTRIES),
            view_bytes: self.view_bytes.clamp(VIEW_BYTES_MIN, VIEW_BYTES_MAX),
        })
    }
}

/// What `validate` derives from a builder.
pub(super) struct Validated {
    pub(super) steps: Vec<String>,
    pub(super) reasons: Vec<String>,
    pub(super) deadline_ns: u64,
    pub(super) stuck_after_ns: u64,
    pub(super) shards: usize,
    pub(super) recent_per_shard: usize,
    pub(super) view_entries: usize,
    pub(super) view_bytes: usize,
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Four shards per core, so that two threads rarely want the same shard.
fn default_shards() -> usize {
    #[cfg(perf_instrument_loom)]
    {
        4
    }
    #[cfg(not(perf_instrument_loom))]
    {
        let cores = std::thread::available_parallelism().map_or(4, usize::from);
        (4 * cores).max(4)
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), SagaError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_LEN {
        "it is longer than 64 bytes"
    } else if name.chars().any(char::is_control) {
        "it has control characters"
    } else {
        return Ok(());
    };
    Err(SagaError::InvalidName {
        what,
        name: name.to_string(),
        reason,
    })
}

fn check_names(
    what: &'static str,
    saga: &str,
    names: &[String],
    max: usize,
) -> Result<Vec<String>, SagaError> {
    if names.len() > max {
        return Err(SagaError::TooMany {
            what,
            saga: saga.to_string(),
            count: names.len(),
            max,
        });
    }
    for (i, name) in names.iter().enumerate() {
        check_name(what, name)?;
        if names[..i].contains(name) {
            return Err(SagaError::DuplicateName {
                what,
                name: name.clone(),
                saga: saga.to_string(),
            });
        }
    }
    Ok(names.to_vec())
}
