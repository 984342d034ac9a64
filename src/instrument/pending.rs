//! `PendingTracker`: completions awaited by request id — how many are pending, how old the
//! oldest is, how long completions took, and which were orphaned and why.

use crate::clock::Clock;
use crate::recorder::{Counter, Histogram};
use crate::registry::background::{Background, BackgroundThread};
use crate::registry::{Registry, RegistryError};
use crate::sync::{lock, Mutex};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::registry::FamilyDef;

/// The families a [`PendingTracker`] registers (shared by all trackers, by label `tracker`).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Registration to completion.
    pub(crate) const COMPLETION_DURATION: FamilyDef = FamilyDef::histogram(
        "pending_completion_duration_seconds",
        "Time from registration to completion.",
    )
    .unit(Unit::Seconds)
    .labels(&["tracker"])
    .table(TableSpec::new("pending completions", "{tracker}").with_rank(800));
    /// Entries registered.
    pub(crate) const REGISTERED: FamilyDef =
        FamilyDef::counter("pending_registered", "Entries registered.")
            .labels(&["tracker"])
            .not_tabled("a counter");
    /// Entries completed.
    pub(crate) const COMPLETED: FamilyDef =
        FamilyDef::counter("pending_completed", "Entries completed.")
            .labels(&["tracker"])
            .not_tabled("a counter");
    /// Entries cancelled.
    pub(crate) const CANCELLED: FamilyDef =
        FamilyDef::counter("pending_cancelled", "Entries cancelled.")
            .labels(&["tracker"])
            .not_tabled("a counter");
    /// Late completions.
    pub(crate) const LATE: FamilyDef = FamilyDef::counter(
        "pending_late",
        "Completions for ids unknown, already completed or already orphaned.",
    )
    .labels(&["tracker"])
    .not_tabled("a counter");
    /// Entries given up, by reason.
    pub(crate) const ORPHANED: FamilyDef = FamilyDef::counter(
        "pending_orphaned",
        "Pending entries given up, by reason: timeout, capacity, dropped.",
    )
    .labels(&["tracker", "reason"])
    .not_tabled("a counter (the orphaned-pending finding reads it)");
    /// Registrations refused, by reason.
    pub(crate) const REJECTED: FamilyDef =
        FamilyDef::counter("pending_rejected", "Registrations refused, by reason.")
            .labels(&["tracker", "reason"])
            .not_tabled("a counter");
    /// Entries pending, read at scrape.
    pub(crate) const ITEMS: FamilyDef =
        FamilyDef::gauge("pending_items", "Entries awaiting completion.")
            .labels(&["tracker"])
            .not_tabled("a gauge");
    /// Age of the oldest entry, read at scrape.
    pub(crate) const OLDEST_AGE: FamilyDef = FamilyDef::gauge(
        "pending_oldest_age_seconds",
        "Age of the oldest pending entry.",
    )
    .unit(Unit::Seconds)
    .labels(&["tracker"])
    .not_tabled("a gauge");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &COMPLETION_DURATION,
        &REGISTERED,
        &COMPLETED,
        &CANCELLED,
        &LATE,
        &ORPHANED,
        &REJECTED,
        &ITEMS,
        &OLDEST_AGE,
    ];
}

/// Fewest entries a shard is given: smaller trackers have one shard (and evict exactly the
/// oldest entry of all).
const MIN_SHARE: usize = 64;

struct Shard<K> {
    /// This shard's share of `max_pending`; the shares add up to it exactly.
    share: usize,
    /// Key -> (registered at, sequence).
    by_key: HashMap<K, (u64, u64)>,
    /// (registered at, sequence) -> key: oldest first.
    by_age: BTreeMap<(u64, u64), K>,
    next_seq: u64,
}

impl<K: Hash + Eq + Clone> Shard<K> {
    fn remove(&mut self, key: &K) -> Option<u64> {
        let (start, seq) = self.by_key.remove(key)?;
        self.by_age.remove(&(start, seq));
        Some(start)
    }

    fn pop_oldest(&mut self) -> Option<(u64, K)> {
        let ((start, _), key) = self.by_age.pop_first()?;
        self.by_key.remove(&key);
        Some((start, key))
    }
}

struct Metrics {
    latency: Histogram,
    registered: Counter,
    completed: Counter,
    cancelled: Counter,
    late: Counter,
    duplicate: Counter,
    orphaned_timeout: Counter,
    orphaned_dropped: Counter,
    orphaned_capacity: Counter,
}

