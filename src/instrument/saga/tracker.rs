//! [`SagaTracker`]: the events of one saga type, applied to a sharded table of active sagas.

use super::config::{SagaError, SagaFailureReason, SagaStep, SagaTrackerBuilder, ANY_TRACKER};
use super::id::{IdKeys, Key, SagaIdRef};
use super::metrics::SagaMetrics;
use super::outcome::{SagaOutcome, SagaRejectReason, SagaVerdict};
use super::shard::Shard;
use super::state::{Effect, StepEvent};
use crate::clock::Clock;
use crate::registry::Registry;
use crate::sync::{self, lazy_global, Arc, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::mem::size_of;
use std::time::Duration;

lazy_global! {
    static NEXT_TAG: AtomicU64 = AtomicU64::new(1);
}

/// Tracks the sagas of one type: how many are active, stuck or timed out, how long they and
/// their steps take by outcome, and which ones an operator should look at.
///
/// A saga is a multi-step transaction across services (order → reserve stock → charge payment
/// → ship, with compensations when a step fails). The service reports each saga's events by
/// its own id (a string of at most [`MAX_SAGA_ID_LEN`](crate::saga::MAX_SAGA_ID_LEN) bytes, or an
/// integer); the tracker keeps each active saga in one of `N` mutex-protected shards chosen by
/// the id's hash, so events for different sagas from many threads rarely meet on a lock. An
/// event takes one shard lock, never allocates (except `start`, to store the new saga) and
/// records through metric handles resolved at construction. Cloning shares the tracker.
///
/// # Lifecycle
///
/// [`start`](Self::start); per step [`step_started`](Self::step_started) then
/// [`step_completed`](Self::step_completed) or [`step_failed`](Self::step_failed); on the way
/// back [`compensating`](Self::compensating) then [`compensated`](Self::compensated) per step;
/// and exactly one terminal event: [`completed`](Self::completed), [`failed`](Self::failed) or
/// [`compensated_saga`](Self::compensated_saga) (the saga-level counterpart of the step-level
/// `compensated`). The tracker ends sagas itself as `timed_out` (a [`sweep`](Self::sweep) finds
/// them past their deadline) or `evicted` (capacity). Forward steps run one at a time in the
/// declared order and may be skipped; a failed step may be started again (a retry).
/// Compensations run one at a time, for steps that started, in any order; once one starts, no
/// forward step may. Terminal events are accepted in any state of an active saga.
///
/// # Metrics
///
/// Registered in the given registry, shared by all trackers through the `saga` label:
/// `saga_started_total{saga}`, `saga_finished_total{saga,outcome}`, `saga_active{saga}`,
/// `saga_duration_seconds{saga,outcome}`, `saga_step_duration_seconds{saga,step}` (completed
/// steps), `saga_step_failures_total{saga,step}`, `saga_compensations_total{saga,step}`
/// (compensations started), `saga_failures_total{saga,reason}`, `saga_stuck{saga}`,
/// `saga_oldest_active_age_seconds{saga}` (as of the last sweep),
/// `saga_events_rejected_total{saga,reason}` and `saga_sweeper_running{saga}`. Outcomes are
/// `completed`, `failed`, `compensated`, `timed_out`, `evicted`. Use one tracker per saga name
/// and registry: two trackers of one name would share (and overwrite) each other's gauges.
///
/// The completion ratio over the last hour, per saga type (stuck sagas count against it once
/// they time out or are evicted):
///
/// ```text
/// sum by (saga) (rate(saga_finished_total{outcome="completed"}[1h]))
///   / sum by (saga) (rate(saga_finished_total[1h]))
/// ```
///
/// # Anomalies
///
/// A refused event never panics and never moves a gauge; it increments
/// `saga_events_rejected_total{reason}` once and returns [`SagaVerdict::Rejected`]:
///
/// | reason | when | policy |
/// | --- | --- | --- |
/// | `id_too_long` | a string id over 64 bytes | ignored |
/// | `invalid_handle` | a step or reason handle of another tracker | ignored |
/// | `unknown_id` | a step event for an id neither active nor recently finished | ignored |
/// | `duplicate_start` | `start` for an active id | the running saga is kept as it is |
/// | `duplicate_step` | a step event repeating an accepted one | ignored, no progress |
/// | `out_of_order_step` | a step event that does not fit the saga's state | ignored, no progress |
/// | `after_terminal` | any event, `start` included, for a recently finished id | ignored: ids are not reused while remembered |
/// | `terminal_before_start` | a terminal event for an id never started | ignored; the id is remembered as finished, so a `start` delivered late for it is `after_terminal` instead of a saga left active |
///
/// Finished ids are remembered in a bounded memory: the last
/// [`recent_finished`](SagaTrackerBuilder::recent_finished) ids (default 10,000, split evenly
/// across shards, each shard forgetting its oldest first). Beyond it a late event counts as
/// `unknown_id` (or `terminal_before_start`).
///
/// **Capacity.** At most [`max_active`](SagaTrackerBuilder::max_active) sagas are tracked.
/// A `start` beyond it evicts the oldest saga of the new saga's shard — outcome `evicted`, its
/// age recorded in `saga_duration_seconds{outcome="evicted"}` — and tracks the new one, so the
/// tracker keeps measuring current traffic while the leaked sagas that filled it go. (Shards
/// split sagas by id hash, so that saga is the oldest of a random `1/N` of the active ones.) If
/// that shard holds none, the new saga is dropped at once instead ([`SagaVerdict::Dropped`],
/// also counted as started and `evicted`). Events for evicted ids are `after_terminal`.
///
/// # Sweeps
///
/// [`sweep`](Self::sweep) (called by the user, or every period by
/// [`spawn_sweeper`](Self::spawn_sweeper)'s thread) ends sagas older than the deadline as
/// `timed_out` and marks as stuck those without an accepted event for longer than
/// [`stuck_after`](SagaTrackerBuilder::stuck_after); progress unmarks them. A saga past its
/// deadline stays active until a sweep sees it, so a completion arriving first is `completed`.
/// [`report`](Self::report) and [`view`](Self::view) list the stuck and the oldest
/// active sagas.
///
/// ```
/// use perf_instrument::{render_as, Clock, Format, Registry, SagaTracker};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let orders = SagaTracker::builder("order")
///     .steps(["reserve_stock", "charge_payment", "ship"])
///     .deadline(Duration::from_secs(300))
///     .stuck_after(Duration::from_secs(60))
///     .clock(clock)
///     .build(&registry)
///     .unwrap();
/// let reserve = orders.step("reserve_stock").unwrap();
///
/// orders.start("o-1");
/// orders.step_started("o-1", reserve);
/// hand.advance(Duration::from_millis(40));
/// orders.step_completed("o-1", reserve);
/// orders.completed("o-1");
///
/// let text = String::from_utf8(render_as(&registry, Format::PrometheusText)).unwrap();
/// assert!(text.contains("saga_finished_total{saga=\"order\",outcome=\"completed\"} 1"));
/// assert!(text.contains("saga_active{saga=\"order\"} 0"));
/// ```
#[derive(Clone)]
pub struct SagaTracker {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) name: String,
    tag: u32,
    pub(super) steps: Box<[String]>,
    reasons: Box<[String]>,
    pub(super) deadline_ns: u64,
    pub(super) stuck_after_ns: u64,
    max_active: usize,
    pub(super) recent_per_shard: usize,
    /// Sagas ending after at least this many nanoseconds carry their id as an exemplar.
    exemplars_over_ns: Option<u64>,
    pub(super) view_entries: usize,
    pub(super) view_bytes: usize,
    clock: Clock,
    hasher: IdKeys,
    pub(super) shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Active sagas across shards (reserved before an insert, so never above `max_active`).
    pub(super) active: AtomicUsize,
    pub(super) metrics: SagaMetrics,
    /// Makes the next sweep panic (the sweeper's panic handling is tested with it).
    #[cfg(test)]
    pub(super) panic_next_sweep: crate::sync::AtomicBool,
}

