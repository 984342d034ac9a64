//! Layer 3: the recorders (`Counter`, `Gauge`, `Histogram`) and histogram snapshots.
//!
//! Lock-free and fixed in memory. Counters and histograms are sharded by lane (see
//! [`lanes`]): a thread that owns a lane writes its own cache-padded shard with plain stores.

mod counter;
mod exemplar;
mod gauge;
mod histogram;
pub(crate) mod lanes;
pub(crate) mod layout;
mod snapshot;
mod wide_sum;

pub use counter::Counter;
pub use exemplar::{Exemplar, ExemplarError, MAX_EXEMPLAR_LABEL_CHARS};
pub use gauge::{Gauge, InFlightGuard, OwnedInFlightGuard};
pub use histogram::{Histogram, HistogramTimer, MAX_FILL_IN};
pub use layout::Schema;
pub(crate) use snapshot::ClassicSlots;
#[cfg(any(feature = "protobuf", feature = "remote-write"))]
pub(crate) use snapshot::SparseBuckets;
pub use snapshot::{Bucket, HistogramSnapshot};
#[cfg(perf_instrument_loom)]
pub use {lanes::Table as LaneTable, wide_sum::WideSum};

/// The unit of a histogram's values (and of a metric family, for its name and `# UNIT`).
///
/// ```
/// use perf_instrument::Unit;
/// assert_eq!(Unit::Seconds.suffix(), Some("seconds"));
/// assert_eq!(Unit::Count.suffix(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Durations. Recorded as nanoseconds (or `Duration`s), stored as 2^-30 s integers,
    /// reported and exported in seconds.
    Seconds,
    /// Sizes in bytes.
    Bytes,
    /// Dimensionless counts: items, events, batch sizes.
    Count,
}

impl Unit {
    /// The Prometheus unit suffix (`_seconds`, `_bytes`), if the unit has one.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Unit::Bytes.suffix(), Some("bytes"));
    /// ```
    #[must_use]
    pub fn suffix(self) -> Option<&'static str> {
        match self {
            Unit::Seconds => Some("seconds"),
            Unit::Bytes => Some("bytes"),
            Unit::Count => None,
        }
    }
}