struct Inner<K> {
    name: String,
    clock: Clock,
    timeout_nanos: u64,
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K>>]>,
    metrics: Metrics,
    background: Background,
}

/// Pending completions keyed by request id (request/response over a bus, RPCs awaiting replies).
///
/// * [`register`](PendingTracker::register) an id when the request goes out,
///   [`complete`](PendingTracker::complete) it when the reply arrives (records the latency),
///   or [`cancel`](PendingTracker::cancel) it.
/// * [`sweep`](PendingTracker::sweep) (or a [background sweeper](PendingTracker::spawn_sweeper))
///   orphans entries older than the timeout: `reason="timeout"`.
/// * At most `max_pending` entries are kept. The maximum is divided exactly among the shards
///   (an id's shard follows from its hash); registering into a shard that holds its share
///   orphans that shard's oldest entry (`reason="capacity"`) — the one least likely still to be
///   answered — and keeps the new one. With ids spread evenly a shard fills only when the
///   tracker is close to its maximum; a tracker of fewer than 128 entries has a single shard,
///   so it evicts exactly at its maximum and exactly the oldest entry of all.
/// * Entries left when the tracker is dropped are orphaned with `reason="dropped"`.
/// * A completion for an id that is unknown, already completed or already orphaned is counted
///   as late (`pending_late_total`), never a panic; registering an id that is pending already
///   keeps the first and counts `pending_rejected_total{reason="duplicate"}`.
///
/// Families, by label `tracker`: `pending_items`, `pending_oldest_age_seconds` (both computed
/// at scrape), `pending_completion_duration_seconds`, `pending_registered_total`,
/// `pending_completed_total`, `pending_cancelled_total`, `pending_late_total`,
/// `pending_orphaned_total{reason}`, `pending_rejected_total{reason}`.
///
/// Entries are sharded by a hash of the id, so register/complete from many threads rarely
/// share a lock. Cloning shares the tracker.
///
/// ```
/// use perf_instrument::{Clock, PendingTracker, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let replies = PendingTracker::<u64>::builder("payment_replies")
///     .timeout(Duration::from_secs(5))
///     .clock(clock)
///     .build(&registry)
///     .unwrap();
/// replies.register(1);
/// replies.register(2);
/// hand.advance(Duration::from_millis(30));
/// assert_eq!(replies.complete(&1), Some(Duration::from_millis(30)));
/// hand.advance(Duration::from_secs(10));
/// assert_eq!(replies.sweep(), 1); // request 2 never got its reply
/// assert_eq!(replies.complete(&2), None); // late: counted, not a panic
/// ```
pub struct PendingTracker<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for PendingTracker<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// Configures a [`PendingTracker`].
///
/// ```
/// let b = perf_instrument::PendingTracker::<String>::builder("replies").max_pending(10_000);
/// # let _ = b;
/// ```
#[derive(Debug)]
pub struct PendingTrackerBuilder<K> {
    name: String,
    timeout: Duration,
    max_pending: usize,
    clock: Option<Clock>,
    schema: i32,
    _key: std::marker::PhantomData<fn(K)>,
}

