//! Layer 2: a cheap monotonic clock, and a manual one for tests and loom models.
//!
//! [`Clock::new`] reads the CPU's time-stamp counter where it is invariant (x86-64 with the
//! invariant-TSC and RDTSCP CPUID bits; the system counter on AArch64), calibrated once per
//! process against the OS monotonic clock, through [`quanta`]. A read costs about 10 ns on the
//! 2-core KVM machine of `docs/BENCHMARKS.md`, against about 25 ns for `std::time::Instant::now`.
//! Where the counter is not usable (no invariant TSC, other architectures) it falls back to the
//! OS monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`, the source of `Instant`), at
//! `Instant`'s cost; [`Clock::source`] says which one is in use.
//!
//! [`Clock::manual`] gives a clock that only moves when the test says so.

use super::sync::lazy_global;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Where a [`Clock`]'s readings come from.
///
/// ```
/// use perf_instrument::{Clock, ClockSource};
/// assert_ne!(Clock::new().source(), ClockSource::Manual);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockSource {
    /// The CPU's invariant time-stamp counter (or the AArch64 system counter), calibrated.
    Tsc,
    /// The OS monotonic clock, where the TSC is not invariant.
    Monotonic,
    /// A [`ManualClock`].
    Manual,
}

impl ClockSource {
    /// A short name: `tsc`, `monotonic` or `manual`.
    ///
    /// ```
    /// assert_eq!(perf_instrument::ClockSource::Tsc.name(), "tsc");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ClockSource::Tsc => "tsc",
            ClockSource::Monotonic => "monotonic",
            ClockSource::Manual => "manual",
        }
    }
}

/// A monotonic clock: raw readings are cheap; differences convert to nanoseconds.
///
/// Cloning is cheap. Readings from different clocks must not be mixed.
///
/// ```
/// use perf_instrument::Clock;
/// let clock = Clock::new();
/// let start = clock.raw();
/// let took = clock.elapsed(start);
/// assert!(took.as_secs() < 60);
/// ```
#[derive(Clone)]
pub struct Clock {
    inner: quanta::Clock,
    source: ClockSource,
    /// 2^-30 s time units per raw tick, as a 24.40 fixed-point number: a raw difference
    /// converts to the units time histograms store with one multiply.
    units_q40: u64,
}

/// The hand of a manual [`Clock`]: time moves only when it is advanced.
///
/// ```
/// use perf_instrument::Clock;
/// use std::time::Duration;
/// let (clock, hand) = Clock::manual();
/// let start = clock.raw();
/// hand.advance(Duration::from_secs(3));
/// assert_eq!(clock.elapsed(start), Duration::from_secs(3));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    mock: Arc<quanta::Mock>,
}

lazy_global! {
    static GLOBAL: Clock = Clock::new();
}

/// The process-wide clock that timers use unless given another.
pub(crate) fn global() -> &'static Clock {
    &GLOBAL
}

