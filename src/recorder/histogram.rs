//! `Histogram`: a lock-free, fixed-memory, sharded histogram of integers.

use super::super::clock::{self, Clock};
use super::super::sync::{Arc, AtomicU64, OnceBox, Ordering};
use super::exemplar::{self, Exemplar, ExemplarError, Exemplars};
use super::lanes::{self, Lane};
use super::layout::{self, Schema, MAX_VALUE};
use super::snapshot::HistogramSnapshot;
use super::wide_sum::WideSum;
use super::Unit;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::Duration;

/// Sixteen buckets on two whole cache lines of their own (aligned to 128 bytes, so that no
/// other lane's page or shard shares a line or an adjacent-line prefetch pair with it).
type Chunk = CachePadded<[AtomicU64; CHUNK_SLOTS]>;

/// Buckets per chunk.
const CHUNK_SLOTS: usize = 16;

/// Base-2 logarithm of the buckets per page (a constant, so that a record's position in its
/// page is a mask the compiler knows to be in bounds).
const PAGE_SHIFT: u32 = CHUNK_SLOTS.trailing_zeros();

/// A page of buckets, allocated the first time a value falls in it: one chunk of sixteen, at
/// every schema (two octaves at schema 3, a sixteenth of one at schema 8). The page table holds
/// a pointer per page, so that a record loads one published pointer to reach its bucket.
type Page = Chunk;

/// Where a histogram's slots live: its schema and how slots map onto pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    schema: Schema,
    /// Offset that makes pages start at octave boundaries: octave `k`, the values
    /// `(2^k, 2^(k+1)]`, is slots `2^s·k + 2 ..= 2^s·k + 2^s + 1`, so `slot + pad` is a multiple
    /// of `2^s` at the start of every octave.
    pad: usize,
}

impl Geometry {
    const fn of(schema: Schema) -> Self {
        let s = schema.get() as u32;
        Self {
            schema,
            pad: (1usize << s).saturating_sub(2),
        }
    }

    /// The page and the position in it of a slot.
    #[inline(always)]
    fn page_of(self, slot: usize) -> (usize, usize) {
        let pos = slot + self.pad;
        (pos >> PAGE_SHIFT, pos & ((1 << PAGE_SHIFT) - 1))
    }

    /// The slot at a page and position (wrapping below slot 0 for the padding).
    #[cfg(test)]
    fn slot_at(self, page: usize, pos: usize) -> usize {
        ((page << PAGE_SHIFT) + pos).wrapping_sub(self.pad)
    }

    /// Pages in a shard's page table: enough for every slot of the schema (25 at schema 3,
    /// 784 at schema 8).
    fn pages(self) -> usize {
        (self.schema.slots() + self.pad).div_ceil(1 << PAGE_SHIFT)
    }
}

