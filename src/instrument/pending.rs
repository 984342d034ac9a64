//! `PendingTracker`: completions awaited by request id — how many are pending, how old the
//! oldest is, how long completions took, and which were orphaned and why.

use super::HistogramShape;
use crate::clock::Clock;
use crate::recorder::{Counter, Histogram};
use crate::registry::background::{Background, BackgroundThread};
use crate::registry::{Registry, RegistryError};
use crate::sync::{lock, Mutex};
use hashbrown::HashTable;
use std::collections::BTreeMap;
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
    pub(crate) const REJECTED: FamilyDef = FamilyDef::counter(
        "pending_rejected",
        "Registrations refused, by reason: duplicate, key_too_long.",
    )
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

/// The default of [`PendingTrackerBuilder::max_key_bytes`]: keys whose
/// [`key_bytes`](PendingKey::key_bytes) exceed 1 KiB are refused, counted as
/// `pending_rejected_total{reason="key_too_long"}`.
///
/// ```
/// use perf_instrument::{PendingTracker, Registry, DEFAULT_MAX_PENDING_KEY_BYTES};
/// let t = PendingTracker::<String>::builder("r").build(&Registry::new()).unwrap();
/// assert!(t.register("k".repeat(DEFAULT_MAX_PENDING_KEY_BYTES)));
/// assert!(!t.register("k".repeat(DEFAULT_MAX_PENDING_KEY_BYTES + 1)));
/// ```
pub const DEFAULT_MAX_PENDING_KEY_BYTES: usize = 1024;

/// A key a [`PendingTracker`] can hold: hashable, comparable, and able to say how many bytes
/// it costs, which the tracker checks against its key byte budget
/// ([`PendingTrackerBuilder::max_key_bytes`]) before storing it.
///
/// Implemented for the integers, `char`, `bool`, byte arrays, `String`, `Box<str>`,
/// `Arc<str>`, `Vec<u8>`, `Box<[u8]>`, `&'static str` and pairs of keys. For a type of your
/// own, the provided method measures the value itself (`size_of_val`), right for a type that
/// owns no heap memory; a type that does should count it too.
///
/// ```
/// use perf_instrument::PendingKey;
///
/// #[derive(Hash, PartialEq, Eq)]
/// struct RequestId([u8; 16]);
/// impl PendingKey for RequestId {}
///
/// assert_eq!(RequestId([0; 16]).key_bytes(), 16);
/// assert_eq!(String::from("abc").key_bytes(), 3);
/// ```
pub trait PendingKey: Hash + Eq + Send + 'static {
    /// The bytes this key costs: its length for strings and byte vectors, its size otherwise.
    ///
    /// ```
    /// use perf_instrument::PendingKey;
    /// assert_eq!(7u64.key_bytes(), 8);
    /// assert_eq!(("ab".to_string(), 1u32).key_bytes(), 6);
    /// ```
    fn key_bytes(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

macro_rules! sized_keys {
    ($($t:ty),*) => { $(impl PendingKey for $t {})* };
}
sized_keys!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, char, bool);

impl<const N: usize> PendingKey for [u8; N] {}

macro_rules! byte_keys {
    ($($t:ty),*) => { $(impl PendingKey for $t {
        fn key_bytes(&self) -> usize {
            self.len()
        }
    })* };
}
byte_keys!(String, Box<str>, Arc<str>, Vec<u8>, Box<[u8]>, &'static str);

impl<A: PendingKey, B: PendingKey> PendingKey for (A, B) {
    fn key_bytes(&self) -> usize {
        self.0.key_bytes().saturating_add(self.1.key_bytes())
    }
}

/// One pending entry; the key is stored here only (the age index holds its hash).
struct Entry<K> {
    hash: u64,
    start: u64,
    seq: u64,
    key: K,
}

struct Shard<K> {
    /// This shard's share of `max_pending`; the shares add up to it exactly.
    share: usize,
    /// The entries, by the hash of their key.
    table: HashTable<Entry<K>>,
    /// (registered at, sequence) -> hash of the key: oldest first.
    by_age: BTreeMap<(u64, u64), u64>,
    next_seq: u64,
}

impl<K: Eq> Shard<K> {
    fn contains(&self, hash: u64, key: &K) -> bool {
        self.table.find(hash, |e| e.key == *key).is_some()
    }

    fn remove(&mut self, hash: u64, key: &K) -> Option<u64> {
        let entry = self.table.find_entry(hash, |e| e.key == *key).ok()?;
        let (entry, _) = entry.remove();
        self.by_age.remove(&(entry.start, entry.seq));
        Some(entry.start)
    }

    fn pop_oldest(&mut self) -> Option<u64> {
        let ((start, seq), hash) = self.by_age.pop_first()?;
        if let Ok(entry) = self.table.find_entry(hash, |e| e.seq == seq) {
            entry.remove();
        }
        Some(start)
    }

    fn insert(&mut self, hash: u64, start: u64, key: K) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.table.insert_unique(
            hash,
            Entry {
                hash,
                start,
                seq,
                key,
            },
            |e| e.hash,
        );
        self.by_age.insert((start, seq), hash);
    }
}

struct Metrics {
    latency: Histogram,
    registered: Counter,
    completed: Counter,
    cancelled: Counter,
    late: Counter,
    duplicate: Counter,
    key_too_long: Counter,
    orphaned_timeout: Counter,
    orphaned_dropped: Counter,
    orphaned_capacity: Counter,
}

