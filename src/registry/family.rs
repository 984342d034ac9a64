//! `Family<M>`: the series of one metric, keyed by label values, capped, with an overflow series.

use super::collect::{FamilySnapshot, SeriesSnapshot, SeriesValue};
use super::desc::Descriptor;
use super::index::Index;
use super::label_values::LabelValues;
use super::RegistryError;
use crate::recorder::{Counter, Exemplar, Gauge, Histogram, Schema, Unit};
use crate::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use hashbrown::HashTable;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Label value every label of the overflow series carries.
///
/// It is reserved: a lookup whose values are all `"__overflow__"` returns the overflow series
/// itself (and counts as an overflow lookup), so no user series can render with the same labels.
///
/// ```
/// use perf_instrument::{render, Opts, Registry, OVERFLOW_LABEL_VALUE};
/// let registry = Registry::new();
/// let users = registry
///     .register_counter(Opts::new("logins", "Logins.").labels(["user"]).max_series(1))
///     .unwrap();
/// users.with_label_values(&["ada"]).inc();
/// users.with_label_values(&["grace"]).inc(); // past the cap
/// let (_, body) = render(&registry, None);
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains(&format!("logins_total{{user=\"{OVERFLOW_LABEL_VALUE}\"}} 1")));
/// ```
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::recorder::Counter {}
    impl Sealed for crate::recorder::Gauge {}
    impl Sealed for crate::recorder::Histogram {}
    impl Sealed for super::FnGauge {}
}

/// What a [`Family`] can hold: [`Counter`], [`Gauge`], [`Histogram`] or [`FnGauge`].
///
/// ```
/// fn first<M: perf_instrument::Series>(family: &perf_instrument::Family<M>) -> M {
///     family.with_label_values(&[])
/// }
/// let registry = perf_instrument::Registry::new();
/// let family = registry.register_gauge(perf_instrument::Opts::new("g", "G.")).unwrap();
/// first(&family).set(1);
/// ```
pub trait Series: sealed::Sealed + Clone + Send + Sync + fmt::Debug + 'static {
    #[doc(hidden)]
    fn create(unit: Unit, schema: Schema) -> Self;
    /// The value to export, or `None` to leave the series out of this scrape.
    #[doc(hidden)]
    fn value(&self, unit: Unit) -> Option<SeriesValue>;
    /// Bytes the recorder holds now.
    #[doc(hidden)]
    fn memory_bytes(&self) -> usize;
    /// Values clamped into the top of the range so far (histograms only).
    #[doc(hidden)]
    fn clamped(&self) -> u64 {
        0
    }
    /// The exemplars kept now, values in the family's base unit `unit`.
    #[doc(hidden)]
    fn exemplars(&self, unit: Unit) -> Vec<Exemplar> {
        let _ = unit;
        Vec::new()
    }
    /// Exemplars refused so far.
    #[doc(hidden)]
    fn exemplars_refused(&self) -> u64 {
        0
    }
}

const NANOS_PER_SECOND: f64 = 1e9;

impl Series for Counter {
    fn create(_: Unit, _: Schema) -> Self {
        Counter::new()
    }
    fn value(&self, unit: Unit) -> Option<SeriesValue> {
        Some(match unit {
            Unit::Seconds => SeriesValue::Float(self.get() as f64 / NANOS_PER_SECOND),
            Unit::Bytes | Unit::Count => SeriesValue::Unsigned(self.get()),
        })
    }
    fn memory_bytes(&self) -> usize {
        Counter::memory_bytes(self)
    }
    fn exemplars(&self, unit: Unit) -> Vec<Exemplar> {
        self.exemplar()
            .map(|e| match unit {
                Unit::Seconds => {
                    let value = e.value() / NANOS_PER_SECOND;
                    e.with_value(value)
                }
                Unit::Bytes | Unit::Count => e,
            })
            .into_iter()
            .collect()
    }
    fn exemplars_refused(&self) -> u64 {
        Counter::exemplars_refused(self)
    }
}

impl Series for Gauge {
    fn create(_: Unit, _: Schema) -> Self {
        Gauge::new()
    }
    fn value(&self, unit: Unit) -> Option<SeriesValue> {
        Some(match unit {
            Unit::Seconds => SeriesValue::Float(self.get() as f64 / NANOS_PER_SECOND),
            Unit::Bytes | Unit::Count => SeriesValue::Signed(self.get()),
        })
    }
    fn memory_bytes(&self) -> usize {
        Gauge::memory_bytes(self)
    }
}