impl<K: Hash + Eq + Clone + Send + 'static> PendingTrackerBuilder<K> {
    /// Native schema of this instrument's histograms, 0 to 8 (default 3): see
    /// [`Opts::schema`](crate::Opts::schema). The families are shared by every instrument of this kind in a registry, so they must agree on it (another schema is a [`RegistryError::ShapeMismatch`](crate::RegistryError::ShapeMismatch)). Outside `0..=8`, `build` fails with
    /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::PendingTracker::<u64>::builder("rpc").schema(7).build(&r).is_ok());
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: i32) -> Self {
        self.schema = schema;
        self
    }

    /// Age after which a sweep orphans an entry (default 30 s; zero is refused by `build`).
    ///
    /// ```
    /// let b = perf_instrument::PendingTracker::<u64>::builder("r").timeout(std::time::Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Most entries kept (default 100,000; zero is refused by `build`).
    ///
    /// ```
    /// let b = perf_instrument::PendingTracker::<u64>::builder("r").max_pending(100);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// The clock (default: the process clock).
    ///
    /// ```
    /// let b = perf_instrument::PendingTracker::<u64>::builder("r").clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Registers the families (shared by all trackers) and builds the tracker.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the families clash with others in `registry`;
    /// [`RegistryError::ZeroSetting`] for a zero `timeout` or `max_pending`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::PendingTracker::<u64>::builder("r").build(&r).is_ok());
    /// ```
    pub fn build(self, registry: &Registry) -> Result<PendingTracker<K>, RegistryError> {
        if self.timeout.is_zero() {
            return Err(RegistryError::ZeroSetting { setting: "timeout" });
        }
        if self.max_pending == 0 {
            return Err(RegistryError::ZeroSetting {
                setting: "max_pending",
            });
        }
        use families as f;
        let t = self.name.as_str();
        let counter = |def: &FamilyDef| -> Result<Counter, RegistryError> {
            Ok(registry
                .register_counter(def.opts())?
                .with_label_values(&[t]))
        };
        let orphaned = registry.register_counter(f::ORPHANED.opts())?;
        let rejected = registry.register_counter(f::REJECTED.opts())?;
        let metrics = Metrics {
            latency: registry
                .register_histogram(f::COMPLETION_DURATION.opts().schema(self.schema))?
                .with_label_values(&[t]),
            registered: counter(&f::REGISTERED)?,
            completed: counter(&f::COMPLETED)?,
            cancelled: counter(&f::CANCELLED)?,
            late: counter(&f::LATE)?,
            duplicate: rejected.with_label_values(&[t, "duplicate"]),
            orphaned_timeout: orphaned.with_label_values(&[t, "timeout"]),
            orphaned_dropped: orphaned.with_label_values(&[t, "dropped"]),
            orphaned_capacity: orphaned.with_label_values(&[t, "capacity"]),
        };
        // A power of two (the hash picks a shard with a mask), each with a share of at least
        // MIN_SHARE entries.
        let most = (self.max_pending / MIN_SHARE).max(1);
        let shard_count = (4 * std::thread::available_parallelism().map_or(1, |n| n.get()))
            .next_power_of_two()
            .min(1 << most.ilog2());
        let (base, extra) = (
            self.max_pending / shard_count,
            self.max_pending % shard_count,
        );
        let inner = Arc::new(Inner {
            name: self.name.clone(),
            clock: self.clock.unwrap_or_else(|| Clock::global().clone()),
            timeout_nanos: u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX),
            hasher: RandomState::new(),
            shards: (0..shard_count)
                .map(|i| {
                    Mutex::new(Shard {
                        share: base + usize::from(i < extra),
                        by_key: HashMap::new(),
                        by_age: BTreeMap::new(),
                        next_seq: 0,
                    })
                })
                .collect(),
            metrics,
            background: Background::new(registry)?,
        });
        let weak: Weak<Inner<K>> = Arc::downgrade(&inner);
        registry
            .register_fn_gauge(f::ITEMS.opts())?
            .with_label_values(&[t])
            .set_fn(move || Some(weak.upgrade()?.len() as f64));
        let weak: Weak<Inner<K>> = Arc::downgrade(&inner);
        registry
            .register_fn_gauge(f::OLDEST_AGE.opts())?
            .with_label_values(&[t])
            .set_fn(move || {
                Some(
                    weak.upgrade()?
                        .oldest_age()
                        .map_or(0.0, |d| d.as_secs_f64()),
                )
            });
        Ok(PendingTracker { inner })
    }
}