impl Clock {
    /// The fastest monotonic clock this machine supports (see the module docs).
    ///
    /// ```
    /// let c = perf_instrument::Clock::new();
    /// let (a, b) = (c.raw(), c.raw());
    /// assert!(c.delta_nanos(a, b) < 1_000_000_000);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let source = if counter_is_invariant() {
            ClockSource::Tsc
        } else {
            ClockSource::Monotonic
        };
        Self::from_parts(quanta::Clock::new(), source)
    }

    fn from_parts(inner: quanta::Clock, source: ClockSource) -> Self {
        // Units for 2^40 ticks: exact to the unit, so the factor is good to 2^-40 relative.
        let units_q40 = nanos_to_units(inner.delta_as_nanos(0, 1 << 40));
        Self {
            inner,
            source,
            units_q40,
        }
    }

    /// The process-wide clock (built, and calibrated, on first use).
    ///
    /// ```
    /// let c = perf_instrument::Clock::global();
    /// let start = c.raw();
    /// assert!(c.elapsed(start).as_secs() < 60);
    /// ```
    #[must_use]
    pub fn global() -> &'static Clock {
        global()
    }

    /// A clock that starts at zero and moves only when its [`ManualClock`] hand advances it.
    ///
    /// ```
    /// use perf_instrument::Clock;
    /// use std::time::Duration;
    /// let (clock, hand) = Clock::manual();
    /// assert_eq!(clock.raw(), 0);
    /// hand.advance(Duration::from_nanos(5));
    /// assert_eq!(clock.raw(), 5);
    /// ```
    #[must_use]
    pub fn manual() -> (Clock, ManualClock) {
        let (inner, mock) = quanta::Clock::mock();
        (
            Clock::from_parts(inner, ClockSource::Manual),
            ManualClock { mock },
        )
    }

    /// A raw reading: TSC ticks, or nanoseconds for the monotonic and manual sources.
    /// Only differences of readings of one clock mean anything.
    ///
    /// ```
    /// let c = perf_instrument::Clock::new();
    /// let t = c.raw();
    /// assert!(c.raw() >= t);
    /// ```
    #[inline(always)]
    #[must_use]
    pub fn raw(&self) -> u64 {
        self.inner.raw()
    }

    /// The raw reading this clock gave `age` ago (zero if the clock is younger than that):
    /// for dating an event from a time measured elsewhere, such as an intended start.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (c, hand) = perf_instrument::Clock::manual();
    /// hand.advance(Duration::from_secs(5));
    /// let then = c.raw_before(Duration::from_secs(2));
    /// assert_eq!(c.elapsed(then), Duration::from_secs(2));
    /// assert_eq!(c.raw_before(Duration::from_secs(60)), 0);
    /// ```
    #[must_use]
    pub fn raw_before(&self, age: Duration) -> u64 {
        self.raw().saturating_sub(self.ticks(age))
    }

    /// Raw ticks in `age`, to the nearest tick (saturating).
    pub(crate) fn ticks(&self, age: Duration) -> u64 {
        let nanos = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
        let units = u128::from(nanos_to_units(nanos));
        let per_q40 = u128::from(self.units_q40.max(1));
        u64::try_from(((units << 40) + per_q40 / 2) / per_q40).unwrap_or(u64::MAX)
    }

    /// Nanoseconds from `start` to `end` (two raw readings), zero if `end` is not later.
    ///
    /// ```
    /// let (c, hand) = perf_instrument::Clock::manual();
    /// let a = c.raw();
    /// hand.advance(std::time::Duration::from_micros(1));
    /// assert_eq!(c.delta_nanos(a, c.raw()), 1_000);
    /// assert_eq!(c.delta_nanos(c.raw(), a), 0);
    /// ```
    #[inline(always)]
    #[must_use]
    pub fn delta_nanos(&self, start: u64, end: u64) -> u64 {
        self.inner.delta_as_nanos(start, end)
    }

    /// The difference of two raw readings in the 2^-30 s units time histograms store (one
    /// multiply; zero if `end` is not later).
    #[inline(always)]
    pub(crate) fn delta_units(&self, start: u64, end: u64) -> u64 {
        let ticks = end.saturating_sub(start);
        ((u128::from(ticks) * u128::from(self.units_q40)) >> 40) as u64
    }

    /// Time since `start` (a raw reading).
    ///
    /// ```
    /// let c = perf_instrument::Clock::new();
    /// let start = c.raw();
    /// assert!(c.elapsed(start) < std::time::Duration::from_secs(60));
    /// ```
    #[inline]
    #[must_use]
    pub fn elapsed(&self, start: u64) -> Duration {
        Duration::from_nanos(self.delta_nanos(start, self.raw()))
    }

    /// Nanoseconds since an arbitrary, fixed origin of this clock (comparable across threads).
    ///
    /// ```
    /// let c = perf_instrument::Clock::new();
    /// let a = c.now_nanos();
    /// assert!(c.now_nanos() >= a);
    /// ```
    #[inline]
    #[must_use]
    pub fn now_nanos(&self) -> u64 {
        self.inner.delta_as_nanos(0, self.raw())
    }

    /// Which source the readings come from.
    ///
    /// ```
    /// use perf_instrument::{Clock, ClockSource};
    /// assert_eq!(Clock::manual().0.source(), ClockSource::Manual);
    /// ```
    #[must_use]
    pub fn source(&self) -> ClockSource {
        self.source
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("source", &self.source)
            .finish()
    }
}