impl Series for Histogram {
    fn create(unit: Unit, schema: Schema) -> Self {
        Histogram::with_schema(unit, schema)
    }
    fn value(&self, _: Unit) -> Option<SeriesValue> {
        Some(SeriesValue::Histogram(self.snapshot()))
    }
    fn memory_bytes(&self) -> usize {
        Histogram::memory_bytes(self)
    }
    fn clamped(&self) -> u64 {
        Histogram::clamped(self)
    }
    fn exemplars(&self, _: Unit) -> Vec<Exemplar> {
        Histogram::exemplars(self)
    }
    fn exemplars_refused(&self) -> u64 {
        Histogram::exemplars_refused(self)
    }
}

type GaugeFn = dyn Fn() -> Option<f64> + Send + Sync;

/// A gauge whose value is computed when scraped: the age of the oldest pending item, the
/// longest current lock hold. The function runs on the scraping thread, in the family's base
/// unit (seconds for a `_seconds` family); returning `None` (or no function set yet) leaves the
/// series out of that scrape. Keep it cheap and free of locks the scrape already holds.
/// Cloning shares the gauge.
///
/// ```
/// use perf_instrument::{Opts, Registry};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// let queued = Arc::new(AtomicU64::new(3));
/// let seen = queued.clone();
/// registry
///     .register_fn_gauge(Opts::new("backlog", "Items waiting."))
///     .unwrap()
///     .with_label_values(&[])
///     .set_fn(move || Some(seen.load(Ordering::Relaxed) as f64));
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// assert!(text.contains("backlog 3.0"));
/// ```
#[derive(Clone, Default)]
pub struct FnGauge {
    f: Arc<RwLock<Option<Arc<GaugeFn>>>>,
}

impl FnGauge {
    /// Sets (or replaces) the function.
    ///
    /// ```
    /// let g = perf_instrument::FnGauge::default();
    /// g.set_fn(|| Some(1.5));
    /// assert_eq!(g.value(), Some(1.5));
    /// ```
    pub fn set_fn(&self, f: impl Fn() -> Option<f64> + Send + Sync + 'static) {
        let f: Arc<GaugeFn> = Arc::new(f);
        *self
            .f
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(f);
    }

    /// Runs the function now.
    ///
    /// ```
    /// assert_eq!(perf_instrument::FnGauge::default().value(), None);
    /// ```
    #[must_use]
    pub fn value(&self) -> Option<f64> {
        let f = self
            .f
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        f.and_then(|f| f())
    }
}

impl fmt::Debug for FnGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnGauge")
            .field("value", &self.value())
            .finish()
    }
}

impl Series for FnGauge {
    fn create(_: Unit, _: Schema) -> Self {
        Self::default()
    }
    fn value(&self, _: Unit) -> Option<SeriesValue> {
        FnGauge::value(self).map(SeriesValue::Float)
    }
    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// What a scrape's self metrics report of a family (see [`Family::tally`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// What [`Family::memory_bytes`] reports.
    pub(crate) memory_bytes: usize,
    /// Values its series clamped into the top of the range so far (0 but for histograms).
    pub(crate) clamped: u64,
    /// Exemplars its series refused so far.
    pub(crate) exemplars_refused: u64,
}

struct Entry<M> {
    labels: LabelValues,
    metric: M,
    created: f64,
}

struct Table<M> {
    /// The position in `entries` of each series, by the hash of its label values: the values
    /// themselves live in the entries only.
    positions: HashTable<usize>,
    hasher: foldhash::fast::RandomState,
    entries: Vec<Entry<M>>,
    /// Slots of the lock-free index in use (live or removed).
    indexed: usize,
    /// Heap bytes of the entries' label values (none for sets kept in place), kept as
    /// entries come and go so that `memory_bytes` (read on every scrape) does not walk them.
    label_bytes: usize,
}

