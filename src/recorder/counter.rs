//! `Counter`: a sharded, monotonic u64 counter.

use super::super::sync::{Arc, AtomicU64, OnceBox, Ordering};
use super::exemplar::{self, Exemplar, ExemplarError, Exemplars};
use super::lanes::{self, Lane};
use crossbeam_utils::CachePadded;
use std::fmt;

/// A counter that only goes up: events, errors, bytes written.
///
/// Each lane owns a cache-padded slot, so an increment is a plain load and store on a line no
/// other thread writes; [`get`](Counter::get) sums the slots and never goes backwards. Cloning
/// shares the counter.
///
/// ```
/// use perf_instrument::Counter;
/// let requests = Counter::new();
/// requests.inc();
/// requests.inc_by(2);
/// assert_eq!(requests.get(), 3);
/// ```
#[derive(Clone)]
pub struct Counter {
    slots: Arc<[CachePadded<AtomicU64>]>,
    /// The last exemplar, allocated on the first one; `inc_by` never reads it.
    exemplar: Arc<OnceBox<Exemplars>>,
}

impl Counter {
    /// Bytes this counter occupies: the handle, and one cache-padded slot per lane plus the
    /// shared slot and the allocation's reference counts.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of::<CachePadded<AtomicU64>>() * (self.slots.len() + 1)
            + 2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<OnceBox<Exemplars>>()
            + self.exemplar.get().map_or(0, |t| t.memory_bytes())
    }

    /// A new counter at zero.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Counter::new().get(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let slots = (0..=lanes::count())
            .map(|_| CachePadded::new(AtomicU64::new(0)))
            .collect();
        Self {
            slots,
            exemplar: Arc::new(OnceBox::new()),
        }
    }

    /// Adds one.
    ///
    /// ```
    /// let c = perf_instrument::Counter::new();
    /// c.inc();
    /// assert_eq!(c.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    ///
    /// ```
    /// let c = perf_instrument::Counter::new();
    /// c.inc_by(40);
    /// c.inc_by(2);
    /// assert_eq!(c.get(), 42);
    /// ```
    #[inline]
    pub fn inc_by(&self, n: u64) {
        match lanes::current() {
            Lane::Owned(lane) => {
                let slot = &self.slots[lane];
                slot.store(
                    slot.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            }
            Lane::Shared => {
                self.slots[self.slots.len() - 1].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Adds `n` as [`inc_by`](Self::inc_by) does, and keeps `labels` as the counter's
    /// exemplar (the last one given), timestamped, with `n` as its value. The increment is
    /// always made; the exemplar is refused, with the reason, when the labels are invalid (see
    /// [`Exemplar::new`]) or another thread is storing one at that instant, and counted in
    /// `perf_instrument_exemplars_refused_total{family}`. `inc_by` never touches exemplars.
    ///
    /// ```
    /// let failures = perf_instrument::Counter::new();
    /// failures.inc_by_with_exemplar(1, &[("trace_id", "4bf92f35")]).unwrap();
    /// failures.inc();
    /// assert_eq!(failures.get(), 2);
    /// let e = failures.exemplar().unwrap();
    /// assert_eq!((e.labels()[0].1.as_str(), e.value()), ("4bf92f35", 1.0));
    /// ```
    pub fn inc_by_with_exemplar(
        &self,
        n: u64,
        labels: &[(&str, &str)],
    ) -> Result<(), ExemplarError> {
        self.inc_by(n);
        self.store_exemplar(n, labels)
    }

    #[cold]
    #[inline(never)]
    fn store_exemplar(&self, n: u64, labels: &[(&str, &str)]) -> Result<(), ExemplarError> {
        let table = self.exemplar.get_or_init(|| Exemplars::boxed(1));
        if let Err(reason) = exemplar::check(labels) {
            return Err(table.refuse(reason));
        }
        table.store(0, labels, n as f64)
    }

    /// The last exemplar kept, its value the increment as given (nanoseconds for a counter
    /// of a `Unit::Seconds` family, which exports it in seconds).
    ///
    /// ```
    /// let c = perf_instrument::Counter::new();
    /// assert!(c.exemplar().is_none());
    /// c.inc_by_with_exemplar(3, &[("id", "7")]).unwrap();
    /// assert_eq!(c.exemplar().unwrap().value(), 3.0);
    /// ```
    #[must_use]
    pub fn exemplar(&self) -> Option<Exemplar> {
        let mut out = Vec::new();
        self.exemplar.get()?.collect(&mut out);
        out.pop()
    }

    /// Exemplars refused so far.
    pub(crate) fn exemplars_refused(&self) -> u64 {
        self.exemplar.get().map_or(0, |t| t.refused())
    }

    /// The current total.
    ///
    /// ```
    /// let c = perf_instrument::Counter::new();
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 { s.spawn(|| for _ in 0..1000 { c.inc() }); }
    /// });
    /// assert_eq!(c.get(), 4000);
    /// ```
    #[must_use]
    pub fn get(&self) -> u64 {
        self.slots.iter().fold(0u64, |sum, slot| {
            sum.wrapping_add(slot.load(Ordering::Relaxed))
        })
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.get())
            .finish()
    }
}