impl<K: Hash + Eq + Clone + Send + 'static> PendingTracker<K> {
    /// A builder for tracker `name`.
    ///
    /// ```
    /// let b = perf_instrument::PendingTracker::<u64>::builder("replies");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder(name: impl Into<String>) -> PendingTrackerBuilder<K> {
        PendingTrackerBuilder {
            name: name.into(),
            timeout: Duration::from_secs(30),
            max_pending: 100_000,
            clock: None,
            schema: crate::recorder::Schema::DEFAULT.get(),
            _key: std::marker::PhantomData,
        }
    }

    /// `key` awaits completion from now. Returns `false` (and counts a duplicate) if it is
    /// pending already.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// assert!(t.register(7));
    /// assert!(!t.register(7));
    /// ```
    pub fn register(&self, key: K) -> bool {
        let inner = &*self.inner;
        let now = inner.clock.raw();
        let mut shard = lock(inner.shard(&key));
        if shard.by_key.contains_key(&key) {
            drop(shard);
            inner.metrics.duplicate.inc();
            return false;
        }
        let evicted = shard.by_key.len() >= shard.share && shard.pop_oldest().is_some();
        let seq = shard.next_seq;
        shard.next_seq += 1;
        shard.by_key.insert(key.clone(), (now, seq));
        shard.by_age.insert((now, seq), key);
        drop(shard);
        if evicted {
            inner.metrics.orphaned_capacity.inc();
        }
        inner.metrics.registered.inc();
        true
    }

    /// `key` completed: records and returns its latency, or `None` (counted as late) if it was
    /// not pending.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// t.register(1);
    /// assert!(t.complete(&1).is_some());
    /// assert!(t.complete(&1).is_none()); // late
    /// ```
    pub fn complete(&self, key: &K) -> Option<Duration> {
        let inner = &*self.inner;
        let start = lock(inner.shard(key)).remove(key);
        match start {
            Some(start) => {
                let nanos = inner.clock.delta_nanos(start, inner.clock.raw());
                inner.metrics.latency.record(nanos);
                inner.metrics.completed.inc();
                Some(Duration::from_nanos(nanos))
            }
            None => {
                inner.metrics.late.inc();
                None
            }
        }
    }

    /// `key` no longer awaits completion (the caller gave up). Returns whether it was pending.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// t.register(1);
    /// assert!(t.cancel(&1));
    /// assert!(!t.cancel(&1));
    /// ```
    pub fn cancel(&self, key: &K) -> bool {
        let inner = &*self.inner;
        let removed = lock(inner.shard(key)).remove(key).is_some();
        if removed {
            inner.metrics.cancelled.inc();
        }
        removed
    }

    /// Orphans every entry older than the timeout; returns how many.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// t.register(1);
    /// assert_eq!(t.sweep(), 0); // not old enough
    /// ```
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    /// Sweeps every `period` on a background thread until the returned handle (or the
    /// tracker) is dropped.
    ///
    /// # Errors
    ///
    /// [`RegistryError::ZeroSetting`] for a zero period.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// let sweeper = t.spawn_sweeper(std::time::Duration::from_millis(100)).unwrap();
    /// assert!(sweeper.is_running());
    /// drop(sweeper); // stops and joins the thread
    /// assert!(t.spawn_sweeper(std::time::Duration::ZERO).is_err());
    /// ```
    pub fn spawn_sweeper(&self, period: Duration) -> Result<BackgroundThread, RegistryError> {
        let weak = Arc::downgrade(&self.inner);
        let name = format!("pending-sweep-{}", self.inner.name);
        self.inner
            .background
            .spawn(name, period, move || match weak.upgrade() {
                Some(inner) => {
                    inner.sweep();
                    true
                }
                None => false,
            })
    }

    /// Entries pending now (never more than `max_pending`; the shards are counted one after
    /// another, so while others register and complete it is a close figure, not an instant's).
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// t.register(1);
    /// assert_eq!(t.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether nothing is pending.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// assert!(t.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Age of the oldest pending entry.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// assert_eq!(t.oldest_age(), None);
    /// ```
    #[must_use]
    pub fn oldest_age(&self) -> Option<Duration> {
        self.inner.oldest_age()
    }
}

impl<K: Hash + Eq + Clone> Inner<K> {
    fn shard(&self, key: &K) -> &Mutex<Shard<K>> {
        let hash = self.hasher.hash_one(key);
        &self.shards[(hash as usize) & (self.shards.len() - 1)]
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).by_key.len()).sum()
    }

    fn oldest_age(&self) -> Option<Duration> {
        let oldest = self
            .shards
            .iter()
            .filter_map(|s| lock(s).by_age.first_key_value().map(|((t, _), _)| *t))
            .min()?;
        Some(self.clock.elapsed(oldest))
    }

    fn sweep(&self) -> usize {
        let now = self.clock.raw();
        let mut orphaned = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            while let Some((&(start, _), _)) = shard.by_age.first_key_value() {
                if self.clock.delta_nanos(start, now) <= self.timeout_nanos {
                    break;
                }
                shard.pop_oldest();
                orphaned += 1;
            }
        }
        self.metrics.orphaned_timeout.inc_by(orphaned as u64);
        orphaned
    }
}

impl<K> Drop for Inner<K> {
    fn drop(&mut self) {
        let left: usize = self.shards.iter().map(|s| lock(s).by_key.len()).sum();
        self.metrics.orphaned_dropped.inc_by(left as u64);
    }
}

impl<K> fmt::Debug for PendingTracker<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingTracker")
            .field("name", &self.inner.name)
            .field("shards", &self.inner.shards.len())
            .finish()
    }
}