/// The series of one metric family, one per set of label values.
///
/// Resolve a handle once with [`with_label_values`](Family::with_label_values) (a hash lookup
/// under a lock, at setup) and record through it afterwards (no lookup, no lock). A family holds
/// at most its `max_series` series; further label sets share one overflow series whose every
/// label value is `"__overflow__"`, and each such lookup is counted in
/// `perf_instrument_series_overflow_total{family="<name>"}`. Asking for the label set of all
/// `"__overflow__"` values returns that overflow series too (counted the same way), below the
/// cap as well. A lookup with the wrong number of label values from
/// [`with_label_values`](Family::with_label_values) gets a detached handle that records but is
/// never exported (no series could carry those values), also counted as an overflow lookup.
/// Cloning shares the family.
///
/// ```
/// use perf_instrument::{Opts, Registry};
/// let registry = Registry::new();
/// let requests = registry
///     .register_counter(Opts::new("requests", "Requests.").labels(["method"]).max_series(2))
///     .unwrap();
/// let get = requests.with_label_values(&["GET"]); // resolve once...
/// get.inc(); // ...record many times
/// requests.with_label_values(&["PUT"]).inc();
/// requests.with_label_values(&["DELETE"]).inc(); // third series: folded into the overflow
/// assert_eq!(requests.overflow_count(), 1);
/// ```
pub struct Family<M: Series> {
    inner: Arc<Inner<M>>,
}

struct Inner<M> {
    desc: Arc<Descriptor>,
    index: Index<M>,
    table: RwLock<Table<M>>,
    overflow: OnceLock<Entry<M>>,
    /// What lookups with the wrong number of label values record into: never exported.
    detached: OnceLock<M>,
    /// Where overflow lookups are counted: the registry's
    /// `perf_instrument_series_overflow_total` family, whose series for this family is created
    /// on the first overflow (so families that never overflow add no series).
    overflow_counters: Option<Family<Counter>>,
    overflow_lookups: OnceLock<Counter>,
}

impl<M: Series> Clone for Family<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