#[cold]
#[inline(never)]
fn new_page() -> Box<Page> {
    Box::new(CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
}

#[cold]
#[inline(never)]
fn new_shard(g: Geometry) -> Box<CachePadded<Shard>> {
    Box::new(CachePadded::new(Shard::new(g)))
}

/// The most samples one [`Histogram::record_with_expected_interval`] adds for the measurements
/// a stall missed (2^20): a stall of a second at a 1 µs interval is filled in whole; one of
/// 72 hours at 1 ns is not.
///
/// ```
/// use perf_instrument::{Histogram, Unit, MAX_FILL_IN};
/// let h = Histogram::new(Unit::Count);
/// h.record_with_expected_interval(u64::MAX / 2, 1);
/// assert_eq!(h.snapshot().count(), 1 + MAX_FILL_IN);
/// ```
pub const MAX_FILL_IN: u64 = 1 << 20;

/// One writer's part of a histogram: sum, max, clamped values, and a table of pages of bucket
/// counts, each allocated on the first value that falls in it.
///
/// A lane's owner updates it with plain loads and stores; the shared shard with atomic RMWs.
struct Shard {
    sum: WideSum,
    max: AtomicU64,
    clamped: AtomicU64,
    /// One entry per page of the schema's range, allocated with the shard.
    pages: Box<[OnceBox<Page>]>,
    /// Pages published in `pages`: counted by the thread whose page won, so memory figures
    /// need not walk the table.
    pages_allocated: AtomicU64,
}

impl Shard {
    fn new(g: Geometry) -> Self {
        Self {
            sum: WideSum::default(),
            max: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            pages: (0..g.pages()).map(|_| OnceBox::new()).collect(),
            pages_allocated: AtomicU64::new(0),
        }
    }

    /// The counter of `slot`, allocating its page on first use.
    #[inline(always)]
    fn bucket(&self, slot: usize, g: Geometry) -> &AtomicU64 {
        let (page, pos) = g.page_of(slot);
        match self.pages[page].get() {
            Some(page) => &page[pos],
            None => &self.install_page(page)[pos],
        }
    }

    /// Allocates and publishes page `page` (or takes the one a racing thread published), and
    /// counts it if this thread's page won.
    #[cold]
    #[inline(never)]
    fn install_page(&self, page: usize) -> &Page {
        let cell = &self.pages[page];
        if cell.set(new_page()).is_ok() {
            self.pages_allocated.fetch_add(1, Ordering::Relaxed);
        }
        // Set by now, by this thread or the winner: the closure does not run.
        cell.get_or_init(new_page)
    }

    /// Bytes of the page table and of the pages allocated now.
    fn pages_bytes(&self) -> usize {
        let pages = usize::try_from(self.pages_allocated.load(Ordering::Relaxed)).unwrap_or(0);
        std::mem::size_of_val(&*self.pages) + pages * std::mem::size_of::<Page>()
    }
}

/// How a value reaches a shard: by its single owner, or by anyone.
trait Writer {
    fn add(word: &AtomicU64, n: u64);
    fn raise(word: &AtomicU64, value: u64);
    fn add_sum(sum: &WideSum, amount: u128);
}

/// The owner of a lane: the only writer of its shard.
struct Owner;

impl Writer for Owner {
    #[inline(always)]
    fn add(word: &AtomicU64, n: u64) {
        word.store(
            word.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
    #[inline(always)]
    fn raise(word: &AtomicU64, value: u64) {
        if value > word.load(Ordering::Relaxed) {
            // Release: a snapshot that reads this maximum also reads the bucket store before it.
            word.store(value, Ordering::Release);
        }
    }
    #[inline(always)]
    fn add_sum(sum: &WideSum, amount: u128) {
        sum.add_owned(amount);
    }
}

/// A thread without a lane, writing the shared shard.
struct Anyone;

impl Writer for Anyone {
    #[inline(always)]
    fn add(word: &AtomicU64, n: u64) {
        word.fetch_add(n, Ordering::Relaxed);
    }
    #[inline(always)]
    fn raise(word: &AtomicU64, value: u64) {
        if value > word.load(Ordering::Relaxed) {
            word.fetch_max(value, Ordering::Release);
        }
    }
    #[inline(always)]
    fn add_sum(sum: &WideSum, amount: u128) {
        sum.add_shared(amount);
    }
}

impl Shard {
    /// Records `n` times a `value <= MAX_VALUE`.
    #[inline(always)]
    fn record<W: Writer>(&self, value: u64, n: u64, g: Geometry) {
        W::add(self.bucket(layout::slot(value, g.schema), g), n);
        W::add_sum(&self.sum, u128::from(value) * u128::from(n));
        W::raise(&self.max, value);
    }

    /// Adds pre-computed bucket counts (coordinated-omission fill-in), then their sum and
    /// maximum.
    fn record_batch<W: Writer>(&self, counts: &[(usize, u64)], g: Geometry) {
        for &(slot, n) in counts {
            W::add(self.bucket(slot, g), n);
        }
    }

    /// The sum and maximum of a fill-in whose buckets were added.
    fn finish_batch<W: Writer>(&self, sum: u128, max: u64) {
        W::add_sum(&self.sum, sum);
        W::raise(&self.max, max);
    }
}

/// A histogram of integers: lock-free, bounded in memory, exact in count and sum.
///
/// Values are bucketed on the log layout of one native schema, 3 unless chosen with
/// [`with_schema`](Histogram::with_schema) (see [`Schema`](crate::Schema), [`RELATIVE_ERROR`]
/// and [`MAX_VALUE`]); each thread writes its own cache-padded shard (see the crate docs on lanes),
/// so recording is a bucket-index computation and a few plain stores, and two threads recording
/// into one histogram never share a cache line. Cloning is cheap and shares the histogram.
///
/// A histogram has a [`Unit`]. For [`Unit::Seconds`], [`record`](Histogram::record) takes
/// nanoseconds and stores them as 2^-30 s units, so the buckets are native buckets in seconds;
/// for other units values are stored as given.
///
/// Memory follows use: a new histogram holds one word per lane; a lane's shard (328 bytes at
/// schema 3, 6,400 at schema 8, mostly its page table) is allocated when that lane first
/// records, and a page of 16 buckets (128 bytes; two octaves of values at schema 3) when a
/// value first falls in it (see [`memory_bytes`](Histogram::memory_bytes) and
/// `docs/ARCHITECTURE.md`).
///
/// ```
/// use perf_instrument::{Histogram, Unit};
/// use std::time::Duration;
///
/// let latency = Histogram::new(Unit::Seconds);
/// latency.record_duration(Duration::from_micros(250));
/// latency.record(1_500_000); // nanoseconds
/// {
///     let _timer = latency.start_timer(); // records when dropped
/// }
/// let snap = latency.snapshot();
/// assert_eq!(snap.count(), 3);
/// let p50 = snap.quantile(0.5).unwrap();
/// assert!((p50 - 250e-6).abs() <= 250e-6 * perf_instrument::RELATIVE_ERROR);
/// ```
///
/// [`RELATIVE_ERROR`]: crate::RELATIVE_ERROR
/// [`MAX_VALUE`]: crate::MAX_VALUE
#[derive(Clone)]
pub struct Histogram {
    /// One shard per lane, then the shared shard; each allocated on its first record.
    shards: Arc<[OnceBox<CachePadded<Shard>>]>,
    /// The last exemplar per octave, allocated on the first exemplar; `record` never reads it.
    exemplars: Arc<OnceBox<Exemplars>>,
    unit: Unit,
    geometry: Geometry,
}

impl Histogram {
    /// A new, empty histogram of values in `unit`.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let batch_sizes = Histogram::new(Unit::Count);
    /// batch_sizes.record(32);
    /// assert_eq!(batch_sizes.snapshot().max(), Some(32.0));
    /// ```
    #[must_use]
    pub fn new(unit: Unit) -> Self {
        Self::with_schema(unit, Schema::DEFAULT)
    }

    /// A new, empty histogram of values in `unit` bucketed at native `schema`: finer schemas
    /// report values more precisely ([`Schema::relative_error`]) and take more memory for the
    /// same range of values.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Schema, Unit};
    /// let latency = Histogram::with_schema(Unit::Seconds, Schema::MAX);
    /// latency.record(1_234_567); // nanoseconds
    /// let snap = latency.snapshot();
    /// assert_eq!(snap.schema(), Schema::MAX);
    /// let p50 = snap.quantile(0.5).unwrap();
    /// assert!((p50 - 1.234567e-3).abs() <= 1.234567e-3 * Schema::MAX.relative_error() + 1e-9);
    /// ```
    #[must_use]
    pub fn with_schema(unit: Unit, schema: Schema) -> Self {
        let shards = (0..=lanes::count()).map(|_| OnceBox::new()).collect();
        Self {
            shards,
            exemplars: Arc::new(OnceBox::new()),
            unit,
            geometry: Geometry::of(schema),
        }
    }

    /// Records `value` as [`record`](Self::record) does, and keeps `labels` (a trace id, an
    /// event id) as an exemplar of it: the last exemplar per octave of values is kept (the
    /// native buckets `(2^k, 2^(k+1)]`, at most 66), timestamped, and exported on the classic
    /// bucket that holds it. The value is always recorded; the exemplar is refused, with the
    /// reason, when the labels are invalid (see [`Exemplar::new`]: at most 128 characters) or
    /// when another thread is storing one in the same octave at that instant (recording never
    /// waits). Refusals are counted in `perf_instrument_exemplars_refused_total{family}`.
    ///
    /// This path allocates (the exemplar's strings, and once the table of slots) and reads the
    /// wall clock; [`record`](Self::record) pays none of it.
    ///
    /// ```
    /// use perf_instrument::{ExemplarError, Histogram, Unit};
    /// let latency = Histogram::new(Unit::Seconds);
    /// latency.record_with_exemplar(250_000_000, &[("trace_id", "4bf92f35")]).unwrap();
    /// latency.record(1_000); // no exemplar
    /// let bad = latency.record_with_exemplar(5_000, &[("trace id", "x")]);
    /// assert!(matches!(bad, Err(ExemplarError::InvalidName { .. })));
    /// assert_eq!(latency.snapshot().count(), 3);
    /// let kept = latency.exemplars();
    /// assert_eq!(kept.len(), 1);
    /// assert_eq!(kept[0].labels()[0].1, "4bf92f35");
    /// assert!((kept[0].value() - 0.25).abs() < 1e-9);
    /// ```
    pub fn record_with_exemplar(
        &self,
        value: u64,
        labels: &[(&str, &str)],
    ) -> Result<(), ExemplarError> {
        let stored = self.to_stored(value);
        self.record_stored(stored, 1);
        self.store_exemplar(stored, labels)
    }

    /// Keeps an exemplar of a stored value (already recorded).
    #[cold]
    #[inline(never)]
    pub(crate) fn store_exemplar(
        &self,
        stored: u64,
        labels: &[(&str, &str)],
    ) -> Result<(), ExemplarError> {
        let table = self
            .exemplars
            .get_or_init(|| Exemplars::boxed(exemplar::HISTOGRAM_SLOTS));
        if let Err(reason) = exemplar::check(labels) {
            return Err(table.refuse(reason));
        }
        // A clamped value lies in the top bucket, and its exemplar says so.
        let stored = stored.min(MAX_VALUE);
        let value = match self.unit {
            Unit::Seconds => stored as f64 / clock::TIME_UNITS_PER_SECOND as f64,
            Unit::Bytes | Unit::Count => stored as f64,
        };
        table.store(exemplar::octave_slot(stored), labels, value)
    }

    /// The exemplars kept now, lowest value first (see
    /// [`record_with_exemplar`](Self::record_with_exemplar)).
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let sizes = Histogram::new(Unit::Bytes);
    /// sizes.record_with_exemplar(4_096, &[("request_id", "a")]).unwrap();
    /// sizes.record_with_exemplar(4_000, &[("request_id", "b")]).unwrap(); // same octave: replaces a
    /// sizes.record_with_exemplar(100, &[("request_id", "c")]).unwrap();
    /// let ids: Vec<_> = sizes.exemplars().iter().map(|e| e.labels()[0].1.clone()).collect();
    /// assert_eq!(ids, ["c", "b"]);
    /// ```
    #[must_use]
    pub fn exemplars(&self) -> Vec<Exemplar> {
        let mut out = Vec::new();
        if let Some(table) = self.exemplars.get() {
            table.collect(&mut out);
        }
        out
    }

    /// Exemplars refused so far (invalid labels, or a slot busy at that instant).
    pub(crate) fn exemplars_refused(&self) -> u64 {
        self.exemplars.get().map_or(0, |t| t.refused())
    }

    /// The native schema of the buckets.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Schema, Unit};
    /// assert_eq!(Histogram::new(Unit::Count).schema(), Schema::DEFAULT);
    /// ```
    #[must_use]
    pub fn schema(&self) -> Schema {
        self.geometry.schema
    }

    /// The unit of the recorded values.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// assert_eq!(Histogram::new(Unit::Bytes).unit(), Unit::Bytes);
    /// ```
    #[must_use]
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// Records one value: nanoseconds for a [`Unit::Seconds`] histogram, the value itself
    /// otherwise. Values above [`MAX_VALUE`](crate::MAX_VALUE) are clamped and counted.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let sizes = Histogram::new(Unit::Bytes);
    /// sizes.record(4096);
    /// assert_eq!(sizes.snapshot().sum(), 4096.0);
    /// ```
    #[inline]
    pub fn record(&self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `value` `n` times, in one update. `n == 0` records nothing (not even the
    /// maximum).
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let sizes = Histogram::new(Unit::Count);
    /// sizes.record_n(10, 3);
    /// sizes.record_n(1_000, 0);
    /// let snap = sizes.snapshot();
    /// assert_eq!((snap.count(), snap.sum(), snap.max()), (3, 30.0, Some(10.0)));
    /// ```
    #[inline]
    pub fn record_n(&self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.record_stored(self.to_stored(value), n);
    }

    /// Records a duration (for a [`Unit::Seconds`] histogram; other units store nanoseconds).
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// use std::time::Duration;
    /// let h = Histogram::new(Unit::Seconds);
    /// h.record_duration(Duration::from_secs(2));
    /// assert_eq!(h.snapshot().sum(), 2.0);
    /// ```
    #[inline]
    pub fn record_duration(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.record(nanos);
    }

    /// Records `value` and, when it exceeds `expected_interval`, the samples a stalled
    /// fixed-rate measurement loop missed meanwhile: `value - interval`, `value - 2·interval`, …
    /// down to `interval` (HdrHistogram's `record_correct`, coordinated-omission correction).
    ///
    /// The fill-in is added bucket by bucket, so its cost is bounded by the number of buckets
    /// the missed values span, not by `value / expected_interval`. It adds at most
    /// [`MAX_FILL_IN`] samples per call (about a million; the largest missed values), so one
    /// absurd value or a zero-ish interval cannot add 10^14 samples. Both arguments are in the
    /// unit of [`record`](Self::record) (nanoseconds for time histograms).
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// // A loop that should run every 10 ticks stalled for 100.
    /// h.record_with_expected_interval(100, 10);
    /// // 100 plus the missed 90, 80, ..., 10.
    /// assert_eq!(h.snapshot().count(), 10);
    /// ```
    pub fn record_with_expected_interval(&self, value: u64, expected_interval: u64) {
        let value = self.to_stored(value);
        let interval = self.to_stored(expected_interval);
        self.record_stored(value, 1);
        let value = value.min(MAX_VALUE);
        if interval == 0 || value <= interval {
            return;
        }
        let g = self.geometry;
        let add = |counts: &[(usize, u64)]| match lanes::current() {
            Lane::Owned(lane) => self.shard(lane).record_batch::<Owner>(counts, g),
            Lane::Shared => self.shared().record_batch::<Anyone>(counts, g),
        };
        // Buckets are added 64 at a time (a schema-8 fill-in can span thousands).
        let mut counts = [(0usize, 0u64); 64];
        let mut used = 0;
        // Missed values are value - k·interval for k in 1..=last, the largest MAX_FILL_IN of
        // them at most.
        let last = (value / interval - 1).min(MAX_FILL_IN);
        let mut k = 1;
        let mut sum = 0u128;
        while k <= last {
            let x = value - k * interval;
            let slot = layout::slot(x, g.schema);
            let (lo, _) = layout::slot_range(slot, g.schema);
            // Every k' >= k whose value is still >= lo lands in this slot.
            let k_end = ((value - lo) / interval).min(last);
            let n = k_end - k + 1;
            // Sum of value - k'·interval for k' in k..=k_end.
            let ks = u128::from(k + k_end) * u128::from(n) / 2;
            sum += u128::from(value) * u128::from(n) - ks * u128::from(interval);
            counts[used] = (slot, n);
            used += 1;
            if used == counts.len() {
                add(&counts);
                used = 0;
            }
            k = k_end + 1;
        }
        add(&counts[..used]);
        let max = value - interval;
        match lanes::current() {
            Lane::Owned(lane) => self.shard(lane).finish_batch::<Owner>(sum, max),
            Lane::Shared => self.shared().finish_batch::<Anyone>(sum, max),
        }
    }

    /// Starts a timer on the process clock that records the elapsed time when dropped.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// let timer = h.start_timer();
    /// let elapsed = timer.stop();
    /// assert_eq!(h.snapshot().count(), 1);
    /// assert!(elapsed.as_secs() < 60);
    /// ```
    #[inline]
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        self.start_timer_with(clock::global())
    }

    /// Starts a timer on `clock` (a manual clock in tests).
    ///
    /// ```
    /// use perf_instrument::{Clock, Histogram, Unit};
    /// use std::time::Duration;
    /// let (clock, hand) = Clock::manual();
    /// let h = Histogram::new(Unit::Seconds);
    /// let timer = h.start_timer_with(&clock);
    /// hand.advance(Duration::from_millis(5));
    /// drop(timer);
    /// // Stored at 2^-30 s resolution: exact to within a nanosecond.
    /// assert!((h.snapshot().sum() - 0.005).abs() < 1e-9);
    /// ```
    #[inline]
    pub fn start_timer_with<'a>(&'a self, clock: &'a Clock) -> HistogramTimer<'a> {
        HistogramTimer {
            histogram: self,
            clock,
            start: clock.raw(),
            armed: true,
        }
    }

    /// A copy of the counts: shards summed with relaxed loads up to each shard's maximum, the
    /// count derived from the buckets (so `count == sum of bucket counts` always), never lower
    /// than a snapshot taken before it. A record still in progress may show in the sum before
    /// its bucket does (or the reverse); it is in both by the next snapshot.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(7);
    /// let snap = h.snapshot();
    /// assert_eq!(snap.count(), snap.buckets().map(|b| b.count).sum::<u64>());
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> HistogramSnapshot {
        let g = self.geometry;
        let mut buckets: Vec<u64> = Vec::new();
        let mut sum = 0u128;
        let mut max = 0u64;
        let mut clamped = 0u64;
        for shard in self.shards.iter().filter_map(OnceBox::get) {
            // No bucket above the shard's maximum holds anything, so reading stops there.
            // Acquire pairs with the Release that raised the maximum, so the bucket of the
            // value that set it is seen too, and the page holding it (published before it).
            let shard_max = shard.max.load(Ordering::Acquire);
            let used = layout::slot(shard_max.min(MAX_VALUE), g.schema) + 1;
            if buckets.len() < used {
                buckets.resize(used, 0);
            }
            let (last_page, _) = g.page_of(used - 1);
            for (p, page) in shard.pages[..=last_page].iter().enumerate() {
                let Some(page) = page.get() else { continue };
                // The page's words from its first slot (the first page starts below slot 0,
                // in the padding) up to the last slot in use.
                let first = p << PAGE_SHIFT;
                let skip = g.pad.saturating_sub(first);
                if skip >= CHUNK_SLOTS {
                    continue;
                }
                let start = (first + skip) - g.pad;
                let end = (start + CHUNK_SLOTS - skip).min(used);
                for (total, bucket) in buckets[start..end].iter_mut().zip(&page[skip..]) {
                    *total = total.wrapping_add(bucket.load(Ordering::Relaxed));
                }
            }
            sum = sum.wrapping_add(shard.sum.read());
            max = max.max(shard_max);
            clamped = clamped.wrapping_add(shard.clamped.load(Ordering::Relaxed));
        }
        HistogramSnapshot::from_parts(self.unit, g.schema, buckets, sum, max, clamped)
    }

    /// Bytes this histogram occupies now: the handle, the table of lanes (one word per lane
    /// and its reference counts), and the shards and pages allocated so far, with their
    /// padding. A new histogram holds no shard; a lane's shard is allocated on its first record
    /// (328 bytes at schema 3 with its page table, 6,400 at schema 8), and each page of 16
    /// buckets (128 bytes) on the first value that falls in it. So memory follows the lanes
    /// that recorded and the range of values they recorded, never the number of cores times
    /// the number of buckets.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// let empty = h.memory_bytes();
    /// h.record(1_000); // one shard, one page
    /// let one = h.memory_bytes();
    /// assert!(one > empty);
    /// for _ in 0..10_000 { h.record(1_000); } // same lane, same page: nothing new
    /// assert_eq!(h.memory_bytes(), one);
    /// ```
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let counts = std::alloc::Layout::new::<[usize; 2]>();
        let table = counts
            .extend(std::alloc::Layout::for_value(&*self.shards))
            .map_or(0, |(layout, _)| layout.pad_to_align().size());
        let shards: usize = self
            .shards
            .iter()
            .filter_map(OnceBox::get)
            .map(|shard| std::mem::size_of::<CachePadded<Shard>>() + shard.pages_bytes())
            .sum();
        // The exemplar cell (behind its own reference counts) and, once used, its slots.
        let exemplars = counts
            .extend(std::alloc::Layout::new::<OnceBox<Exemplars>>())
            .map_or(0, |(layout, _)| layout.pad_to_align().size())
            + self.exemplars.get().map_or(0, |t| t.memory_bytes());
        std::mem::size_of::<Self>() + table + shards + exemplars
    }

    /// Records the time between two raw readings of `clock` (for a time histogram, converted
    /// to stored units with one multiply).
    #[inline(always)]
    pub(crate) fn record_elapsed(&self, clock: &Clock, start: u64, end: u64) {
        match self.unit {
            Unit::Seconds => self.record_stored(clock.delta_units(start, end), 1),
            Unit::Bytes | Unit::Count => self.record(clock.delta_nanos(start, end)),
        }
    }

    #[inline(always)]
    fn to_stored(&self, value: u64) -> u64 {
        match self.unit {
            Unit::Seconds => layout::nanos_to_units(value),
            Unit::Bytes | Unit::Count => value,
        }
    }

    #[inline(always)]
    fn record_stored(&self, value: u64, n: u64) {
        if value > MAX_VALUE {
            return self.record_clamped(value, n);
        }
        let g = self.geometry;
        match lanes::current() {
            Lane::Owned(lane) => self.shard(lane).record::<Owner>(value, n, g),
            Lane::Shared => self.shared().record::<Anyone>(value, n, g),
        }
    }

    /// A value above the range: counted in the top bucket and in `clamped`, and added to the
    /// sum as recorded (the sum stays the exact sum of what was recorded).
    #[cold]
    #[inline(never)]
    fn record_clamped(&self, value: u64, n: u64) {
        fn clamped<W: Writer>(shard: &Shard, value: u64, n: u64, g: Geometry) {
            W::add(shard.bucket(layout::slot(MAX_VALUE, g.schema), g), n);
            W::add_sum(&shard.sum, u128::from(value) * u128::from(n));
            W::raise(&shard.max, MAX_VALUE);
            W::add(&shard.clamped, n);
        }
        match lanes::current() {
            Lane::Owned(lane) => clamped::<Owner>(self.shard(lane), value, n, self.geometry),
            Lane::Shared => clamped::<Anyone>(self.shared(), value, n, self.geometry),
        }
    }

    /// Values recorded above [`MAX_VALUE`](crate::MAX_VALUE) so far (what
    /// `perf_instrument_clamped_values_total{family}` exports).
    pub(crate) fn clamped(&self) -> u64 {
        self.shards
            .iter()
            .filter_map(OnceBox::get)
            .map(|shard| shard.clamped.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }

    /// The shard of `lane`, allocated on the lane's first record.
    #[inline(always)]
    fn shard(&self, lane: usize) -> &Shard {
        self.shards[lane].get_or_init(|| new_shard(self.geometry))
    }

    #[inline(always)]
    fn shared(&self) -> &Shard {
        self.shard(self.shards.len() - 1)
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("Histogram")
            .field("unit", &self.unit)
            .field("schema", &self.geometry.schema)
            .field("count", &snap.count())
            .field("sum", &snap.sum())
            .field(
                "shards",
                &self.shards.iter().filter_map(OnceBox::get).count(),
            )
            .finish()
    }
}

/// Records the time since it started into its histogram when dropped (or at [`stop`]).
///
/// [`stop`]: HistogramTimer::stop
///
/// ```
/// use perf_instrument::{Histogram, Unit};
/// let h = Histogram::new(Unit::Seconds);
/// {
///     let _t = h.start_timer();
/// }
/// h.start_timer().discard(); // records nothing
/// assert_eq!(h.snapshot().count(), 1);
/// ```
#[must_use = "a timer records when it is dropped; dropping it at once records about zero"]
pub struct HistogramTimer<'a> {
    histogram: &'a Histogram,
    clock: &'a Clock,
    start: u64,
    armed: bool,
}

impl HistogramTimer<'_> {
    /// Records now and returns the elapsed time.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// let took = h.start_timer().stop();
    /// assert!(took.as_secs() < 60);
    /// ```
    pub fn stop(mut self) -> Duration {
        self.armed = false;
        let nanos = self.clock.delta_nanos(self.start, self.clock.raw());
        self.histogram.record(nanos);
        Duration::from_nanos(nanos)
    }

    /// Drops the timer without recording.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// h.start_timer().discard();
    /// assert_eq!(h.snapshot().count(), 0);
    /// ```
    pub fn discard(mut self) {
        self.armed = false;
    }
}

impl Drop for HistogramTimer<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            self.histogram
                .record_elapsed(self.clock, self.start, self.clock.raw());
        }
    }
}