struct Inner<K> {
    name: String,
    clock: Clock,
    timeout_nanos: u64,
    max_key_bytes: usize,
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
/// * Keys have a byte budget ([`max_key_bytes`](PendingTrackerBuilder::max_key_bytes), default
///   [`DEFAULT_MAX_PENDING_KEY_BYTES`], measured by [`PendingKey::key_bytes`]): a longer key is
///   refused, `register` returns `false` and counts
///   `pending_rejected_total{reason="key_too_long"}`. Refusing (rather than truncating or
///   hashing) keeps two long keys from ever being taken for one another. Each key is stored
///   once; the age index holds its hash.
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
    max_key_bytes: usize,
    clock: Option<Clock>,
    shape: HistogramShape,
    _key: std::marker::PhantomData<fn(K)>,
}

impl<K: PendingKey> PendingTrackerBuilder<K> {
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
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of `pending_completion_duration_seconds` (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) the unit). The families are
    /// shared by every instrument of this kind in a registry, so they must agree on them, as on
    /// the schema.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, Unit};
    /// let r = Registry::new();
    /// let coarse = Buckets::from_values(Unit::Seconds, &[0.25, 1.0, 4.0]);
    /// let _it = perf_instrument::PendingTracker::<u64>::builder("replies").buckets(coarse).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// // Three bounds and `+Inf`.
    /// assert_eq!(text.lines().filter(|l| l.starts_with("pending_completion_duration_seconds_bucket")).count(), 4);
    /// ```
    #[must_use]
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
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

    /// Largest key accepted, in bytes as [`PendingKey::key_bytes`] counts them (default
    /// [`DEFAULT_MAX_PENDING_KEY_BYTES`]; zero is refused by `build`). Longer keys are refused
    /// and counted as `pending_rejected_total{reason="key_too_long"}`.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// let t = perf_instrument::PendingTracker::<String>::builder("r")
    ///     .max_key_bytes(8)
    ///     .build(&r)
    ///     .unwrap();
    /// assert!(t.register("12345678".to_string()));
    /// assert!(!t.register("123456789".to_string()));
    /// ```
    #[must_use]
    pub fn max_key_bytes(mut self, max: usize) -> Self {
        self.max_key_bytes = max;
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
    /// [`RegistryError::ZeroSetting`] for a zero `timeout`, `max_pending` or `max_key_bytes`.
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
        if self.max_key_bytes == 0 {
            return Err(RegistryError::ZeroSetting {
                setting: "max_key_bytes",
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
                .register_histogram(self.shape.opts(&f::COMPLETION_DURATION))?
                .with_label_values(&[t]),
            registered: counter(&f::REGISTERED)?,
            completed: counter(&f::COMPLETED)?,
            cancelled: counter(&f::CANCELLED)?,
            late: counter(&f::LATE)?,
            duplicate: rejected.with_label_values(&[t, "duplicate"]),
            key_too_long: rejected.with_label_values(&[t, "key_too_long"]),
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
            max_key_bytes: self.max_key_bytes,
            hasher: RandomState::new(),
            shards: (0..shard_count)
                .map(|i| {
                    Mutex::new(Shard {
                        share: base + usize::from(i < extra),
                        table: HashTable::new(),
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

impl<K: PendingKey> PendingTracker<K> {
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
            max_key_bytes: DEFAULT_MAX_PENDING_KEY_BYTES,
            clock: None,
            shape: HistogramShape::default(),
            _key: std::marker::PhantomData,
        }
    }

    /// `key` awaits completion from now. Returns `false` if it is pending already (counted as
    /// `reason="duplicate"`) or longer than the key byte budget (`reason="key_too_long"`).
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let t = perf_instrument::PendingTracker::<u64>::builder("t").build(&r).unwrap();
    /// assert!(t.register(7));
    /// assert!(!t.register(7));
    /// ```
    pub fn register(&self, key: K) -> bool {
        let inner = &*self.inner;
        if key.key_bytes() > inner.max_key_bytes {
            inner.metrics.key_too_long.inc();
            return false;
        }
        let now = inner.clock.raw();
        let (hash, shard) = inner.shard(&key);
        let mut shard = lock(shard);
        if shard.contains(hash, &key) {
            drop(shard);
            inner.metrics.duplicate.inc();
            return false;
        }
        let evicted = shard.table.len() >= shard.share && shard.pop_oldest().is_some();
        shard.insert(hash, now, key);
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
        let start = inner.remove(key);
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
        let removed = inner.remove(key).is_some();
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

impl<K: Hash + Eq> Inner<K> {
    /// The key's hash and its shard. The shard comes from bits 32.. of the hash, which the
    /// shard's table uses neither for its bucket index (low bits) nor its control bytes (top
    /// seven bits).
    fn shard(&self, key: &K) -> (u64, &Mutex<Shard<K>>) {
        let hash = self.hasher.hash_one(key);
        let index = ((hash >> 32) as usize) & (self.shards.len() - 1);
        (hash, &self.shards[index])
    }

    /// Removes `key`, returning when it was registered. A key over the budget was never
    /// stored, so it is not even hashed.
    fn remove(&self, key: &K) -> Option<u64>
    where
        K: PendingKey,
    {
        if key.key_bytes() > self.max_key_bytes {
            return None;
        }
        let (hash, shard) = self.shard(key);
        lock(shard).remove(hash, key)
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).table.len()).sum()
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
        let left: usize = self.shards.iter().map(|s| lock(s).table.len()).sum();
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