fn now_unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl<M: Series> Family<M> {
    pub(crate) fn new(desc: Arc<Descriptor>, overflow_counters: Option<Family<Counter>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                index: Index::new(
                    desc.max_series(),
                    desc.label_names().len(),
                    desc.max_label_value_bytes(),
                ),
                desc,
                table: RwLock::new(Table {
                    positions: HashTable::new(),
                    hasher: foldhash::fast::RandomState::default(),
                    entries: Vec::new(),
                    indexed: 0,
                    label_bytes: 0,
                }),
                overflow: OnceLock::new(),
                detached: OnceLock::new(),
                overflow_counters,
                overflow_lookups: OnceLock::new(),
            }),
        }
    }

    /// The family's descriptor.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let f = registry.register_gauge(perf_instrument::Opts::new("depth", "D.")).unwrap();
    /// assert_eq!(f.descriptor().name(), "depth");
    /// ```
    #[must_use]
    pub fn descriptor(&self) -> &Descriptor {
        &self.inner.desc
    }

    /// The series for `values` (one per label name, in order), created on first use.
    ///
    /// Past the cap this returns the overflow series and counts the lookup (see the type docs).
    /// With the wrong number of values it returns a detached handle, which records but is never
    /// exported, and counts the lookup as an overflow; use [`get`](Family::get) to be told of a
    /// wrong count instead.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::new();
    /// let depth = registry.register_gauge(Opts::new("queue_depth", "Depth.").labels(["queue"])).unwrap();
    /// depth.with_label_values(&["ingest"]).set(12);
    /// assert_eq!(depth.with_label_values(&["ingest"]).get(), 12);
    /// ```
    #[must_use]
    pub fn with_label_values(&self, values: &[&str]) -> M {
        self.get(values).unwrap_or_else(|_| self.detached())
    }

    /// The series for `values`, or an error if the number of values is wrong.
    ///
    /// # Errors
    ///
    /// [`RegistryError::LabelCount`] when `values.len()` differs from the number of label names.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::new();
    /// let f = registry.register_counter(Opts::new("hits", "Hits.").labels(["cache"])).unwrap();
    /// assert!(f.get(&["l1"]).is_ok());
    /// assert!(f.get(&["l1", "extra"]).is_err());
    /// ```
    pub fn get(&self, values: &[&str]) -> Result<M, RegistryError> {
        let desc = &self.inner.desc;
        if values.len() != desc.label_names().len() {
            return Err(RegistryError::LabelCount {
                name: desc.name().to_string(),
                expected: desc.label_names().len(),
                given: values.len(),
            });
        }
        let probe = self.inner.index.probe(values);
        if let Some(metric) = self.inner.index.find(&probe, values) {
            return Ok(metric.clone());
        }
        // After the index: no value over the budget is ever indexed.
        if self.too_long(values) {
            return Ok(self.overflow());
        }
        if !values.is_empty() && values.iter().all(|v| *v == OVERFLOW_LABEL_VALUE) {
            // The overflow series' own label set: one series, never a second with these labels.
            return Ok(self.overflow());
        }
        {
            let table = self.read();
            if let Some(i) = table.position(values) {
                return Ok(table.entries[i].metric.clone());
            }
        }
        let mut table = self.write();
        if let Some(i) = table.position(values) {
            return Ok(table.entries[i].metric.clone());
        }
        if table.entries.len() >= desc.max_series() {
            drop(table);
            return Ok(self.overflow());
        }
        let metric = M::create(desc.unit(), desc.schema());
        let labels = LabelValues::from(values);
        // Index at most half the slots, so probe chains stay short; further series are found
        // through the locked table.
        if table.indexed < self.inner.index.capacity() / 2
            && self
                .inner
                .index
                .insert(probe.hash, labels.clone(), metric.clone())
        {
            table.indexed += 1;
        }
        table.push(Entry {
            labels,
            metric: metric.clone(),
            created: now_unix_seconds(),
        });
        Ok(metric)
    }

    /// Runs `f` on the series for `values` (one per label name, in order), created on first
    /// use, without cloning its handle: the per-request way to record into a labelled family.
    ///
    /// For a series that exists this hashes the borrowed values, probes a lock-free index and
    /// compares in place: no allocation, no lock, no reference count or other shared memory
    /// written (so threads looking up concurrently do not contend). Creating a series, a
    /// lookup past the cap (the overflow series, counted) and a wrong number of values (a
    /// detached series, counted) take the path of [`with_label_values`](Self::with_label_values).
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry, Unit};
    /// let registry = Registry::new();
    /// let latency = registry
    ///     .register_histogram(Opts::new("rpc_seconds", "R.").unit(Unit::Seconds).labels(["method", "code"]))
    ///     .unwrap();
    /// for _ in 0..3 {
    ///     latency.with(&["GET", "200"], |h| h.record(1_500));
    /// }
    /// assert_eq!(latency.with(&["GET", "200"], |h| h.snapshot().count()), 3);
    /// ```
    #[inline]
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&M) -> R) -> R {
        // No over-long value is ever indexed, so the index alone tells them apart.
        if values.len() == self.inner.index.labels() {
            let probe = self.inner.index.probe(values);
            if let Some(metric) = self.inner.index.find(&probe, values) {
                return f(metric);
            }
        }
        self.with_slow(values, f)
    }

    #[cold]
    #[inline(never)]
    fn with_slow<R>(&self, values: &[&str], f: impl FnOnce(&M) -> R) -> R {
        f(&self.with_label_values(values))
    }

    /// Handles for many label sets at once, in order: index the result instead of looking up
    /// (dense, hash-free handles for label values known at setup).
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry, Unit};
    /// let registry = Registry::new();
    /// let stages = registry
    ///     .register_histogram(Opts::new("stage_seconds", "S.").unit(Unit::Seconds).labels(["stage"]))
    ///     .unwrap();
    /// let by_stage = stages.resolve(&[&["enrich"], &["persist"]]);
    /// by_stage[1].record(2_000); // persist
    /// assert_eq!(by_stage[1].snapshot().count(), 1);
    /// ```
    #[must_use]
    pub fn resolve(&self, label_sets: &[&[&str]]) -> Vec<M> {
        label_sets
            .iter()
            .map(|values| self.with_label_values(values))
            .collect()
    }

    /// Removes the series for `values`; handles already resolved keep working but are no longer
    /// exported. Returns whether it existed.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::new();
    /// let f = registry.register_gauge(Opts::new("g", "G.").labels(["k"])).unwrap();
    /// f.with_label_values(&["a"]).set(1);
    /// assert!(f.remove(&["a"]));
    /// assert_eq!(f.series_count(), 0);
    /// ```
    pub fn remove(&self, values: &[&str]) -> bool {
        let mut table = self.write();
        if !table.remove(values) {
            return false;
        }
        self.inner
            .index
            .remove(&self.inner.index.probe(values), values);
        true
    }

    /// Bytes the family's series hold now: their recorders (for histograms, the shards and
    /// pages allocated so far), their label values, the table of their positions, and the
    /// lock-free lookup index (one word per slot: twice the series cap, rounded up to a power
    /// of two, at most 8,192 slots). The registry reports the total of its families as
    /// `perf_instrument_memory_bytes`.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::new();
    /// let f = registry.register_histogram(Opts::new("size_bytes", "S.").labels(["k"])).unwrap();
    /// let empty = f.memory_bytes(); // the family's lookup index
    /// f.with_label_values(&["a"]).record(10);
    /// assert!(f.memory_bytes() > empty);
    /// ```
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.tally().memory_bytes
    }

    /// The family's memory, clamped values and refused exemplars, in one walk of its series
    /// (a scrape's self metrics read all three).
    pub(crate) fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        let mut add = |e: &Entry<M>| {
            tally.memory_bytes += e.metric.memory_bytes();
            tally.clamped = tally.clamped.wrapping_add(e.metric.clamped());
            tally.exemplars_refused = tally
                .exemplars_refused
                .wrapping_add(e.metric.exemplars_refused());
        };
        let table = self.read();
        table.entries.iter().for_each(&mut add);
        if let Some(e) = self.inner.overflow.get() {
            add(e);
            tally.memory_bytes += e.labels.heap_bytes() + std::mem::size_of::<Entry<M>>();
        }
        tally.memory_bytes += table.label_bytes
            + table.entries.len() * std::mem::size_of::<Entry<M>>()
            + table.positions.allocation_size()
            + self.inner.index.memory_bytes(table.indexed);
        tally
    }

    /// Number of series (not counting the overflow series).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let f = registry.register_counter(perf_instrument::Opts::new("c", "C.")).unwrap();
    /// assert_eq!(f.series_count(), 0);
    /// f.with_label_values(&[]).inc();
    /// assert_eq!(f.series_count(), 1);
    /// ```
    #[must_use]
    pub fn series_count(&self) -> usize {
        self.read().entries.len()
    }

    /// Lookups that were folded into the overflow series, or given the wrong number of label
    /// values (see the type docs).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let f = registry.register_counter(perf_instrument::Opts::new("c", "C.")).unwrap();
    /// assert_eq!(f.overflow_count(), 0);
    /// ```
    #[must_use]
    pub fn overflow_count(&self) -> u64 {
        self.inner.overflow_lookups.get().map_or(0, Counter::get)
    }

    /// Whether a value is over the family's byte budget (such a lookup gets the overflow series).
    #[inline(always)]
    fn too_long(&self, values: &[&str]) -> bool {
        let max = self.inner.desc.max_label_value_bytes();
        values.iter().any(|v| v.len() > max)
    }

    /// Counts one lookup that did not get a series of its own.
    fn count_overflow(&self) {
        self.inner
            .overflow_lookups
            .get_or_init(|| match &self.inner.overflow_counters {
                Some(family) => family.with_label_values(&[self.inner.desc.name()]),
                None => Counter::new(),
            })
            .inc();
    }

    /// The handle for lookups with the wrong number of label values: counted, never exported.
    fn detached(&self) -> M {
        self.count_overflow();
        let (unit, schema) = (self.inner.desc.unit(), self.inner.desc.schema());
        self.inner
            .detached
            .get_or_init(|| M::create(unit, schema))
            .clone()
    }

    fn overflow(&self) -> M {
        self.count_overflow();
        let desc = &self.inner.desc;
        self.inner
            .overflow
            .get_or_init(|| Entry {
                labels: vec![OVERFLOW_LABEL_VALUE.to_string(); desc.label_names().len()].into(),
                metric: M::create(desc.unit(), desc.schema()),
                created: now_unix_seconds(),
            })
            .metric
            .clone()
    }

    pub(crate) fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let unit = self.inner.desc.unit();
        let snapshot = |e: &Entry<M>| {
            e.metric.value(unit).map(|value| SeriesSnapshot {
                label_values: e.labels.clone(),
                value,
                created: Some(e.created),
                exemplars: e.metric.exemplars(unit),
            })
        };
        let mut series: Vec<SeriesSnapshot> =
            self.read().entries.iter().filter_map(snapshot).collect();
        series.extend(self.inner.overflow.get().and_then(snapshot));
        out.push(FamilySnapshot {
            desc: self.inner.desc.clone(),
            series,
        });
    }

    fn read(&self) -> RwLockReadGuard<'_, Table<M>> {
        // Nothing panics while holding the lock, so a poisoned lock still holds a valid table.
        self.inner
            .table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table<M>> {
        self.inner
            .table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The hash of a label set in a table's `positions`: each value's length and bytes.
fn hash_values<'a>(
    hasher: &foldhash::fast::RandomState,
    values: impl Iterator<Item = &'a [u8]>,
) -> u64 {
    let mut h = hasher.build_hasher();
    for v in values {
        h.write_usize(v.len());
        h.write(v);
    }
    h.finish()
}

