//! `Histogram`: a lock-free, fixed-memory, sharded histogram of integers.

use super::super::clock::{self, Clock};
use super::super::sync::{Arc, AtomicU64, OnceBox, Ordering};
use super::lanes::{self, Lane};
use super::layout::{self, MAX_VALUE, SLOTS};
use super::snapshot::HistogramSnapshot;
use super::wide_sum::WideSum;
use super::Unit;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::Duration;

/// Buckets per page: a page is allocated the first time a value falls in it.
const PAGE_SLOTS: usize = 16;

/// Offset that makes pages start at octave boundaries: octave `k` of the layout, the values
/// `(2^k, 2^(k+1)]`, is slots `8k + 2 ..= 8k + 9`, so `slot + PAGE_PAD` is a multiple of 8 at
/// the start of every octave and a page holds two whole octaves.
const PAGE_PAD: usize = 6;

/// Pages in a shard's page table.
const PAGES: usize = (SLOTS + PAGE_PAD).div_ceil(PAGE_SLOTS);

/// Sixteen buckets on two whole cache lines of their own (aligned to 128 bytes, so that no
/// other lane's page or shard shares a line or an adjacent-line prefetch pair with it).
type Page = CachePadded<[AtomicU64; PAGE_SLOTS]>;

#[cold]
#[inline(never)]
fn new_page() -> Box<Page> {
    Box::new(CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
}

#[cold]
#[inline(never)]
fn new_shard() -> Box<CachePadded<Shard>> {
    Box::new(CachePadded::new(Shard::new()))
}

/// The page and the position in it of a slot.
#[inline(always)]
fn page_of(slot: usize) -> (usize, usize) {
    let pos = slot + PAGE_PAD;
    (pos / PAGE_SLOTS, pos % PAGE_SLOTS)
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
    pages: [OnceBox<Page>; PAGES],
}

impl Shard {
    fn new() -> Self {
        Self {
            sum: WideSum::default(),
            max: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            pages: std::array::from_fn(|_| OnceBox::new()),
        }
    }

    /// The counter of `slot`, allocating its page on first use.
    #[inline(always)]
    fn bucket(&self, slot: usize) -> &AtomicU64 {
        let (page, pos) = page_of(slot);
        &self.pages[page].get_or_init(new_page)[pos]
    }

    /// Pages allocated now.
    fn pages_allocated(&self) -> usize {
        self.pages.iter().filter(|p| p.get().is_some()).count()
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
    fn record<W: Writer>(&self, value: u64, n: u64) {
        W::add(self.bucket(layout::slot(value)), n);
        W::add_sum(&self.sum, u128::from(value) * u128::from(n));
        W::raise(&self.max, value);
    }

    /// Adds pre-computed bucket counts (coordinated-omission fill-in).
    fn record_batch<W: Writer>(&self, counts: &[(usize, u64)], sum: u128, max: u64) {
        for &(slot, n) in counts {
            W::add(self.bucket(slot), n);
        }
        W::add_sum(&self.sum, sum);
        W::raise(&self.max, max);
    }
}

/// A histogram of integers: lock-free, bounded in memory, exact in count and sum.
///
/// Values are bucketed on the fixed schema-3 log layout (see [`RELATIVE_ERROR`] and
/// [`MAX_VALUE`]); each thread writes its own cache-padded shard (see the crate docs on lanes),
/// so recording is a bucket-index computation and a few plain stores, and two threads recording
/// into one histogram never share a cache line. Cloning is cheap and shares the histogram.
///
/// A histogram has a [`Unit`]. For [`Unit::Seconds`], [`record`](Histogram::record) takes
/// nanoseconds and stores them as 2^-30 s units, so the buckets are native buckets in seconds;
/// for other units values are stored as given.
///
/// Memory follows use: a new histogram holds one word per lane; a lane's shard (256 bytes) is
/// allocated when that lane first records, and a page of 16 buckets (two octaves of values,
/// 128 bytes) when a value first falls in it (see [`memory_bytes`](Histogram::memory_bytes)
/// and `docs/ARCHITECTURE.md`).
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
    unit: Unit,
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
        let shards = (0..=lanes::count()).map(|_| OnceBox::new()).collect();
        Self { shards, unit }
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
        let mut counts = [(0usize, 0u64); SLOTS];
        let mut used = 0;
        // Missed values are value - k·interval for k in 1..=last, the largest MAX_FILL_IN of
        // them at most.
        let last = (value / interval - 1).min(MAX_FILL_IN);
        let mut k = 1;
        let mut sum = 0u128;
        while k <= last {
            let x = value - k * interval;
            let slot = layout::slot(x);
            let (lo, _) = layout::slot_range(slot);
            // Every k' >= k whose value is still >= lo lands in this slot.
            let k_end = ((value - lo) / interval).min(last);
            let n = k_end - k + 1;
            // Sum of value - k'·interval for k' in k..=k_end.
            let ks = u128::from(k + k_end) * u128::from(n) / 2;
            sum += u128::from(value) * u128::from(n) - ks * u128::from(interval);
            counts[used] = (slot, n);
            used += 1;
            k = k_end + 1;
        }
        let max = value - interval;
        match lanes::current() {
            Lane::Owned(lane) => self
                .shard(lane)
                .record_batch::<Owner>(&counts[..used], sum, max),
            Lane::Shared => self
                .shared()
                .record_batch::<Anyone>(&counts[..used], sum, max),
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
        let mut buckets = vec![0u64; SLOTS];
        let mut sum = 0u128;
        let mut max = 0u64;
        let mut clamped = 0u64;
        for shard in self.shards.iter().filter_map(OnceBox::get) {
            // No bucket above the shard's maximum holds anything, so reading stops there.
            // Acquire pairs with the Release that raised the maximum, so the bucket of the
            // value that set it is seen too, and the page holding it (published before it).
            let shard_max = shard.max.load(Ordering::Acquire);
            let used = layout::slot(shard_max.min(MAX_VALUE)) + 1;
            let (last_page, _) = page_of(used - 1);
            for (p, page) in shard.pages[..=last_page].iter().enumerate() {
                let Some(page) = page.get() else { continue };
                for (pos, bucket) in page.iter().enumerate() {
                    let slot = (p * PAGE_SLOTS + pos).wrapping_sub(PAGE_PAD);
                    if slot < used {
                        buckets[slot] = buckets[slot].wrapping_add(bucket.load(Ordering::Relaxed));
                    }
                }
            }
            sum = sum.wrapping_add(shard.sum.read());
            max = max.max(shard_max);
            clamped = clamped.wrapping_add(shard.clamped.load(Ordering::Relaxed));
        }
        HistogramSnapshot::from_parts(self.unit, buckets, sum, max, clamped)
    }

    /// Bytes this histogram occupies now: the handle, the table of lanes (one word per lane
    /// and its reference counts), and the shards and pages allocated so far, with their
    /// padding. A new histogram holds no shard; a lane's shard is allocated on its first record
    /// (256 bytes), and each page of 16 buckets (two octaves of values, 128 bytes) on the first
    /// value that falls in it. So memory follows the lanes that recorded and the range of values
    /// they recorded, never the number of cores times the number of buckets.
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
            .map(|shard| {
                std::mem::size_of::<CachePadded<Shard>>()
                    + shard.pages_allocated() * std::mem::size_of::<Page>()
            })
            .sum();
        std::mem::size_of::<Self>() + table + shards
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
        match lanes::current() {
            Lane::Owned(lane) => self.shard(lane).record::<Owner>(value, n),
            Lane::Shared => self.shared().record::<Anyone>(value, n),
        }
    }

    /// A value above the range: counted in the top bucket and in `clamped`, and added to the
    /// sum as recorded (the sum stays the exact sum of what was recorded).
    #[cold]
    #[inline(never)]
    fn record_clamped(&self, value: u64, n: u64) {
        fn clamped<W: Writer>(shard: &Shard, value: u64, n: u64) {
            W::add(shard.bucket(layout::slot(MAX_VALUE)), n);
            W::add_sum(&shard.sum, u128::from(value) * u128::from(n));
            W::raise(&shard.max, MAX_VALUE);
            W::add(&shard.clamped, n);
        }
        match lanes::current() {
            Lane::Owned(lane) => clamped::<Owner>(self.shard(lane), value, n),
            Lane::Shared => clamped::<Anyone>(self.shared(), value, n),
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
        self.shards[lane].get_or_init(new_shard)
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

    /// A histogram whose table has `lanes` lanes, recorded into lane by lane.
    fn with_lanes(lanes: usize) -> Histogram {
        Histogram {
            shards: (0..=lanes).map(|_| OnceBox::new()).collect(),
            unit: Unit::Seconds,
        }
    }

    #[test]
    fn a_new_histogram_allocates_no_shard_and_a_record_one_shard_and_one_page() {
        let h = with_lanes(64);
        let empty = h.memory_bytes();
        assert_eq!(
            empty,
            std::mem::size_of::<Histogram>() + 16 + 65 * std::mem::size_of::<OnceBox<Shard>>()
        );
        assert!(empty <= 600, "{empty}");
        h.shard(7).record::<Owner>(1_000, 1);
        let shard = std::mem::size_of::<CachePadded<Shard>>();
        assert!(shard <= 256, "{shard}");
        assert_eq!(std::mem::size_of::<Page>(), 128);
        assert_eq!(h.memory_bytes(), empty + shard + 128);
        // The same page again: nothing new; a value two octaves up: one more page.
        h.shard(7).record::<Owner>(1_001, 1);
        assert_eq!(h.memory_bytes(), empty + shard + 128);
        h.shard(7).record::<Owner>(4_000, 1);
        assert_eq!(h.memory_bytes(), empty + shard + 256);
        let snap = h.snapshot();
        assert_eq!((snap.count(), snap.sum_stored()), (3, 6_001));
        // One series recorded from one thread at 64 lanes stays under 2 KiB.
        assert!(empty + shard + 128 <= 1_024);
    }

    #[test]
    fn sixteen_lanes_over_six_octaves_take_at_most_16_kib() {
        let h = with_lanes(16);
        for lane in 0..16 {
            // 1 µs to 64 µs in 2^-30 s units, at every bucket: six octaves, not aligned to
            // pages (the worst case spans four pages).
            let mut v = 1_100u64;
            while v < 70_000 {
                h.shard(lane).record::<Owner>(v, 1);
                v += v / 16 + 1;
            }
        }
        let bytes = h.memory_bytes();
        assert!(bytes <= 16 * 1024, "{bytes}");
        let snap = h.snapshot();
        assert_eq!(snap.count(), snap.buckets().map(|b| b.count).sum::<u64>());
        assert!(snap.count() > 16 * 40);
    }

    #[test]
    fn pages_cover_every_slot_once_and_start_at_octaves() {
        let mut seen = vec![false; PAGES * PAGE_SLOTS];
        for slot in 0..SLOTS {
            let (page, pos) = page_of(slot);
            assert!(page < PAGES && pos < PAGE_SLOTS);
            assert!(!std::mem::replace(&mut seen[page * PAGE_SLOTS + pos], true));
        }
        // Octave k, native indexes 8k+1..=8k+8 (slots 8k+2..=8k+9), starts at position 0 or
        // 8 of a page; 2^(k+1), its top, is the last slot of that octave.
        for k in 0..48usize {
            let (page, pos) = page_of(8 * k + 2);
            assert_eq!(pos % 8, 0, "octave {k}");
            assert_eq!(page_of(layout::slot(2 << k)), (page, pos + 7), "octave {k}");
        }
    }
}