/// How much a tracker holds, and roughly how many bytes that takes.
///
/// ```
/// # use perf_instrument::{Registry, SagaTracker};
/// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
/// t.start(1u64);
/// let m = t.memory();
/// assert_eq!((m.active, m.remembered_finished), (1, 0));
/// assert!(m.bytes > 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SagaMemory {
    /// Active sagas held.
    pub active: usize,
    /// Finished ids remembered.
    pub remembered_finished: usize,
    /// Bytes held: the tracker and its shards, the maps' allocations and the queues'
    /// capacities (allocator overhead and the metric series not included).
    pub bytes: usize,
}

impl SagaTracker {
    /// A builder for a tracker of the saga type `name` (the `saga` label value).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("payment").steps(["authorize", "capture"])
    ///     .build(&Registry::new()).unwrap();
    /// assert_eq!(t.name(), "payment");
    /// ```
    pub fn builder(name: impl Into<String>) -> SagaTrackerBuilder {
        SagaTrackerBuilder::new(name)
    }

    pub(super) fn from_builder(
        builder: SagaTrackerBuilder,
        registry: &Registry,
    ) -> Result<Self, SagaError> {
        let v = builder.validate()?;
        let metrics = SagaMetrics::register(
            registry,
            &builder.name,
            &v.steps,
            &v.reasons,
            &builder.shape,
            builder.saga_buckets.clone(),
        )?;
        // Tags start at 1 (0 is `ANY_TRACKER`); wrapping after 2^32 trackers only weakens the
        // foreign-handle check.
        let tag = (NEXT_TAG.fetch_add(1, Ordering::Relaxed) as u32).max(1);
        let shards = (0..v.shards)
            .map(|_| CachePadded::new(Mutex::new(Shard::default())))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                name: builder.name,
                tag,
                steps: v.steps.into(),
                reasons: v.reasons.into(),
                deadline_ns: v.deadline_ns,
                stuck_after_ns: v.stuck_after_ns,
                max_active: builder.max_active,
                recent_per_shard: v.recent_per_shard,
                exemplars_over_ns: builder.exemplars_over.map(super::config::nanos),
                view_entries: v.view_entries,
                view_bytes: v.view_bytes,
                clock: builder.clock.unwrap_or_else(|| Clock::global().clone()),
                hasher: IdKeys::default(),
                shards,
                active: AtomicUsize::new(0),
                metrics,
                #[cfg(test)]
                panic_next_sweep: crate::sync::AtomicBool::new(false),
            }),
        })
    }

    /// The saga type's name.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.name(), "order");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The handle of step `name`, for the step events.
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownStep`] if no step of that name was declared.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["ship"]).build(&Registry::new()).unwrap();
    /// assert!(t.step("ship").is_ok());
    /// assert!(t.step("fly").is_err());
    /// ```
    pub fn step(&self, name: &str) -> Result<SagaStep, SagaError> {
        let index = self.inner.steps.iter().position(|s| s == name);
        match index {
            Some(i) => Ok(SagaStep {
                tracker: self.inner.tag,
                index: i as u8,
            }),
            None => Err(SagaError::UnknownStep {
                saga: self.inner.name.clone(),
                name: name.to_string(),
                steps: self.inner.steps.to_vec(),
            }),
        }
    }

    /// Every step's handle, in the declared order.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a", "b"]).build(&Registry::new()).unwrap();
    /// let [a, b] = t.steps()[..] else { panic!() };
    /// assert_eq!((a.index(), b.index()), (0, 1));
    /// ```
    #[must_use]
    pub fn steps(&self) -> Vec<SagaStep> {
        (0..self.inner.steps.len())
            .map(|i| SagaStep {
                tracker: self.inner.tag,
                index: i as u8,
            })
            .collect()
    }

    /// The declared step names, in order.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a", "b"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.step_names().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.inner.steps.iter().map(String::as_str)
    }

    /// The name of `step`, or `None` for a handle of another tracker.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["ship"]).build(&Registry::new()).unwrap();
    /// let ship = t.step("ship").unwrap();
    /// assert_eq!(t.step_name(ship), Some("ship"));
    /// ```
    #[must_use]
    pub fn step_name(&self, step: SagaStep) -> Option<&str> {
        self.step_index(step)
            .map(|i| self.inner.steps[usize::from(i)].as_str())
    }

    /// The handle of failure reason `name` (`"other"` always exists).
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownFailureReason`] if no reason of that name was declared.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).failure_reasons(["declined"])
    ///     .build(&Registry::new()).unwrap();
    /// assert!(t.failure_reason("declined").is_ok());
    /// assert!(t.failure_reason("bored").is_err());
    /// ```
    pub fn failure_reason(&self, name: &str) -> Result<SagaFailureReason, SagaError> {
        match self.inner.reasons.iter().position(|r| r == name) {
            Some(0) => Ok(SagaFailureReason::OTHER),
            Some(i) => Ok(SagaFailureReason {
                tracker: self.inner.tag,
                index: i as u8,
            }),
            None => Err(SagaError::UnknownFailureReason {
                saga: self.inner.name.clone(),
                name: name.to_string(),
                reasons: self.inner.reasons.to_vec(),
            }),
        }
    }

    /// The deadline after which a sweep times a saga out.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.deadline().as_secs(), 300);
    /// ```
    #[must_use]
    pub fn deadline(&self) -> Duration {
        Duration::from_nanos(self.inner.deadline_ns)
    }

    /// How long without progress makes a saga stuck.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.stuck_after().as_secs(), 60);
    /// ```
    #[must_use]
    pub fn stuck_after(&self) -> Duration {
        Duration::from_nanos(self.inner.stuck_after_ns)
    }

    /// The most sagas tracked at once.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.max_active(), 10_000);
    /// ```
    #[must_use]
    pub fn max_active(&self) -> usize {
        self.inner.max_active
    }

    /// The number of shards.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert!(t.shard_count().is_power_of_two() && t.shard_count() >= 4);
    /// ```
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// Sagas active now.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("x");
    /// assert_eq!(t.active_count(), 1);
    /// ```
    #[must_use]
    pub fn active_count(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Sagas started so far (`saga_started_total`).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("x");
    /// t.start("x"); // duplicate: not counted
    /// assert_eq!(t.started_count(), 1);
    /// ```
    #[must_use]
    pub fn started_count(&self) -> u64 {
        self.inner.metrics.started.get()
    }

    /// Sagas that ended with `outcome` so far (`saga_finished_total{outcome}`).
    ///
    /// ```
    /// # use perf_instrument::saga::SagaOutcome;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("x");
    /// t.completed("x");
    /// assert_eq!(t.finished_count(SagaOutcome::Completed), 1);
    /// ```
    #[must_use]
    pub fn finished_count(&self, outcome: SagaOutcome) -> u64 {
        self.inner.metrics.finished[outcome.index()].get()
    }

    /// Events refused for `reason` so far (`saga_events_rejected_total{reason}`).
    ///
    /// ```
    /// # use perf_instrument::saga::SagaRejectReason;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.completed("never-started");
    /// assert_eq!(t.rejected_count(SagaRejectReason::TerminalBeforeStart), 1);
    /// ```
    #[must_use]
    pub fn rejected_count(&self, reason: SagaRejectReason) -> u64 {
        self.inner.metrics.rejected[reason.index()].get()
    }

    /// Sagas marked stuck and not yet progressed or finished (`saga_stuck`).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.stuck_count(), 0);
    /// ```
    #[must_use]
    pub fn stuck_count(&self) -> usize {
        usize::try_from(self.inner.metrics.stuck.get()).unwrap_or(0)
    }

    /// What the tracker holds and an estimate of its bytes; bounded by `max_active`, the
    /// finished-id memory and the shard count, whatever the traffic.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("s").steps(["a"]).max_active(10).build(&Registry::new()).unwrap();
    /// for id in 0..1000u64 { t.start(id); }
    /// assert_eq!(t.memory().active, 10);
    /// ```
    #[must_use]
    pub fn memory(&self) -> SagaMemory {
        let mut m = SagaMemory {
            active: 0,
            remembered_finished: 0,
            bytes: size_of::<Inner>()
                + self.inner.shards.len() * size_of::<CachePadded<Mutex<Shard>>>(),
        };
        for shard in self.inner.shards.iter() {
            let shard = sync::lock(shard);
            m.active += shard.active.len();
            m.remembered_finished += shard.recent_len();
            m.bytes += shard.heap_bytes();
        }
        m
    }

    /// Starts saga `id`.
    ///
    /// Refused as `duplicate_start` if `id` is active, `after_terminal` if it finished
    /// recently. At capacity, evicts the oldest saga of its shard (see the type docs).
    ///
    /// ```
    /// # use perf_instrument::saga::SagaVerdict;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// assert_eq!(t.start("o-1"), SagaVerdict::Accepted);
    /// assert_eq!(t.start(42u64), SagaVerdict::Accepted);
    /// assert_eq!(t.active_count(), 2);
    /// ```
    pub fn start<'a>(&self, id: impl Into<SagaIdRef<'a>>) -> SagaVerdict {
        let inner = &*self.inner;
        let Some(key) = self.key(id.into()) else {
            return self.reject(SagaRejectReason::IdTooLong);
        };
        let now = self.now();
        let mut shard = self.lock(&key);
        if shard.active.contains_key(&key) {
            drop(shard);
            return self.reject(SagaRejectReason::DuplicateStart);
        }
        if shard.is_recent(&key) {
            drop(shard);
            return self.reject(SagaRejectReason::AfterTerminal);
        }
        let m = &inner.metrics;
        if self.reserve() {
            shard.insert(key, now);
            m.active.inc();
            drop(shard);
            m.started.inc();
            return SagaVerdict::Accepted;
        }
        // Full: make room by evicting the oldest saga of this shard.
        match shard.pop_oldest() {
            Some((old_key, old)) => {
                if old.stuck {
                    m.stuck.dec();
                }
                shard.remember(old_key, inner.recent_per_shard);
                shard.insert(key, now);
                drop(shard);
                m.started.inc();
                self.record_finish(SagaOutcome::Evicted, now.saturating_sub(old.started));
                SagaVerdict::Accepted
            }
            None => {
                shard.remember(key, inner.recent_per_shard);
                drop(shard);
                m.started.inc();
                self.record_finish(SagaOutcome::Evicted, 0);
                SagaVerdict::Dropped
            }
        }
    }

    /// Step `step` of saga `id` started.
    ///
    /// Refused as `duplicate_step` if it is running or done, `out_of_order_step` if another
    /// step runs, a later step already started, or compensation began.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["reserve", "charge"]).build(&Registry::new()).unwrap();
    /// let reserve = t.step("reserve").unwrap();
    /// t.start("o-1");
    /// assert!(t.step_started("o-1", reserve).is_accepted());
    /// ```
    pub fn step_started<'a>(&self, id: impl Into<SagaIdRef<'a>>, step: SagaStep) -> SagaVerdict {
        self.step_event(id.into(), step, StepEvent::Started)
    }

    /// Step `step` of saga `id` completed; records its duration in
    /// `saga_step_duration_seconds{step}`.
    ///
    /// Refused as `duplicate_step` if it already completed, `out_of_order_step` if it is not
    /// the running step.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["reserve"]).build(&Registry::new()).unwrap();
    /// let reserve = t.step("reserve").unwrap();
    /// t.start("o-1");
    /// t.step_started("o-1", reserve);
    /// assert!(t.step_completed("o-1", reserve).is_accepted());
    /// ```
    pub fn step_completed<'a>(&self, id: impl Into<SagaIdRef<'a>>, step: SagaStep) -> SagaVerdict {
        self.step_event(id.into(), step, StepEvent::Completed)
    }

    /// Step `step` of saga `id` failed; counted in `saga_step_failures_total{step}`. The step
    /// may be started again (a retry), or compensations may begin.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["charge"]).build(&Registry::new()).unwrap();
    /// let charge = t.step("charge").unwrap();
    /// t.start("o-1");
    /// t.step_started("o-1", charge);
    /// assert!(t.step_failed("o-1", charge).is_accepted());
    /// assert!(t.step_started("o-1", charge).is_accepted()); // retry
    /// ```
    pub fn step_failed<'a>(&self, id: impl Into<SagaIdRef<'a>>, step: SagaStep) -> SagaVerdict {
        self.step_event(id.into(), step, StepEvent::Failed)
    }

    /// The compensation of step `step` of saga `id` started; counted in
    /// `saga_compensations_total{step}`. The step must have started; no other step may run.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["reserve", "charge"]).build(&Registry::new()).unwrap();
    /// let (reserve, charge) = (t.step("reserve").unwrap(), t.step("charge").unwrap());
    /// t.start("o-1");
    /// t.step_started("o-1", reserve);
    /// t.step_completed("o-1", reserve);
    /// t.step_started("o-1", charge);
    /// t.step_failed("o-1", charge);
    /// assert!(t.compensating("o-1", reserve).is_accepted());
    /// ```
    pub fn compensating<'a>(&self, id: impl Into<SagaIdRef<'a>>, step: SagaStep) -> SagaVerdict {
        self.step_event(id.into(), step, StepEvent::Compensating)
    }

    /// The compensation of step `step` of saga `id` finished.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["reserve"]).build(&Registry::new()).unwrap();
    /// let reserve = t.step("reserve").unwrap();
    /// t.start("o-1");
    /// t.step_started("o-1", reserve);
    /// t.step_completed("o-1", reserve);
    /// t.compensating("o-1", reserve);
    /// assert!(t.compensated("o-1", reserve).is_accepted());
    /// assert!(t.compensated_saga("o-1").is_accepted());
    /// ```
    pub fn compensated<'a>(&self, id: impl Into<SagaIdRef<'a>>, step: SagaStep) -> SagaVerdict {
        self.step_event(id.into(), step, StepEvent::Compensated)
    }

    /// Saga `id` completed (terminal): outcome `completed`.
    ///
    /// ```
    /// # use perf_instrument::saga::SagaOutcome;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// assert!(t.completed("o-1").is_accepted());
    /// assert!(!t.completed("o-1").is_accepted()); // after_terminal
    /// assert_eq!(t.finished_count(SagaOutcome::Completed), 1);
    /// ```
    pub fn completed<'a>(&self, id: impl Into<SagaIdRef<'a>>) -> SagaVerdict {
        self.finish(id.into(), SagaOutcome::Completed, None)
    }

    /// Saga `id` failed (terminal) for `reason`: outcome `failed`, and
    /// `saga_failures_total{reason}`.
    ///
    /// ```
    /// # use perf_instrument::saga::{SagaFailureReason, SagaOutcome};
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// assert!(t.failed("o-1", SagaFailureReason::OTHER).is_accepted());
    /// assert_eq!(t.finished_count(SagaOutcome::Failed), 1);
    /// ```
    pub fn failed<'a>(
        &self,
        id: impl Into<SagaIdRef<'a>>,
        reason: SagaFailureReason,
    ) -> SagaVerdict {
        self.finish(id.into(), SagaOutcome::Failed, Some(reason))
    }

    /// Saga `id` was rolled back by its compensations (terminal): outcome `compensated`.
    /// (The step-level event is [`compensated`](Self::compensated).)
    ///
    /// ```
    /// # use perf_instrument::saga::SagaOutcome;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// assert!(t.compensated_saga("o-1").is_accepted());
    /// assert_eq!(t.finished_count(SagaOutcome::Compensated), 1);
    /// ```
    pub fn compensated_saga<'a>(&self, id: impl Into<SagaIdRef<'a>>) -> SagaVerdict {
        self.finish(id.into(), SagaOutcome::Compensated, None)
    }

    fn step_event(&self, id: SagaIdRef<'_>, step: SagaStep, event: StepEvent) -> SagaVerdict {
        let Some(key) = self.key(id) else {
            return self.reject(SagaRejectReason::IdTooLong);
        };
        let Some(step) = self.step_index(step) else {
            return self.reject(SagaRejectReason::InvalidHandle);
        };
        let now = self.now();
        let mut shard = self.lock(&key);
        let result = match shard.active.get_mut(&key) {
            Some(saga) => {
                let result = saga.apply(event, step, now);
                if result.is_ok() && saga.stuck {
                    saga.stuck = false;
                    self.inner.metrics.stuck.dec();
                }
                result
            }
            None => Err(if shard.is_recent(&key) {
                SagaRejectReason::AfterTerminal
            } else {
                SagaRejectReason::UnknownId
            }),
        };
        drop(shard);
        let m = &self.inner.metrics;
        let step = usize::from(step);
        match result {
            Ok(Effect::None) => {}
            Ok(Effect::StepDuration(ns)) => m.step_duration[step].record(ns),
            Ok(Effect::StepFailed) => m.step_failures[step].inc(),
            Ok(Effect::CompensationStarted) => m.compensations[step].inc(),
            Err(reason) => return self.reject(reason),
        }
        SagaVerdict::Accepted
    }

    fn finish(
        &self,
        id: SagaIdRef<'_>,
        outcome: SagaOutcome,
        reason: Option<SagaFailureReason>,
    ) -> SagaVerdict {
        let inner = &*self.inner;
        let Some(key) = self.key(id) else {
            return self.reject(SagaRejectReason::IdTooLong);
        };
        let reason = match reason.map(|r| self.reason_index(r)) {
            Some(None) => return self.reject(SagaRejectReason::InvalidHandle),
            Some(Some(index)) => Some(index),
            None => None,
        };
        let now = self.now();
        let mut shard = self.lock(&key);
        let result = match shard.remove(&key) {
            Some(saga) => {
                inner.active.fetch_sub(1, Ordering::Relaxed);
                inner.metrics.active.dec();
                if saga.stuck {
                    inner.metrics.stuck.dec();
                }
                shard.remember(key, inner.recent_per_shard);
                Ok(now.saturating_sub(saga.started))
            }
            None if shard.is_recent(&key) => Err(SagaRejectReason::AfterTerminal),
            None => {
                shard.remember(key, inner.recent_per_shard);
                Err(SagaRejectReason::TerminalBeforeStart)
            }
        };
        drop(shard);
        match result {
            Ok(age) => {
                match inner.exemplars_over_ns {
                    Some(over) if age >= over => self.record_finish_with_id(outcome, age, id),
                    _ => self.record_finish(outcome, age),
                }
                if let Some(reason) = reason {
                    inner.metrics.failures[reason].inc();
                }
                SagaVerdict::Accepted
            }
            Err(reason) => self.reject(reason),
        }
    }

    /// Counts a saga ended with `outcome` after `age_ns`.
    pub(super) fn record_finish(&self, outcome: SagaOutcome, age_ns: u64) {
        let m = &self.inner.metrics;
        m.finished[outcome.index()].inc();
        m.duration[outcome.index()].record(age_ns);
    }

    /// As `record_finish`, with the saga's id as the duration's exemplar.
    #[cold]
    fn record_finish_with_id(&self, outcome: SagaOutcome, age_ns: u64, id: SagaIdRef<'_>) {
        let m = &self.inner.metrics;
        m.finished[outcome.index()].inc();
        let mut digits = itoa::Buffer::new();
        let id = match id {
            SagaIdRef::Str(s) => s,
            SagaIdRef::Int(n) => digits.format(n),
        };
        let _ = m.duration[outcome.index()].record_with_exemplar(age_ns, &[("saga_id", id)]);
    }

    fn reject(&self, reason: SagaRejectReason) -> SagaVerdict {
        self.inner.metrics.rejected[reason.index()].inc();
        SagaVerdict::Rejected(reason)
    }

    /// Takes one slot of `max_active`, if one is free.
    fn reserve(&self) -> bool {
        let max = self.inner.max_active;
        self.inner
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn reason_index(&self, reason: SagaFailureReason) -> Option<usize> {
        let index = usize::from(reason.index);
        ((reason.tracker == ANY_TRACKER || reason.tracker == self.inner.tag)
            && index < self.inner.reasons.len())
        .then_some(index)
    }

    fn step_index(&self, step: SagaStep) -> Option<u8> {
        (step.tracker == self.inner.tag && usize::from(step.index) < self.inner.steps.len())
            .then_some(step.index)
    }

    #[inline]
    fn key(&self, id: SagaIdRef<'_>) -> Option<Key> {
        Key::new(id, &self.inner.hasher)
    }

    #[inline]
    pub(super) fn now(&self) -> u64 {
        self.inner.clock.now_nanos()
    }

    #[inline]
    fn lock(&self, key: &Key) -> MutexGuard<'_, Shard> {
        let shards = &self.inner.shards;
        sync::lock(&shards[key.shard(shards.len() - 1)])
    }
}

impl SagaTrackerBuilder {
    /// Registers the saga families in `registry` (or finds them) and builds the tracker.
    ///
    /// # Errors
    ///
    /// A [`SagaError`] for invalid settings, or [`SagaError::Registry`] if another family
    /// already uses one of the saga metric names with another shape.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let registry = Registry::new();
    /// let orders = SagaTracker::builder("order").steps(["a"]).build(&registry).unwrap();
    /// let payments = SagaTracker::builder("payment").steps(["b"]).build(&registry).unwrap();
    /// assert!(SagaTracker::builder("bad").steps(["a", "a"]).build(&registry).is_err());
    /// # let _ = (orders, payments);
    /// ```
    pub fn build(self, registry: &Registry) -> Result<SagaTracker, SagaError> {
        SagaTracker::from_builder(self, registry)
    }
}

impl fmt::Debug for SagaTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SagaTracker")
            .field("name", &self.inner.name)
            .field("steps", &self.inner.steps)
            .field("active", &self.active_count())
            .field("max_active", &self.inner.max_active)
            .field("shards", &self.inner.shards.len())
            .finish()
    }
}
