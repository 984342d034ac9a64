//! `HistogramSnapshot`: a copy of a histogram's counts that merges, subtracts and answers
//! quantiles.

use super::layout::{self, Schema, TIME_UNITS_PER_SECOND};
use super::Unit;

/// A point-in-time copy of a [`Histogram`](crate::Histogram).
///
/// Snapshots of histograms with the same unit merge by adding their buckets ([`merge`]),
/// across threads, processes or time windows, and subtract ([`delta`]) to give the activity
/// between two scrapes; of different schemas, the finer is first reduced to the coarser
/// ([`reduce_to`]). Quantiles use the nearest-rank definition: `quantile(q)` reports the
/// bucket holding the `ceil(q·count)`-th smallest value, within the schema's
/// [`relative_error`] of it ([`RELATIVE_ERROR`] at the default schema), and never above the
/// exact maximum. Values are in the histogram's base unit: seconds for time
/// histograms.
///
/// [`merge`]: HistogramSnapshot::merge
/// [`delta`]: HistogramSnapshot::delta
/// [`reduce_to`]: HistogramSnapshot::reduce_to
/// [`relative_error`]: HistogramSnapshot::relative_error
/// [`RELATIVE_ERROR`]: crate::RELATIVE_ERROR
///
/// ```
/// use perf_instrument::{Histogram, Unit};
/// let h = Histogram::new(Unit::Count);
/// for v in 1..=100 { h.record(v); }
/// let s = h.snapshot();
/// assert_eq!(s.count(), 100);
/// assert_eq!(s.min(), Some(1.0)); // 1 is alone in its bucket
/// assert_eq!(s.max(), Some(100.0)); // the maximum is tracked exactly
/// let p99 = s.quantile(0.99).unwrap();
/// assert!((p99 - 99.0).abs() <= 99.0 * perf_instrument::RELATIVE_ERROR);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    unit: Unit,
    schema: Schema,
    /// Counts by slot, without trailing empty slots (so equal snapshots compare equal).
    buckets: Vec<u64>,
    sum: u128,
    /// Largest stored value (0 when empty): exact, or for a delta whose window's maximum cannot
    /// be known, an upper bound.
    max: u64,
    /// `max` is an observation rather than a bound.
    exact_max: bool,
    clamped: u64,
}

/// One bucket of a snapshot, as [`HistogramSnapshot::buckets`] yields it.
///
/// ```
/// use perf_instrument::{Histogram, Unit};
/// let h = Histogram::new(Unit::Count);
/// h.record(3);
/// let b = h.snapshot().buckets().find(|b| b.count > 0).unwrap();
/// assert_eq!((b.count, b.upper), (1, 3.0));
/// assert_eq!(b.native_index, Some(13)); // ceil(8 * log2(3))
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Observations in this bucket (not cumulative).
    pub count: u64,
    /// Largest value the bucket holds, in the base unit (seconds for time histograms); every
    /// observation in this bucket or a lower one is `<= upper`, every one above is `> upper`.
    pub upper: f64,
    /// Largest stored integer the bucket holds.
    pub upper_stored: u64,
    /// Prometheus native-histogram index in the base unit at the snapshot's schema (`None` for
    /// the zero bucket).
    pub native_index: Option<i32>,
}

impl HistogramSnapshot {
    pub(crate) fn from_parts(
        unit: Unit,
        schema: Schema,
        buckets: Vec<u64>,
        sum: u128,
        max: u64,
        clamped: u64,
    ) -> Self {
        let mut out = Self {
            unit,
            schema,
            buckets,
            sum,
            max,
            exact_max: true,
            clamped,
        };
        out.trim();
        out
    }

    /// Drops trailing empty slots.
    fn trim(&mut self) {
        let len = self
            .buckets
            .iter()
            .rposition(|&n| n > 0)
            .map_or(0, |i| i + 1);
        self.buckets.truncate(len);
    }

    /// An empty snapshot at the default schema, the identity of [`merge`](Self::merge) (an
    /// empty snapshot takes the schema of what is merged into it).
    ///
    /// ```
    /// use perf_instrument::{Histogram, HistogramSnapshot, Schema, Unit};
    /// let mut total = HistogramSnapshot::empty(Unit::Seconds);
    /// assert_eq!(total.count(), 0);
    /// let fine = Histogram::with_schema(Unit::Seconds, Schema::MAX);
    /// fine.record(1_000);
    /// assert!(total.merge(&fine.snapshot()));
    /// assert_eq!(total.schema(), Schema::MAX);
    /// ```
    #[must_use]
    pub fn empty(unit: Unit) -> Self {
        Self::from_parts(unit, Schema::DEFAULT, Vec::new(), 0, 0, 0)
    }

