//! `Counter`: a sharded, monotonic u64 counter.

use super::super::sync::{Arc, AtomicU64, Ordering};
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
}

impl Counter {
    /// Bytes this counter occupies: the handle, and one cache-padded slot per lane plus the
    /// shared slot and the allocation's reference counts.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of::<CachePadded<AtomicU64>>() * (self.slots.len() + 1)
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
        Self { slots }
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
