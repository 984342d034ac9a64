//! Exemplars: one observation's labels (a trace id, an event id), its value and when it was
//! recorded, kept beside a histogram's buckets or a counter's total.
//!
//! Storage is out of the record path: a recorder holds one pointer word for its exemplars,
//! allocated the first time an exemplar is recorded, so `record` and `inc_by` never look at it.
//! A histogram keeps the last exemplar per octave of values (the native buckets `(2^k, 2^(k+1)]`,
//! 66 slots), a counter its last one. A slot is a mutex that a writer only ever *tries*: an
//! exemplar that finds its slot being written by another thread is dropped and counted, so
//! recording never blocks. The writer copies its labels (at most 128 characters) into the
//! slot's exemplar in place; a scrape locks each slot for the time of a clone.

use super::super::sync::{AtomicU64, Mutex, Ordering};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The most characters (Unicode scalar values) an exemplar's label names and values may add up
/// to: 128, the OpenMetrics limit.
///
/// ```
/// use perf_instrument::{Exemplar, MAX_EXEMPLAR_LABEL_CHARS};
/// let at_limit = "x".repeat(MAX_EXEMPLAR_LABEL_CHARS - "trace_id".len());
/// assert!(Exemplar::new(&[("trace_id", &at_limit)], 1.0).is_ok());
/// assert!(Exemplar::new(&[("trace_id", &format!("{at_limit}y"))], 1.0).is_err());
/// ```
pub const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// Why an exemplar was not kept. The observation itself is always recorded.
///
/// ```
/// use perf_instrument::{Exemplar, ExemplarError};
/// assert_eq!(
///     Exemplar::new(&[("trace id", "1")], 1.0),
///     Err(ExemplarError::InvalidName { name: "trace id".into() })
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExemplarError {
    /// Names and values add up to more than [`MAX_EXEMPLAR_LABEL_CHARS`] characters.
    #[error(
        "exemplar labels are {chars} characters of names and values, over the OpenMetrics \
         limit of 128: shorten the values (a trace id is 32 hex digits)"
    )]
    TooLong {
        /// Characters of names and values given.
        chars: usize,
    },
    /// A label name that is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("exemplar label name `{name}` is not [a-zA-Z_][a-zA-Z0-9_]*: rename it")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A label name given twice.
    #[error("exemplar label name `{name}` is given twice: keep one")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// Another thread was storing an exemplar into the same slot at that moment; this one was
    /// dropped rather than waited for.
    #[error("another exemplar was being stored in the same bucket region; this one was dropped")]
    Busy,
    /// The value is not a finite number.
    #[error("exemplar value is not finite")]
    NotFinite,
}

/// One exemplar: labels (`trace_id="…"`), the observed value in the family's base unit
/// (seconds for time histograms) and the time it was recorded, seconds since the Unix epoch.
///
/// Made by [`Histogram::record_with_exemplar`](crate::Histogram::record_with_exemplar) and
/// [`Counter::inc_by_with_exemplar`](crate::Counter::inc_by_with_exemplar), or with
/// [`new`](Exemplar::new) by a [`Collector`](crate::Collector) for its own series.
///
/// ```
/// use perf_instrument::Exemplar;
/// let e = Exemplar::new(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")], 0.25).unwrap();
/// assert_eq!(e.labels()[0].1, "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(e.value(), 0.25);
/// assert!(e.timestamp().unwrap() > 1.6e9);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    labels: Vec<(String, String)>,
    value: f64,
    timestamp: Option<f64>,
}

impl Exemplar {
    /// An exemplar of `value` with `labels`, timestamped now; refused (with the reason) if the
    /// labels are not a valid OpenMetrics exemplar label set or the value is not finite.
    ///
    /// ```
    /// use perf_instrument::{Exemplar, ExemplarError};
    /// assert!(Exemplar::new(&[], 3.0).is_ok()); // an empty label set is allowed
    /// let long = "f".repeat(200);
    /// assert_eq!(
    ///     Exemplar::new(&[("trace_id", &long)], 3.0),
    ///     Err(ExemplarError::TooLong { chars: 208 })
    /// );
    /// assert_eq!(Exemplar::new(&[], f64::NAN), Err(ExemplarError::NotFinite));
    /// ```
    pub fn new(labels: &[(&str, &str)], value: f64) -> Result<Self, ExemplarError> {
        if !value.is_finite() {
            return Err(ExemplarError::NotFinite);
        }
        check(labels)?;
        Ok(Self::unchecked(labels, value))
    }