    /// The native schema of the buckets.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Schema, Unit};
    /// let h = Histogram::with_schema(Unit::Count, Schema::MIN);
    /// assert_eq!(h.snapshot().schema(), Schema::MIN);
    /// ```
    #[must_use]
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The largest relative error of a value reported from one bucket (a quantile, the
    /// minimum): the schema's [`Schema::relative_error`]; for time histograms add one storage
    /// unit (2^-30 s).
    ///
    /// ```
    /// use perf_instrument::{Histogram, Schema, Unit};
    /// let h = Histogram::with_schema(Unit::Count, Schema::new(5).unwrap());
    /// for v in 1..=1000 { h.record(v); }
    /// let s = h.snapshot();
    /// let p90 = s.quantile(0.9).unwrap();
    /// assert!((p90 - 900.0).abs() <= 900.0 * s.relative_error());
    /// assert!(s.relative_error() < 0.011);
    /// ```
    #[must_use]
    pub fn relative_error(&self) -> f64 {
        self.schema.relative_error()
    }

    /// This snapshot at `schema` if that is coarser, each coarse bucket the sum of the fine
    /// buckets it covers (native index `i` becomes `ceil(i / 2^(t-s))`); otherwise a copy.
    /// Count, sum, maximum and clamped count are unchanged.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Schema, Unit};
    /// let h = Histogram::with_schema(Unit::Count, Schema::MAX);
    /// h.record(3);
    /// let coarse = h.snapshot().reduce_to(Schema::MIN);
    /// assert_eq!(coarse.schema(), Schema::MIN);
    /// let b = coarse.buckets().find(|b| b.count > 0).unwrap();
    /// assert_eq!((b.native_index, b.upper), (Some(2), 4.0)); // (2, 4]
    /// assert_eq!(coarse.max(), Some(3.0));
    /// ```
    #[must_use]
    pub fn reduce_to(&self, schema: Schema) -> Self {
        if schema >= self.schema {
            return self.clone();
        }
        let mut buckets =
            vec![0u64; layout::reduce_slot(self.buckets.len(), self.schema, schema) + 1];
        for (slot, &n) in self.buckets.iter().enumerate() {
            let to = layout::reduce_slot(slot, self.schema, schema);
            buckets[to] = buckets[to].wrapping_add(n);
        }
        let mut out = Self {
            schema,
            buckets,
            ..self.clone()
        };
        out.trim();
        out
    }

    /// The count of `slot` (zero past the last non-empty one).
    fn at(&self, slot: usize) -> u64 {
        self.buckets.get(slot).copied().unwrap_or(0)
    }

    /// The unit of the values.
    ///
    /// ```
    /// use perf_instrument::{HistogramSnapshot, Unit};
    /// assert_eq!(HistogramSnapshot::empty(Unit::Bytes).unit(), Unit::Bytes);
    /// ```
    #[must_use]
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// Number of observations: the sum of the bucket counts.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record_n(5, 4);
    /// assert_eq!(h.snapshot().count(), 4);
    /// ```
    #[must_use]
    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, &b| a.wrapping_add(b))
    }

    /// Sum of the observations in the base unit (exact as an integer; see [`sum_stored`]).
    ///
    /// [`sum_stored`]: Self::sum_stored
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Bytes);
    /// h.record(100); h.record(23);
    /// assert_eq!(h.snapshot().sum(), 123.0);
    /// ```
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.to_base(self.sum as f64)
    }

    /// Sum of the stored integers (time histograms: 2^-30 s units), exact.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// h.record(1_000_000_000);
    /// assert_eq!(h.snapshot().sum_stored(), 1 << 30);
    /// ```
    #[must_use]
    pub fn sum_stored(&self) -> u128 {
        self.sum
    }

    /// Observations that were above [`MAX_VALUE`](crate::MAX_VALUE) and clamped to it.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(u64::MAX);
    /// assert_eq!(h.snapshot().clamped(), 1);
    /// ```
    #[must_use]
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Arithmetic mean, `None` when empty.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(1); h.record(3);
    /// assert_eq!(h.snapshot().mean(), Some(2.0));
    /// ```
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.sum() / count as f64)
    }

    /// Smallest observation, within [`RELATIVE_ERROR`](crate::RELATIVE_ERROR) (the quantile
    /// at rank 1; the minimum is not tracked separately, to keep recording cheap). `None` if
    /// empty.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(9); h.record(4);
    /// assert_eq!(h.snapshot().min(), Some(4.0));
    /// ```
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        self.quantile(0.0)
    }

    /// Largest observation: exact for live and merged snapshots, and for a delta whenever the
    /// maximum grew in its window; otherwise the upper edge of its highest bucket (see
    /// [`max_is_exact`](Self::max_is_exact)). `None` if empty.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(9); h.record(4);
    /// assert_eq!(h.snapshot().max(), Some(9.0));
    /// ```
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        self.last_slot()
            .map(|_| self.to_base(self.max_stored() as f64))
    }

    /// Whether [`max`](Self::max) is an observation rather than a bucket edge.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(3);
    /// assert!(h.snapshot().max_is_exact());
    /// ```
    #[must_use]
    pub fn max_is_exact(&self) -> bool {
        self.exact_max
    }

    /// The value at quantile `q` (clamped to `0..=1`; NaN reads as the median), by nearest rank,
    /// within [`RELATIVE_ERROR`](crate::RELATIVE_ERROR) of the exact one. `None` if empty.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// for v in [10, 20, 30, 40] { h.record(v); }
    /// let s = h.snapshot();
    /// assert_eq!(s.quantile(0.0), Some(10.0));
    /// assert_eq!(s.quantile(1.0), Some(40.0));
    /// let p50 = s.quantile(0.5).unwrap(); // the 2nd smallest, 20
    /// assert!((p50 - 20.0).abs() <= 20.0 * perf_instrument::RELATIVE_ERROR);
    /// ```
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        if self.exact_max && rank == count {
            return self.max();
        }
        let mut seen = 0u64;
        for (slot, &n) in self.buckets.iter().enumerate() {
            seen = seen.wrapping_add(n);
            if seen >= rank {
                let (lo, hi) = layout::slot_range(slot, self.schema);
                let hi = hi.min(self.max_stored()).max(lo);
                return Some(self.to_base(layout::representative(lo, hi)));
            }
        }
        self.max()
    }

    /// The buckets in increasing order, zero bucket first, empty buckets included (all
    /// `48 · 2^schema + 2` of them).
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Seconds);
    /// h.record(1_000_000_000); // one second
    /// let b = h.snapshot().buckets().find(|b| b.count == 1).unwrap();
    /// assert_eq!(b.upper, 1.0);
    /// assert_eq!(b.native_index, Some(0)); // 2^(0/8) seconds
    /// ```
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        let offset = match self.unit {
            Unit::Seconds => self.schema.time_index_offset(),
            Unit::Bytes | Unit::Count => 0,
        };
        (0..self.schema.slots()).map(move |slot| {
            let (_, upper_stored) = layout::slot_range(slot, self.schema);
            Bucket {
                count: self.at(slot),
                upper: self.to_base(upper_stored as f64),
                upper_stored,
                native_index: layout::native_index(slot).map(|i| i - offset),
            }
        })
    }

    /// Number of observations `<= upper_stored` (a stored integer), exactly.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// for v in [1, 2, 3, 100] { h.record(v); }
    /// assert_eq!(h.snapshot().count_at_or_below(3), 3);
    /// ```
    #[must_use]
    pub fn count_at_or_below(&self, upper_stored: u64) -> u64 {
        let upper = upper_stored.min(layout::MAX_VALUE);
        let last = layout::slot(upper, self.schema);
        let (_, hi) = layout::slot_range(last, self.schema);
        // Only whole buckets count exactly: a bound inside a bucket rounds down to the bucket
        // below.
        let end = if hi == upper { last + 1 } else { last };
        self.buckets[..end.min(self.buckets.len())]
            .iter()
            .fold(0u64, |a, &b| a.wrapping_add(b))
    }

    /// Cumulative counts up to and including each of `last_slots` (ascending), into `out`.
    fn cumulative_at(&self, last_slots: &[usize], out: &mut Vec<u64>) {
        out.clear();
        let mut running = 0u64;
        let mut slot = 0;
        for &last in last_slots {
            let last = last.min(self.buckets.len().wrapping_sub(1));
            while slot <= last && slot < self.buckets.len() {
                running = running.wrapping_add(self.buckets[slot]);
                slot += 1;
            }
            out.push(running);
        }
    }

    /// Adds `other` into `self` (as if both histograms' observations had gone into one). Of
    /// two schemas, the result has the coarser one: the finer snapshot is reduced first
    /// ([`reduce_to`](Self::reduce_to)); an empty `self` takes `other`'s schema. Snapshots of
    /// different units do not merge; `self` is left unchanged and `false` returned.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let (a, b) = (Histogram::new(Unit::Count), Histogram::new(Unit::Count));
    /// a.record(1); b.record(100);
    /// let mut merged = a.snapshot();
    /// assert!(merged.merge(&b.snapshot()));
    /// assert_eq!((merged.count(), merged.max()), (2, Some(100.0)));
    /// ```
    pub fn merge(&mut self, other: &Self) -> bool {
        if self.unit != other.unit {
            return false;
        }
        if self.buckets.is_empty() && self.sum == 0 && self.clamped == 0 {
            self.schema = other.schema;
        }
        if self.schema > other.schema {
            *self = self.reduce_to(other.schema);
        }
        let reduced;
        let other_buckets = if other.schema > self.schema {
            reduced = other.reduce_to(self.schema);
            &reduced.buckets
        } else {
            &other.buckets
        };
        if self.buckets.len() < other_buckets.len() {
            self.buckets.resize(other_buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(other_buckets) {
            *a = a.wrapping_add(*b);
        }
        self.trim();
        self.sum = self.sum.wrapping_add(other.sum);
        self.max = self.max.max(other.max);
        self.exact_max &= other.exact_max;
        self.clamped = self.clamped.wrapping_add(other.clamped);
        true
    }

    /// The observations made between `earlier` and `self` (two snapshots of one histogram).
    /// Buckets that look lower than in `earlier` (snapshots of different histograms) count zero;
    /// of two schemas, the result has the coarser one.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(5);
    /// let before = h.snapshot();
    /// h.record(50); h.record(60);
    /// let window = h.snapshot().delta(&before);
    /// assert_eq!(window.count(), 2);
    /// assert_eq!(window.max(), Some(60.0));
    /// ```
    #[must_use]
    pub fn delta(&self, earlier: &Self) -> Self {
        let schema = self.schema.min(earlier.schema);
        let (now, then) = (self.reduce_to(schema), earlier.reduce_to(schema));
        let buckets: Vec<u64> = (0..now.buckets.len())
            .map(|slot| now.at(slot).saturating_sub(then.at(slot)))
            .collect();
        let mut out = Self {
            unit: self.unit,
            schema,
            buckets,
            sum: self.sum.saturating_sub(earlier.sum),
            max: 0,
            exact_max: false,
            clamped: self.clamped.saturating_sub(earlier.clamped),
        };
        out.trim();
        if let Some(last) = out.last_slot() {
            // A maximum that moved can only have been recorded in this window.
            out.exact_max = self.exact_max && (self.max > earlier.max || earlier.count() == 0);
            out.max = if out.exact_max {
                self.max
            } else {
                layout::slot_range(last, schema).1.min(self.max)
            };
        }
        out
    }

    /// Converts to an [`hdrhistogram::Histogram`] (3 significant digits), each bucket's
    /// observations recorded at its representative value; the extra error is that of the
    /// bucket layout. Values are in the unit [`Histogram::record`](crate::Histogram::record)
    /// takes: nanoseconds for time histograms (converted from the stored 2^-30 s units), the
    /// plain integers otherwise.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record_n(1_000, 10);
    /// let hdr = h.snapshot().to_hdrhistogram().unwrap();
    /// assert_eq!(hdr.len(), 10);
    ///
    /// let latency = Histogram::new(Unit::Seconds);
    /// latency.record(2_000_000); // nanoseconds
    /// let p50 = latency.snapshot().to_hdrhistogram().unwrap().value_at_quantile(0.5) as f64;
    /// assert!((p50 - 2e6).abs() <= 2e6 * perf_instrument::RELATIVE_ERROR);
    /// ```
    #[cfg(feature = "hdrhistogram")]
    pub fn to_hdrhistogram(
        &self,
    ) -> Result<hdrhistogram::Histogram<u64>, hdrhistogram::errors::CreationError> {
        let mut out = hdrhistogram::Histogram::new_with_bounds(1, layout::MAX_VALUE, 3)?;
        let scale = match self.unit {
            Unit::Seconds => 1e9 / TIME_UNITS_PER_SECOND as f64,
            Unit::Bytes | Unit::Count => 1.0,
        };
        for (slot, &n) in self.buckets.iter().enumerate() {
            if n > 0 {
                let (lo, hi) = layout::slot_range(slot, self.schema);
                let value = (layout::representative(lo, hi) * scale).round() as u64;
                // value <= MAX_VALUE (scale <= 1), inside the bounds set above: cannot fail.
                let recorded = out.record_n(value, n);
                debug_assert!(recorded.is_ok(), "{value} outside the bounds");
            }
        }
        Ok(out)
    }

    fn last_slot(&self) -> Option<usize> {
        self.buckets.iter().rposition(|&n| n > 0)
    }

    fn max_stored(&self) -> u64 {
        match self.last_slot() {
            Some(slot) if self.max == 0 && slot > 0 => layout::slot_range(slot, self.schema).1,
            _ => self.max,
        }
    }

    fn to_base(&self, stored: f64) -> f64 {
        match self.unit {
            Unit::Seconds => stored / TIME_UNITS_PER_SECOND as f64,
            Unit::Bytes | Unit::Count => stored,
        }
    }
}

/// Classic bounds resolved once to the last layout slot each covers, for the schema of the
/// snapshots at hand: the series of one family share both, so an encoder resolves them once per
/// family rather than once per series.
#[derive(Debug, Default)]
pub(crate) struct ClassicSlots {
    schema: Option<Schema>,
    last_slots: Vec<usize>,
}

impl ClassicSlots {
    /// Cumulative counts of `snap` at each of `bounds` (stored integers that are bounds of the
    /// snapshot's schema, ascending), written into `out`, in one pass over the buckets.
    pub(crate) fn cumulative(
        &mut self,
        bounds: &[u64],
        snap: &HistogramSnapshot,
        out: &mut Vec<u64>,
    ) {
        if self.schema != Some(snap.schema) || self.last_slots.len() != bounds.len() {
            self.schema = Some(snap.schema);
            self.last_slots.clear();
            self.last_slots.extend(
                bounds
                    .iter()
                    .map(|&b| layout::slot(b.min(layout::MAX_VALUE), snap.schema)),
            );
        }
        snap.cumulative_at(&self.last_slots, out);
    }
}

/// The native buckets in Prometheus's sparse form, which the protobuf exposition and remote
/// write both send: spans of adjacent populated buckets as `(offset, length)` (the first offset
/// is its start index, later ones the gap since the previous span's end), the counts as deltas
/// between consecutive populated buckets, and the zero bucket's count.
#[cfg(any(feature = "protobuf", feature = "remote-write"))]
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SparseBuckets {
    pub(crate) spans: Vec<(i32, u32)>,
    pub(crate) deltas: Vec<i64>,
    pub(crate) zero_count: u64,
}

#[cfg(any(feature = "protobuf", feature = "remote-write"))]
impl SparseBuckets {
    /// The sparse form of `snap`'s native buckets.
    pub(crate) fn of(snap: &HistogramSnapshot) -> Self {
        let mut out = Self::default();
        let mut previous_end: Option<i32> = None;
        let mut previous_count = 0i64;
        for b in snap.buckets() {
            let Some(index) = b.native_index else {
                out.zero_count = b.count;
                continue;
            };
            if b.count == 0 {
                continue;
            }
            let count = i64::try_from(b.count).unwrap_or(i64::MAX);
            match (previous_end, out.spans.last_mut()) {
                // Adjacent to the previous bucket: extend the current span.
                (Some(end), Some(span)) if end == index => span.1 += 1,
                _ => out
                    .spans
                    .push((previous_end.map_or(index, |end| index - end), 1)),
            }
            out.deltas.push(count - previous_count);
            previous_count = count;
            previous_end = Some(index + 1);
        }
        out
    }
}
