//! Layer 7: push export — a background [`Pusher`] that sends the registry to a [`PushTarget`]
//! on an interval and once more when it stops, for runs that end before a scrape (load tests,
//! batch jobs, CI benchmarks) and fleets that outgrow one Prometheus.
//!
//! The targets, each behind its own feature: `Pushgateway` (`push-gateway`), `RemoteWrite`
//! (`remote-write`) and `Otlp` (`otlp`). Every push sends the whole registry, cumulative (counters
//! and histograms since the start of the process), so a push that fails loses nothing that the
//! next one does not carry; only the final flush, which has no next one, can lose data, and it
//! is retried like any other.

mod pusher;
mod transport;

#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "push-gateway")]
pub mod pushgateway;
#[cfg(feature = "remote-write")]
pub mod remote_write;

pub use pusher::{PushBatch, PushError, PushTarget, Pusher, PusherBuilder, Retry};

/// The families every pusher reports to, by label `target` (the target's name).
pub(crate) mod families {
    use crate::registry::FamilyDef;

    /// Pushes a target accepted.
    pub(crate) const PUSHES: FamilyDef = FamilyDef::counter(
        "perf_instrument_pushes",
        "Pushes of the registry that the target accepted, by target.",
    )
    .labels(&["target"])
    .not_tabled("a counter");
    /// Attempts that failed (each retry counts).
    pub(crate) const FAILURES: FamilyDef = FamilyDef::counter(
        "perf_instrument_push_failures",
        "Push attempts that failed (transport error or refusal; each retry counts), by target.",
    )
    .labels(&["target"])
    .not_tabled("a counter");
    /// Batches given up on.
    pub(crate) const DROPPED: FamilyDef = FamilyDef::counter(
        "perf_instrument_push_dropped_batches",
        "Snapshots given up on after the retry budget or a refusal that retrying cannot fix, \
         by target.",
    )
    .labels(&["target"])
    .not_tabled("a counter");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[&PUSHES, &FAILURES, &DROPPED];
}