impl ManualClock {
    /// Moves the clock forward by `by` (saturating at `u64::MAX` nanoseconds).
    ///
    /// ```
    /// let (c, hand) = perf_instrument::Clock::manual();
    /// hand.advance(std::time::Duration::from_millis(2));
    /// assert_eq!(c.now_nanos(), 2_000_000);
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let room = u64::MAX - self.mock.value();
        self.mock.increment(by.min(room));
    }

    /// The clock's current reading in nanoseconds.
    ///
    /// ```
    /// let (_c, hand) = perf_instrument::Clock::manual();
    /// assert_eq!(hand.now_nanos(), 0);
    /// ```
    #[must_use]
    pub fn now_nanos(&self) -> u64 {
        self.mock.value()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("nanos", &self.now_nanos())
            .finish()
    }
}

/// Whether quanta will read the counter: the same CPUID test it makes.
#[cfg(target_arch = "x86_64")]
fn counter_is_invariant() -> bool {
    let cpuid = raw_cpuid::CpuId::new();
    let invariant = cpuid
        .get_advanced_power_mgmt_info()
        .is_some_and(|apm| apm.has_invariant_tsc());
    let rdtscp = cpuid
        .get_extended_processor_and_feature_identifiers()
        .is_some_and(|f| f.has_rdtscp());
    invariant && rdtscp
}

#[cfg(all(target_arch = "aarch64", not(target_os = "ios")))]
fn counter_is_invariant() -> bool {
    true
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", not(target_os = "ios"))
)))]
fn counter_is_invariant() -> bool {
    false
}

// Time units: what time histograms store.

/// Time histograms store durations as integers of 2^-30 s (≈ 0.931 ns): then the native bucket
/// bounds `2^(i/8)` units are `2^((i - 240)/8)` seconds, schema-3 bounds in seconds too.
///
/// ```
/// use perf_instrument::TIME_UNITS_PER_SECOND;
/// // One unit is just under a nanosecond.
/// let ns_per_unit = 1e9 / TIME_UNITS_PER_SECOND as f64;
/// assert!((0.93..0.94).contains(&ns_per_unit));
/// ```
pub const TIME_UNITS_PER_SECOND: u64 = 1 << 30;

/// Converts nanoseconds to time units, rounding up: `ceil(ns · 2^30 / 10^9)` exactly below 2^43
/// ns (2.4 hours), within one unit (0.93 ns) beyond; saturating.
///
/// Rounding up makes the stored value at most a bound `U` exactly when the duration is at most
/// `U` units, so a classic bucket printed as `le = U / 2^30` s counts exactly the observations at
/// or below it (rounding down would count an observation up to one unit above `le`).
///
/// One multiply: `2^30 / 10^9 = 1 + f`, and `ns · f` is the high word of `ns · ceil(f · 2^64)`.
/// Rounding `f` up adds less than `ns · 2^-64` to a product whose fraction is a multiple of
/// `5^-9` (because `2^30 / 10^9 = 2^21 / 5^9`). Below 2^43 ns that excess is smaller than
/// `5^-9`, so the high word is the exact floor, and the low word tells the cases apart: under
/// `ns` when `ns · f` is whole (only the excess), at least `2^64 · 5^-9 > ns` when it is not.
#[inline(always)]
pub(crate) fn nanos_to_units(ns: u64) -> u64 {
    const FRACTION: u128 = 1_360_296_554_856_532_783;
    let product = u128::from(ns) * FRACTION;
    let (whole, rest) = ((product >> 64) as u64, product as u64);
    ns.saturating_add(whole + u64::from(rest > ns))
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[test]
    fn nanos_convert_to_units_exactly_below_2_pow_43_and_within_one_unit_above() {
        let exact = |ns: u64| {
            u64::try_from((u128::from(ns) << 30).div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
        };
        let mut x = 0x853c_49e6_748f_ea9bu64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for ns in (0..200_000u64).chain((0..200_000).map(|_| next() >> 21)) {
            assert_eq!(nanos_to_units(ns), exact(ns), "ns = {ns}");
        }
        for ns in (0..200_000).map(|_| next() | (1 << 43)) {
            let (got, want) = (nanos_to_units(ns), exact(ns));
            assert!(got.abs_diff(want) <= 1, "ns = {ns}: {got} vs {want}");
        }
        assert_eq!(nanos_to_units(u64::MAX), u64::MAX);
        assert_eq!(nanos_to_units(1_000_000_000), TIME_UNITS_PER_SECOND);
        assert_eq!(
            nanos_to_units(3_600_000_000_000),
            3_600 * TIME_UNITS_PER_SECOND
        );
    }
}