fn hash_labels(hasher: &foldhash::fast::RandomState, labels: &LabelValues) -> u64 {
    hash_values(hasher, labels.byte_values())
}

impl<M> Table<M> {
    fn hash(&self, values: &[&str]) -> u64 {
        hash_values(&self.hasher, values.iter().map(|v| v.as_bytes()))
    }

    /// Where the series for `values` is in `entries`.
    fn position(&self, values: &[&str]) -> Option<usize> {
        let hash = self.hash(values);
        let entries = &self.entries;
        self.positions
            .find(hash, |&i| entries[i].labels == *values)
            .copied()
    }

    /// Adds a series (whose label values are not in the table).
    fn push(&mut self, entry: Entry<M>) {
        let hash = hash_labels(&self.hasher, &entry.labels);
        self.label_bytes += entry.labels.heap_bytes();
        let i = self.entries.len();
        self.entries.push(entry);
        let Self {
            positions,
            entries,
            hasher,
            ..
        } = self;
        positions.insert_unique(hash, i, |&j| hash_labels(hasher, &entries[j].labels));
    }

    /// Removes the series for `values`, moving the last entry into its place; returns whether
    /// it existed.
    fn remove(&mut self, values: &[&str]) -> bool {
        let hash = self.hash(values);
        let entries = &self.entries;
        let Ok(found) = self
            .positions
            .find_entry(hash, |&i| entries[i].labels == *values)
        else {
            return false;
        };
        let (i, _) = found.remove();
        let removed = self.entries.swap_remove(i);
        self.label_bytes -= removed.labels.heap_bytes();
        if let Some(moved) = self.entries.get(i) {
            let last = self.entries.len();
            let hash = hash_labels(&self.hasher, &moved.labels);
            if let Some(position) = self.positions.find_mut(hash, |&j| j == last) {
                *position = i;
            }
        }
        true
    }
}

