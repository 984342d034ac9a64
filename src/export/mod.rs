//! Layer 7: push export — a background [`Pusher`] that sends the registry to a [`PushTarget`]
//! on an interval and once more when it stops, for runs that end before a scrape (load tests,
//! batch jobs, CI benchmarks) and fleets that outgrow one Prometheus.
//!
//! The targets, each behind its own feature:
//!
//! - `pushgateway::Pushgateway` (`push-gateway`): a batch job or CI run whose last values should
//!   stay visible to an existing Prometheus, which scrapes the Pushgateway;
//! - `remote_write::RemoteWrite` (`remote-write`): processes writing straight into Prometheus,
//!   VictoriaMetrics, Mimir, Thanos or Cortex, with no scrape at all;
//! - `otlp::Otlp` (`otlp`): an OpenTelemetry Collector or OTLP backend.
//!
//! Push and pull read the same registry (a service can do both), and what is pushed is
//! cumulative like what is scraped (counters and histograms since the start), so `rate()` and
//! `histogram_quantile` read either alike, and a push that fails loses nothing that the next
//! one does not carry; only the final push, which has no next one, can lose data, and it is
//! retried like any other.
//!
//! ```
//! use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
//! use perf_instrument::Registry;
//!
//! /// Counts the families it was sent.
//! #[derive(Debug)]
//! struct Families(std::sync::Arc<std::sync::atomic::AtomicUsize>);
//! impl PushTarget for Families {
//!     fn name(&self) -> &str { "families" }
//!     fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError> {
//!         self.0.store(batch.families.len(), std::sync::atomic::Ordering::Relaxed);
//!         Ok(())
//!     }
//! }
//! let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
//! registry.counter("jobs", "Jobs.").unwrap().inc();
//! let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
//! let pusher = Pusher::builder(&registry, Families(seen.clone())).start().unwrap();
//! drop(pusher); // the final push
//! // `jobs`, the three push counters and the background-thread families.
//! assert!(seen.load(std::sync::atomic::Ordering::Relaxed) >= 4);
//! ```

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
