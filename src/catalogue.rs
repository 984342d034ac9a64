//! Every metric family the crate's instruments and integrations declare, in one list: what
//! tests and documentation enumerate. It sits above the layers, since it names entries from
//! the instruments (layer 5) and the integrations (layer 8).

use crate::instrument::families::{batch, lock, long_task, pending, pipeline, queue, saga, stall};
use crate::integrations::families as integrations;
use crate::registry::background::families as background;
use crate::registry::FamilyDef;

/// The catalogue entries of every family the crate registers on its own — instruments,
/// background threads, the pushers (features `push-gateway`, `remote-write`, `otlp`), `#[timed]`, the `tracing` layer (feature `tracing-layer`), the tokio
/// runtime collector (feature `tokio`) and the integrations' error counter — in that order.
/// (The registry's self metrics and process collector are described with the registry; the
/// `metrics` facade recorder registers the families its caller names.)
///
/// ```
/// use perf_instrument::{catalogue, MetricKind};
/// let all = catalogue();
/// let stages = all.iter().find(|d| d.name() == "pipeline_stage_duration_seconds").unwrap();
/// assert_eq!(stages.kind(), MetricKind::Histogram);
/// assert_eq!(stages.label_names(), ["pipeline", "stage"]);
/// assert_eq!(stages.tabling().spec().map(|s| s.title()), Some("stages"));
/// ```
#[must_use]
pub fn catalogue() -> Vec<&'static FamilyDef> {
    let mut all: Vec<&'static FamilyDef> = Vec::new();
    for part in [
        pipeline::ALL,
        queue::ALL,
        pending::ALL,
        lock::ALL,
        batch::ALL,
        long_task::ALL,
        saga::ALL,
        stall::ALL,
        background::ALL,
        integrations::TIMED,
        integrations::TRACING_LAYER,
        integrations::TOKIO_RUNTIME,
        integrations::ERRORS,
    ] {
        all.extend_from_slice(part);
    }
    #[cfg(any(feature = "push-gateway", feature = "remote-write", feature = "otlp"))]
    all.extend_from_slice(crate::export::families::ALL);
    all
}