    /// Builds an exemplar from labels already checked.
    pub(crate) fn unchecked(labels: &[(&str, &str)], value: f64) -> Self {
        Self::at(labels, value, now_unix_seconds())
    }

    fn at(labels: &[(&str, &str)], value: f64, timestamp: f64) -> Self {
        Self {
            labels: labels
                .iter()
                .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                .collect(),
            value,
            timestamp: Some(timestamp),
        }
    }

    /// Overwrites this exemplar in place, reusing its strings' buffers (no allocation when
    /// the new labels fit in them).
    fn assign(&mut self, labels: &[(&str, &str)], value: f64, timestamp: f64) {
        self.labels.truncate(labels.len());
        for (i, (name, text)) in labels.iter().enumerate() {
            match self.labels.get_mut(i) {
                Some((n, t)) => {
                    n.clear();
                    n.push_str(name);
                    t.clear();
                    t.push_str(text);
                }
                None => self.labels.push(((*name).to_string(), (*text).to_string())),
            }
        }
        self.value = value;
        self.timestamp = Some(timestamp);
    }

    /// The same exemplar with another value (a unit conversion).
    pub(crate) fn with_value(mut self, value: f64) -> Self {
        self.value = value;
        self
    }

    /// The same exemplar with `timestamp` (seconds since the Unix epoch), or none.
    ///
    /// ```
    /// use perf_instrument::Exemplar;
    /// let e = Exemplar::new(&[], 1.0).unwrap().with_timestamp(Some(1_700_000_000.5));
    /// assert_eq!(e.timestamp(), Some(1_700_000_000.5));
    /// assert_eq!(e.with_timestamp(None).timestamp(), None);
    /// ```
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Option<f64>) -> Self {
        self.timestamp = timestamp.filter(|t| t.is_finite());
        self
    }

    /// The label pairs, in the order given.
    ///
    /// ```
    /// let e = perf_instrument::Exemplar::new(&[("a", "1"), ("b", "2")], 0.0).unwrap();
    /// assert_eq!(e.labels()[1], ("b".to_string(), "2".to_string()));
    /// ```
    #[must_use]
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The observed value, in the family's base unit.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Exemplar::new(&[], 0.5).unwrap().value(), 0.5);
    /// ```
    #[must_use]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// When the value was recorded, seconds since the Unix epoch.
    ///
    /// ```
    /// assert!(perf_instrument::Exemplar::new(&[], 0.5).unwrap().timestamp().is_some());
    /// ```
    #[must_use]
    pub fn timestamp(&self) -> Option<f64> {
        self.timestamp
    }
}

fn now_unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Checks an exemplar label set: valid, distinct names, at most 128 characters in all.
pub(crate) fn check(labels: &[(&str, &str)]) -> Result<(), ExemplarError> {
    let limit = MAX_EXEMPLAR_LABEL_CHARS;
    let mut chars = 0usize;
    for (i, (name, value)) in labels.iter().enumerate() {
        // Neither part is walked past the limit: a huge value costs no more than a long one.
        chars += name.chars().take(limit + 1).count() + value.chars().take(limit + 1).count();
        if chars > limit {
            let exact = labels
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum();
            return Err(ExemplarError::TooLong { chars: exact });
        }
        if !valid_name(name) {
            return Err(ExemplarError::InvalidName {
                name: (*name).to_string(),
            });
        }
        if labels[..i].iter().any(|(other, _)| other == name) {
            return Err(ExemplarError::DuplicateName {
                name: (*name).to_string(),
            });
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Slots of a histogram's exemplars: one per octave of stored values, `(2^k, 2^(k+1)]` in slot
/// `k + 2`, 0 in slot 0 and 1 in slot 1.
pub(crate) const HISTOGRAM_SLOTS: usize = 66;

/// The slot of a stored value.
#[inline]
pub(crate) fn octave_slot(stored: u64) -> usize {
    match stored {
        0 => 0,
        v => 65 - (v - 1).leading_zeros() as usize,
    }
}

/// The exemplars of one recorder: a fixed number of slots, each the last exemplar stored in
/// it, and the count of exemplars refused (invalid labels, or a busy slot).
pub(crate) struct Exemplars {
    slots: Box<[Mutex<Option<Box<Exemplar>>>]>,
    refused: AtomicU64,
}

impl Exemplars {
    #[cold]
    #[inline(never)]
    pub(crate) fn boxed(slots: usize) -> Box<Self> {
        Box::new(Self {
            slots: (0..slots).map(|_| Mutex::new(None)).collect(),
            refused: AtomicU64::new(0),
        })
    }

    /// Stores an exemplar of `value` with `labels` (already checked) in `slot` (a slot out of
    /// range is the last one), unless another thread holds it right now. The slot's previous
    /// exemplar is overwritten in place: after the first exemplar of a slot, storing one
    /// allocates only if its labels are longer than any stored there before.
    pub(crate) fn store(
        &self,
        slot: usize,
        labels: &[(&str, &str)],
        value: f64,
    ) -> Result<(), ExemplarError> {
        let Some(cell) = self.slots.get(slot).or_else(|| self.slots.last()) else {
            return Err(self.refuse(ExemplarError::Busy));
        };
        let timestamp = now_unix_seconds();
        let mut guard = match cell.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(self.refuse(ExemplarError::Busy));
            }
        };
        match guard.as_deref_mut() {
            Some(held) => held.assign(labels, value, timestamp),
            None => *guard = Some(Box::new(Exemplar::at(labels, value, timestamp))),
        }
        Ok(())
    }

    /// Counts a refused exemplar and hands the reason back.
    pub(crate) fn refuse(&self, reason: ExemplarError) -> ExemplarError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        reason
    }

    /// Exemplars refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Copies of the exemplars held now, in slot order (so, for a histogram, by value).
    pub(crate) fn collect(&self, out: &mut Vec<Exemplar>) {
        for cell in self.slots.iter() {
            let guard = super::super::sync::lock(cell);
            if let Some(e) = guard.as_deref() {
                out.push(e.clone());
            }
        }
    }

    /// Bytes held: the slots and the exemplars in them.
    pub(crate) fn memory_bytes(&self) -> usize {
        let mut bytes = std::mem::size_of::<Self>() + std::mem::size_of_val(&*self.slots);
        for cell in self.slots.iter() {
            if let Some(e) = super::super::sync::lock(cell).as_deref() {
                bytes += std::mem::size_of::<Exemplar>()
                    + e.labels.capacity() * std::mem::size_of::<(String, String)>()
                    + e.labels
                        .iter()
                        .map(|(n, v)| n.capacity() + v.capacity())
                        .sum::<usize>();
            }
        }
        bytes
    }
}