impl<M: Series> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.inner.desc.name())
            .field("kind", &self.inner.desc.kind())
            .field("series", &self.series_count())
            .finish()
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use crate::registry::{Opts, Registry};

    fn registry() -> Registry {
        Registry::builder()
            .self_metrics(false)
            .process_metrics(false)
            .build()
            .unwrap()
    }

    #[test]
    fn with_finds_the_series_with_label_values_created_and_no_other() {
        let r = registry();
        let f = r
            .register_counter(Opts::new("hits", "H.").labels(["a", "b"]))
            .unwrap();
        f.with_label_values(&["x", "y"]).inc();
        f.with(&["x", "y"], |c| c.inc_by(2));
        f.with(&["y", "x"], |c| c.inc());
        f.with(&["xy", ""], |c| c.inc_by(10));
        assert_eq!(f.with_label_values(&["x", "y"]).get(), 3);
        assert_eq!(f.with_label_values(&["y", "x"]).get(), 1);
        assert_eq!(f.with_label_values(&["xy", ""]).get(), 10);
        assert_eq!(f.series_count(), 3);
    }

    #[test]
    fn a_removed_series_is_not_found_and_a_new_one_takes_its_labels() {
        let r = registry();
        let f = r
            .register_counter(Opts::new("hits", "H.").labels(["a"]))
            .unwrap();
        let old = f.with_label_values(&["x"]);
        old.inc_by(5);
        for _ in 0..3 {
            assert!(f.remove(&["x"]));
            assert_eq!(f.with(&["x"], |c| c.get()), 0, "a fresh series");
            f.with(&["x"], |c| c.inc());
            assert_eq!(f.with(&["x"], |c| c.get()), 1);
        }
        assert_eq!(old.get(), 5);
        assert_eq!(f.series_count(), 1);
    }

    #[test]
    fn with_keeps_the_cap_overflow_and_wrong_count_semantics() {
        let r = registry();
        let f = r
            .register_counter(Opts::new("hits", "H.").labels(["a"]).max_series(2))
            .unwrap();
        for v in ["a", "b", "c", "d"] {
            f.with(&[v], |c| c.inc());
        }
        assert_eq!(f.series_count(), 2);
        assert_eq!(f.overflow_count(), 2);
        f.with(&["c"], |c| c.inc());
        assert_eq!(f.overflow_count(), 3, "every overflow lookup is counted");
        assert_eq!(f.with(&["__overflow__"], |c| c.get()), 3);
        f.with(&["a", "extra"], |c| c.inc());
        assert_eq!(f.overflow_count(), 5);
    }

    #[test]
    fn memory_bytes_follows_series_added_and_removed_without_a_walk() {
        let r = registry();
        let f = r
            .register_gauge(Opts::new("g", "G.").labels(["k"]))
            .unwrap();
        f.with_label_values(&["a"]).set(1);
        let one = f.memory_bytes();
        // Longer than a label set kept in place: one shared slice and the value's buffer.
        let long = "a label value of some length, longer than forty bytes";
        let gauge = f.with_label_values(&[long]);
        let two = f.memory_bytes();
        assert!(f.remove(&[long]));
        let after = f.memory_bytes();
        // The entry goes; its index slot stays as a tombstone.
        let entry = long.len()
            + std::mem::size_of::<String>()
            + 2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<super::Entry<crate::recorder::Gauge>>()
            + gauge.memory_bytes();
        assert_eq!(two - after, entry);
        assert!(after > one);
    }

    #[test]
    fn series_beyond_the_index_are_found_through_the_table() {
        let r = registry();
        let f = r
            .register_counter(Opts::new("hits", "H.").labels(["a"]).max_series(20_000))
            .unwrap();
        for i in 0..(super::super::index::MAX_INDEX_SLOTS / 2 + 100) {
            f.with(&[&i.to_string()], |c| c.inc());
        }
        for i in (0..(super::super::index::MAX_INDEX_SLOTS / 2 + 100)).step_by(97) {
            assert_eq!(f.with(&[&i.to_string()], |c| c.get()), 1, "{i}");
        }
        assert_eq!(f.overflow_count(), 0);
    }

    #[test]
    fn removing_series_keeps_every_other_series_findable_through_the_table() {
        let r = registry();
        let f = r
            .register_counter(
                Opts::new("hits", "H.")
                    .labels(["a", "b"])
                    .max_series(20_000),
            )
            .unwrap();
        let n = super::super::index::MAX_INDEX_SLOTS / 2 + 300;
        // Short sets kept in place and long ones shared, past the lock-free index's half.
        let values = |i: usize| {
            let long = format!("{i}-a label value too long to be kept in place at all");
            if i.is_multiple_of(2) {
                [i.to_string(), "x".to_string()]
            } else {
                [i.to_string(), long]
            }
        };
        for i in 0..n {
            let v = values(i);
            f.with(&[&v[0], &v[1]], |c| c.inc_by(i as u64 + 1));
        }
        // Remove from the front, the middle and the end: each moves the last entry.
        let gone: Vec<usize> = (0..n).step_by(7).chain([n - 1]).collect();
        for &i in &gone {
            let v = values(i);
            assert!(f.remove(&[&v[0], &v[1]]), "{i}");
            assert!(!f.remove(&[&v[0], &v[1]]), "{i} twice");
        }
        assert_eq!(f.series_count(), n - gone.len());
        for i in (0..n).filter(|i| !gone.contains(i)) {
            let v = values(i);
            let handle = f.with_label_values(&[&v[0], &v[1]]);
            assert_eq!(handle.get(), i as u64 + 1, "{i}");
        }
        assert_eq!(f.series_count(), n - gone.len());
        assert_eq!(f.overflow_count(), 0);
    }
}
