//! `Histogram`: a lock-free, fixed-memory, sharded histogram of integers.

use super::super::clock::{self, Clock};
use super::super::sync::{Arc, AtomicU64, Ordering};
use super::lanes::{self, Lane};
use super::layout::{self, MAX_VALUE, SLOTS};
use super::snapshot::HistogramSnapshot;
use super::wide_sum::WideSum;
use super::Unit;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::Duration;

/// One writer's part of a histogram: counts per bucket, sum, max, clamped values.
///
/// A lane's owner updates it with plain loads and stores; the shared shard with atomic RMWs.
struct Shard {
    sum: WideSum,
    max: AtomicU64,
    clamped: AtomicU64,
    buckets: [AtomicU64; SLOTS],
}

impl Shard {
    fn new() -> Self {
        Self {
            sum: WideSum::default(),
            max: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
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
        W::add(&self.buckets[layout::slot(value)], n);
        W::add_sum(&self.sum, u128::from(value) * u128::from(n));
        W::raise(&self.max, value);
    }

    /// Adds pre-computed bucket counts (coordinated-omission fill-in).
    fn record_batch<W: Writer>(&self, counts: &[(usize, u64)], sum: u128, max: u64) {
        for &(slot, n) in counts {
            W::add(&self.buckets[slot], n);
        }
        W::add_sum(&self.sum, sum);
        W::raise(&self.max, max);
    }
}

/// A histogram of integers: lock-free, fixed in memory, exact in count and sum.
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
/// Memory is fixed at creation: one shard of about 3.1 KiB per lane plus a shared shard
/// (see `docs/ARCHITECTURE.md` for the figures per core count), whatever the traffic.
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
    shards: Arc<[CachePadded<Shard>]>,
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
        let shards = (0..=lanes::count())
            .map(|_| CachePadded::new(Shard::new()))
            .collect();
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
    /// the missed values span, not by `value / expected_interval`. Both arguments are in the
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
        // Missed values are value - k·interval for k in 1..=last.
        let last = value / interval - 1;
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
            Lane::Owned(lane) => self.shards[lane].record_batch::<Owner>(&counts[..used], sum, max),
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
        for shard in self.shards.iter() {
            // No bucket above the shard's maximum holds anything, so reading stops there: a
            // shard nobody wrote (maximum 0) costs one load. Acquire pairs with the Release
            // that raised the maximum, so the bucket of the value that set it is seen too.
            let shard_max = shard.max.load(Ordering::Acquire);
            let used = layout::slot(shard_max.min(MAX_VALUE)) + 1;
            for (total, bucket) in buckets[..used].iter_mut().zip(shard.buckets.iter()) {
                *total = total.wrapping_add(bucket.load(Ordering::Relaxed));
            }
            sum = sum.wrapping_add(shard.sum.read());
            max = max.max(shard_max);
            clamped = clamped.wrapping_add(shard.clamped.load(Ordering::Relaxed));
        }
        HistogramSnapshot::from_parts(self.unit, buckets, sum, max, clamped)
    }

    /// Bytes this histogram occupies (all shards with their padding, the shared allocation's
    /// reference counts, and the handle); fixed at creation.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// let before = h.memory_bytes();
    /// for v in 0..10_000 { h.record(v * 1_000); }
    /// assert_eq!(h.memory_bytes(), before);
    /// ```
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let counts = std::alloc::Layout::new::<[usize; 2]>();
        let allocation = counts
            .extend(std::alloc::Layout::for_value(&*self.shards))
            .map_or(0, |(layout, _)| layout.pad_to_align().size());
        allocation + std::mem::size_of::<Self>()
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
            return self.record_clamped(n);
        }
        match lanes::current() {
            Lane::Owned(lane) => self.shards[lane].record::<Owner>(value, n),
            Lane::Shared => self.shared().record::<Anyone>(value, n),
        }
    }

    #[cold]
    #[inline(never)]
    fn record_clamped(&self, n: u64) {
        match lanes::current() {
            Lane::Owned(lane) => {
                let shard = &self.shards[lane];
                shard.record::<Owner>(MAX_VALUE, n);
                Owner::add(&shard.clamped, n);
            }
            Lane::Shared => {
                let shard = self.shared();
                shard.record::<Anyone>(MAX_VALUE, n);
                Anyone::add(&shard.clamped, n);
            }
        }
    }

    #[inline(always)]
    fn shared(&self) -> &Shard {
        &self.shards[self.shards.len() - 1]
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("Histogram")
            .field("unit", &self.unit)
            .field("count", &snap.count())
            .field("sum", &snap.sum())
            .field("shards", &self.shards.len())
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
            while value > interval && missing >= interval {
                looped.record(missing);
                missing -= interval;
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

    #[test]
    fn memory_is_fixed_and_small() {
        let h = Histogram::new(Unit::Seconds);
        let per_shard = std::mem::size_of::<CachePadded<Shard>>();
        assert!(per_shard <= 3_200, "{per_shard}");
        // The allocation's two reference counts take one cache-padded slot of their own.
        let header = std::mem::align_of::<CachePadded<Shard>>();
        assert_eq!(
            h.memory_bytes(),
            header + per_shard * (lanes::count() + 1) + std::mem::size_of::<Histogram>()
        );
        // A 2-core machine has 4 lanes (one per core plus two) and one shared shard: ≤ 16 KiB.
        assert!(header + per_shard * 5 <= 16 * 1024);
    }
}
