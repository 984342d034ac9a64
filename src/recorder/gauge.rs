//! `Gauge`: a signed value that goes up and down.

use super::super::sync::{Arc, AtomicI64, Ordering};
use crossbeam_utils::CachePadded;
use std::fmt;

/// A value that goes up and down: queue depth, items in flight, a configured limit.
///
/// One cache-padded `i64`, updated with atomic read-modify-writes, so concurrent `add`/`sub`
/// from any number of threads are exact (`set` overwrites). Arithmetic wraps rather than
/// panics. Cloning shares the gauge.
///
/// ```
/// use perf_instrument::Gauge;
/// let depth = Gauge::new();
/// depth.add(5);
/// depth.dec();
/// assert_eq!(depth.get(), 4);
/// depth.set(-2);
/// assert_eq!(depth.get(), -2);
/// ```
#[derive(Clone)]
pub struct Gauge {
    value: Arc<CachePadded<AtomicI64>>,
}

impl Gauge {
    /// Bytes this gauge occupies: the handle and its cache-padded allocation.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + 2 * std::mem::size_of::<CachePadded<AtomicI64>>()
    }
}

impl Gauge {
    /// A new gauge at zero.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Gauge::new().get(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            value: Arc::new(CachePadded::new(AtomicI64::new(0))),
        }
    }

    /// Sets the value.
    ///
    /// ```
    /// let g = perf_instrument::Gauge::new();
    /// g.set(7);
    /// assert_eq!(g.get(), 7);
    /// ```
    #[inline]
    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Relaxed);
    }

    /// Adds `delta` (which may be negative).
    ///
    /// ```
    /// let g = perf_instrument::Gauge::new();
    /// g.add(10);
    /// g.add(-3);
    /// assert_eq!(g.get(), 7);
    /// ```
    #[inline]
    pub fn add(&self, delta: i64) {
        self.value.fetch_add(delta, Ordering::Relaxed);
    }

    /// Subtracts `delta`.
    ///
    /// ```
    /// let g = perf_instrument::Gauge::new();
    /// g.sub(4);
    /// assert_eq!(g.get(), -4);
    /// ```
    #[inline]
    pub fn sub(&self, delta: i64) {
        self.value.fetch_sub(delta, Ordering::Relaxed);
    }

    /// Adds one.
    ///
    /// ```
    /// let g = perf_instrument::Gauge::new();
    /// g.inc();
    /// assert_eq!(g.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    ///
    /// ```
    /// let g = perf_instrument::Gauge::new();
    /// g.dec();
    /// assert_eq!(g.get(), -1);
    /// ```
    #[inline]
    pub fn dec(&self) {
        self.sub(1);
    }

    /// The current value.
    ///
    /// ```
    /// let g = perf_instrument::Gauge::new();
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 { s.spawn(|| for _ in 0..1000 { g.inc(); g.dec(); g.inc() }); }
    /// });
    /// assert_eq!(g.get(), 4000);
    /// ```
    #[must_use]
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Gauge {
    /// Adds one now and subtracts it when the returned guard drops: an in-flight count that stays
    /// exact when the work returns early, panics (the guard drops while unwinding), or is a
    /// future that gets cancelled (dropped before completion). The guard is `Send`, so it may
    /// cross `.await` points and threads.
    ///
    /// ```
    /// let in_flight = perf_instrument::Gauge::new();
    /// let guard = in_flight.track();
    /// assert_eq!(in_flight.get(), 1);
    /// let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     let _inner = in_flight.track();
    ///     panic!("request failed");
    /// }));
    /// drop(guard);
    /// assert_eq!(in_flight.get(), 0);
    /// ```
    #[inline]
    pub fn track(&self) -> InFlightGuard<'_> {
        self.inc();
        InFlightGuard { gauge: self }
    }

    /// As [`track`](Gauge::track), with a guard that owns a handle to the gauge (for
    /// `'static` tasks); costs a reference-count increment.
    ///
    /// ```
    /// let in_flight = perf_instrument::Gauge::new();
    /// let guard = in_flight.track_owned();
    /// std::thread::spawn(move || drop(guard)).join().unwrap();
    /// assert_eq!(in_flight.get(), 0);
    /// ```
    #[inline]
    pub fn track_owned(&self) -> OwnedInFlightGuard {
        self.inc();
        OwnedInFlightGuard {
            gauge: self.clone(),
        }
    }
}

/// Decrements its gauge exactly once, when dropped. See [`Gauge::track`].
///
/// ```
/// let g = perf_instrument::Gauge::new();
/// {
///     let _guard = g.track();
///     assert_eq!(g.get(), 1);
/// }
/// assert_eq!(g.get(), 0);
/// ```
#[must_use = "the in-flight count drops back as soon as the guard is dropped"]
#[derive(Debug)]
pub struct InFlightGuard<'a> {
    gauge: &'a Gauge,
}

impl Drop for InFlightGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Decrements its gauge exactly once, when dropped. See [`Gauge::track_owned`].
///
/// ```
/// let g = perf_instrument::Gauge::new();
/// let guard = g.track_owned();
/// drop(guard);
/// assert_eq!(g.get(), 0);
/// ```
#[must_use = "the in-flight count drops back as soon as the guard is dropped"]
#[derive(Debug)]
pub struct OwnedInFlightGuard {
    gauge: Gauge,
}

impl Drop for OwnedInFlightGuard {
    #[inline]
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}