impl fmt::Debug for HistogramTimer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistogramTimer")
            .field("start", &self.start)
            .field("armed", &self.armed)
            .finish()
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_clamped_into_the_top_bucket_and_counted() {
        let h = Histogram::new(Unit::Count);
        h.record(u64::MAX);
        h.record(MAX_VALUE);
        let snap = h.snapshot();
        assert_eq!(snap.count(), 2);
        assert_eq!(snap.clamped(), 1);
        assert_eq!(snap.max(), Some(MAX_VALUE as f64));
    }

    #[test]
    fn coordinated_omission_fill_in_matches_the_per_value_loop() {
        for (value, interval) in [
            (100u64, 10u64),
            (1_000_003, 7),
            (9, 10),
            (10, 10),
            (21, 10),
            (5_000_000, 1),
        ] {
            let bulk = Histogram::new(Unit::Count);
            bulk.record_with_expected_interval(value, interval);
            let looped = Histogram::new(Unit::Count);
            looped.record(value);
            let mut missing = value.saturating_sub(interval);
            let mut filled = 0;
            while value > interval && missing >= interval && filled < MAX_FILL_IN {
                looped.record(missing);
                missing -= interval;
                filled += 1;
            }
            assert_eq!(
                bulk.snapshot(),
                looped.snapshot(),
                "value {value} interval {interval}"
            );
        }
    }

    #[test]
    fn a_seconds_histogram_stores_binary_subnanosecond_units() {
        let h = Histogram::new(Unit::Seconds);
        h.record(1_000_000_000);
        h.record_duration(Duration::from_millis(500));
        let snap = h.snapshot();
        assert_eq!(snap.sum(), 1.5);
        assert_eq!(snap.max(), Some(1.0));
    }

    /// A histogram at `schema` whose table has `lanes` lanes, recorded into lane by lane.
    fn with_lanes(lanes: usize, schema: Schema) -> Histogram {
        Histogram {
            shards: (0..=lanes).map(|_| OnceBox::new()).collect(),
            exemplars: Arc::new(OnceBox::new()),
            unit: Unit::Seconds,
            geometry: Geometry::of(schema),
        }
    }

    /// A page: sixteen buckets on two cache lines, at every schema.
    const PAGE: usize = 128;

    /// The page table of a shard at `schema`.
    fn table(schema: Schema) -> usize {
        Geometry::of(schema).pages() * std::mem::size_of::<OnceBox<Page>>()
    }

    #[test]
    fn a_new_histogram_allocates_no_shard_and_a_record_one_shard_and_one_page() {
        let h = with_lanes(64, Schema::DEFAULT);
        let g = h.geometry;
        let empty = h.memory_bytes();
        assert_eq!(
            empty,
            std::mem::size_of::<Histogram>() + 16 + 65 * std::mem::size_of::<OnceBox<Shard>>() + 24
        );
        assert!(empty <= 640, "{empty}");
        h.shard(7).record::<Owner>(1_000, 1, g);
        let shard = std::mem::size_of::<CachePadded<Shard>>() + table(Schema::DEFAULT);
        assert!(shard <= 384, "{shard}");
        assert_eq!(std::mem::size_of::<Chunk>(), PAGE);
        assert_eq!(h.memory_bytes(), empty + shard + PAGE);
        // The same page again: nothing new; a value two octaves up: one more page.
        h.shard(7).record::<Owner>(1_001, 1, g);
        assert_eq!(h.memory_bytes(), empty + shard + PAGE);
        h.shard(7).record::<Owner>(4_000, 1, g);
        assert_eq!(h.memory_bytes(), empty + shard + 2 * PAGE);
        let snap = h.snapshot();
        assert_eq!((snap.count(), snap.sum_stored()), (3, 6_001));
        // One series recorded from one thread at 64 lanes: 1,064 B at schema 3, 7,136 B at
        // schema 8 (docs/ARCHITECTURE.md).
        let at_8 = std::mem::size_of::<CachePadded<Shard>>() + table(Schema::MAX);
        assert_eq!(empty + shard + PAGE, 1_064);
        assert_eq!(empty + at_8 + PAGE, 7_136);
    }

    #[test]
    fn a_schema_8_page_holds_a_sixteenth_of_an_octave() {
        let h = with_lanes(4, Schema::MAX);
        let g = h.geometry;
        let empty = h.memory_bytes();
        let shard = std::mem::size_of::<CachePadded<Shard>>() + table(Schema::MAX);
        // Octave 9, (512, 1024], starts a page: its first sixteen buckets share it, the
        // seventeenth starts the next one, and the octave's top is on its sixteenth page.
        let first = 513;
        h.shard(0).record::<Owner>(first, 1, g);
        assert_eq!(h.memory_bytes(), empty + shard + PAGE);
        let sixteenth = layout::slot_range(layout::slot(first, Schema::MAX) + 15, Schema::MAX).1;
        h.shard(0).record::<Owner>(sixteenth, 1, g);
        assert_eq!(h.memory_bytes(), empty + shard + PAGE);
        h.shard(0).record::<Owner>(sixteenth + 1, 1, g);
        assert_eq!(h.memory_bytes(), empty + shard + 2 * PAGE);
        let (first_page, _) = g.page_of(layout::slot(first, Schema::MAX));
        assert_eq!(
            g.page_of(layout::slot(1_024, Schema::MAX)),
            (first_page + 15, 15)
        );
        let snap = h.snapshot();
        assert_eq!(snap.count(), 3);
    }

    /// Bytes of 16 lanes recording 1 µs to 64 µs (six octaves, not aligned to pages: the
    /// worst case spans four pages) at every bucket of `schema`.
    fn sixteen_lanes_over_six_octaves(schema: Schema) -> usize {
        let h = with_lanes(16, schema);
        let g = h.geometry;
        for lane in 0..16 {
            let mut v = 1_100u64;
            while v < 70_000 {
                h.shard(lane).record::<Owner>(v, 1, g);
                v += v / 512 + 1;
            }
        }
        let snap = h.snapshot();
        assert_eq!(snap.count(), snap.buckets().map(|b| b.count).sum::<u64>());
        assert!(snap.count() > 16 * 1_000);
        h.memory_bytes()
    }

    #[test]
    fn sixteen_lanes_over_six_octaves_take_at_most_16_kib() {
        let bytes = sixteen_lanes_over_six_octaves(Schema::DEFAULT);
        assert!(bytes <= 16 * 1024, "{bytes}");
        // Schema 8: six octaves of 256 buckets, 96 or 97 pages per lane, and the larger table.
        let bytes = sixteen_lanes_over_six_octaves(Schema::MAX);
        let shard = std::mem::size_of::<CachePadded<Shard>>() + table(Schema::MAX);
        assert!(bytes <= 16 * (shard + 97 * PAGE) + 1_024, "{bytes}");
    }

    #[test]
    fn pages_cover_every_slot_once_and_start_at_octaves_at_every_schema() {
        for s in 0..=8 {
            let schema = Schema::new(s).unwrap();
            let g = Geometry::of(schema);
            let page_slots = 1usize << PAGE_SHIFT;
            let mut seen = vec![false; g.pages() * page_slots];
            for slot in 0..schema.slots() {
                let (page, pos) = g.page_of(slot);
                assert!(page < g.pages() && pos < page_slots, "{s}: slot {slot}");
                assert_eq!(g.slot_at(page, pos), slot);
                assert!(!std::mem::replace(&mut seen[page * page_slots + pos], true));
            }
            // Octave k, native indexes 2^s·k+1..=2^s·(k+1), starts at a multiple of 2^s in
            // the pages laid end to end (at the start of a page from schema 4 on, when an
            // octave is whole pages); 2^(k+1), its top, is the octave's last slot.
            let per = schema.buckets_per_octave();
            let linear = |(page, pos): (usize, usize)| page * page_slots + pos;
            for k in 0..48usize {
                let start = linear(g.page_of(per * k + 2));
                assert_eq!(start % per, 0, "{s}: octave {k}");
                if per >= page_slots {
                    assert_eq!(g.page_of(per * k + 2).1, 0, "{s}: octave {k}");
                }
                assert_eq!(
                    linear(g.page_of(layout::slot(2 << k, schema))),
                    start + per - 1,
                    "{s}: octave {k}"
                );
            }
        }
    }

    #[test]
    fn exemplars_keep_the_last_per_octave_in_bounded_memory() {
        let h = Histogram::new(Unit::Count);
        let plain = h.memory_bytes();
        h.record(5);
        assert!(h.exemplars().is_empty());
        let mut id = String::new();
        for i in 0..100_000u64 {
            id.clear();
            id.push_str(&format!("{i:032x}"));
            h.record_with_exemplar(
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64),
                &[("trace_id", &id)],
            )
            .unwrap();
        }
        h.record_with_exemplar(u64::MAX, &[("trace_id", "top")])
            .unwrap();
        let kept = h.exemplars();
        assert!(kept.len() <= exemplar::HISTOGRAM_SLOTS, "{}", kept.len());
        assert_eq!(h.snapshot().count(), 100_002);
        // Sorted by value, and the clamped value's exemplar sits at the top of the range.
        assert!(kept.windows(2).all(|w| w[0].value() < w[1].value()));
        let top = kept.last().unwrap();
        assert_eq!(
            (top.labels()[0].1.as_str(), top.value()),
            ("top", MAX_VALUE as f64)
        );
        // At most 66 slots of 16 B and 66 exemplars of a 40-character label set.
        let grown = h.memory_bytes() - plain;
        assert!(grown < 66 * 16 + 66 * 160 + 64 * 1_024, "{grown}");
    }

    #[test]
    fn refused_exemplars_are_counted_and_the_value_recorded() {
        let h = Histogram::new(Unit::Seconds);
        assert_eq!(h.exemplars_refused(), 0);
        let long = "x".repeat(200);
        assert!(h
            .record_with_exemplar(1_000, &[("trace_id", &long)])
            .is_err());
        assert!(h
            .record_with_exemplar(1_000, &[("le", "1"), ("le", "2")])
            .is_err());
        assert_eq!((h.exemplars_refused(), h.snapshot().count()), (2, 2));
        assert!(h.exemplars().is_empty());
    }

    /// Every bucket of a snapshot, summed over shards written by several threads, equals the
    /// count of values whose layout slot it is, at every schema (the snapshot walks pages
    /// that start below slot 0, in the padding, and stop at the last slot in use).
    #[test]
    fn snapshot_buckets_equal_the_values_in_each_slot_at_every_schema() {
        let values: Vec<u64> = (0..64u32)
            .flat_map(|k| [1u64 << k.min(47), (1u64 << k.min(47)) + 1, 3 << k.min(46)])
            .chain([0, 1, 2, 3, 5, 7, 9, 255, 1_000, 123_456, MAX_VALUE])
            .collect();
        for s in 0..=8 {
            let schema = Schema::new(s).unwrap();
            let h = Histogram::with_schema(Unit::Count, schema);
            std::thread::scope(|scope| {
                for t in 0..3 {
                    let (h, values) = (&h, &values);
                    scope.spawn(move || {
                        for (i, &v) in values.iter().enumerate() {
                            if i % 3 == t {
                                h.record(v);
                            }
                        }
                    });
                }
            });
            let mut expected = vec![0u64; schema.slots()];
            for &v in &values {
                expected[layout::slot(v, schema)] += 1;
            }
            let got: Vec<u64> = h.snapshot().buckets().map(|b| b.count).collect();
            assert_eq!(got, expected, "schema {s}");
        }
    }

    #[test]
    fn every_schema_records_the_same_count_sum_and_max() {
        let values = [0u64, 1, 2, 3, 7, 100, 1_000, 123_456, 1 << 40, u64::MAX];
        for s in 0..=8 {
            let h = Histogram::with_schema(Unit::Count, Schema::new(s).unwrap());
            for v in values {
                h.record(v);
            }
            h.record_with_expected_interval(5_000_000, 5);
            let snap = h.snapshot();
            assert_eq!(snap.schema().get(), s);
            assert_eq!(snap.count(), values.len() as u64 + 1_000_000);
            assert_eq!(snap.clamped(), 1);
            assert_eq!(snap.max(), Some(MAX_VALUE as f64));
        }
    }
}