impl fmt::Debug for Exemplars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exemplars")
            .field("slots", &self.slots.len())
            .field("refused", &self.refused())
            .finish()
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[test]
    fn octave_slots_follow_native_bucket_boundaries() {
        assert_eq!(octave_slot(0), 0);
        assert_eq!(octave_slot(1), 1);
        assert_eq!(octave_slot(2), 2);
        assert_eq!((octave_slot(3), octave_slot(4)), (3, 3));
        assert_eq!((octave_slot(5), octave_slot(8)), (4, 4));
        assert_eq!(octave_slot(u64::MAX), HISTOGRAM_SLOTS - 1);
    }

    #[test]
    fn label_sets_are_checked_by_characters_names_and_repeats() {
        // 128 characters exactly, counting a multi-byte value by characters.
        let value = "é".repeat(128 - 8);
        assert_eq!(check(&[("trace_id", &value)]), Ok(()));
        let value = "é".repeat(121);
        assert_eq!(
            check(&[("trace_id", &value)]),
            Err(ExemplarError::TooLong { chars: 129 })
        );
        assert!(matches!(
            check(&[("a", "1"), ("a", "2")]),
            Err(ExemplarError::DuplicateName { .. })
        ));
        assert!(matches!(
            check(&[("9a", "1")]),
            Err(ExemplarError::InvalidName { .. })
        ));
        assert!(matches!(
            check(&[("", "1")]),
            Err(ExemplarError::InvalidName { .. })
        ));
        let huge = "n".repeat(1 << 20);
        assert!(matches!(
            check(&[(&huge, "1")]),
            Err(ExemplarError::TooLong { .. })
        ));
        assert_eq!(check(&[]), Ok(()));
    }

    #[test]
    fn a_busy_slot_drops_the_exemplar_and_counts_it() {
        let table = Exemplars::boxed(2);
        let held = table.slots[1].lock().unwrap();
        assert_eq!(
            table.store(1, &[("id", "1")], 1.0),
            Err(ExemplarError::Busy)
        );
        assert_eq!(table.refused(), 1);
        drop(held);
        // Out of range: the last slot.
        assert_eq!(table.store(7, &[("id", "1"), ("span", "a")], 1.0), Ok(()));
        // Overwritten in place, with fewer and shorter labels.
        assert_eq!(table.store(1, &[("id", "2")], 2.0), Ok(()));
        let mut out = Vec::new();
        table.collect(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels(), [("id".to_string(), "2".to_string())]);
        assert_eq!(out[0].value(), 2.0);
    }
}
