//! The saga metric families, registered once per registry and shared by every tracker through
//! the `saga` label, and one tracker's handles, resolved at construction.

use super::outcome::{SagaOutcome, SagaRejectReason};
use crate::recorder::{Counter, Gauge, Histogram};
use crate::registry::background::Background;
use crate::registry::FamilyDef;
use crate::registry::{Buckets, Registry, RegistryError};

/// The families a [`SagaTracker`](crate::SagaTracker) registers (shared by all trackers, by
/// label `saga`).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Sagas started.
    pub(crate) const STARTED: FamilyDef = FamilyDef::counter("saga_started", "Sagas started.")
        .labels(&["saga"])
        .not_tabled("a counter");
    /// Sagas finished, by outcome.
    pub(crate) const FINISHED: FamilyDef = FamilyDef::counter(
        "saga_finished",
        "Sagas finished, by outcome (completed, failed, compensated, timed_out, evicted).",
    )
    .labels(&["saga", "outcome"])
    .not_tabled("a counter (the saga-completion finding reads it)");
    /// Sagas active.
    pub(crate) const ACTIVE: FamilyDef =
        FamilyDef::gauge("saga_active", "Sagas started and not yet finished.")
            .labels(&["saga"])
            .not_tabled("a gauge");
    /// End-to-end durations, by outcome.
    pub(crate) const DURATION: FamilyDef = FamilyDef::histogram(
        "saga_duration_seconds",
        "End-to-end saga duration, from start to its outcome.",
    )
    .unit(Unit::Seconds)
    .labels(&["saga", "outcome"])
    .table(TableSpec::new("sagas", "{saga}/{outcome}").with_rank(500));
    /// Step durations.
    pub(crate) const STEP_DURATION: FamilyDef = FamilyDef::histogram(
        "saga_step_duration_seconds",
        "Duration of completed saga steps, from step start to step completion.",
    )
    .unit(Unit::Seconds)
    .labels(&["saga", "step"])
    .table(TableSpec::new("saga steps", "{saga}/{step}").with_rank(1_000));
    /// Steps failed.
    pub(crate) const STEP_FAILURES: FamilyDef =
        FamilyDef::counter("saga_step_failures", "Saga steps that failed.")
            .labels(&["saga", "step"])
            .not_tabled("a counter");
    /// Compensations started.
    pub(crate) const COMPENSATIONS: FamilyDef = FamilyDef::counter(
        "saga_compensations",
        "Compensations started, by the step they undo.",
    )
    .labels(&["saga", "step"])
    .not_tabled("a counter");
    /// Failed sagas, by reason.
    pub(crate) const FAILURES: FamilyDef = FamilyDef::counter(
        "saga_failures",
        "Sagas that ended as failed, by declared reason.",
    )
    .labels(&["saga", "reason"])
    .not_tabled("a counter");
    /// Sagas stuck at the last sweep.
    pub(crate) const STUCK: FamilyDef = FamilyDef::gauge(
        "saga_stuck",
        "Active sagas marked stuck by a sweep: no progress for longer than the threshold.",
    )
    .labels(&["saga"])
    .not_tabled("a gauge (the stuck-sagas finding reads it)");
    /// Age of the oldest active saga.
    pub(crate) const OLDEST_ACTIVE_AGE: FamilyDef = FamilyDef::gauge(
        "saga_oldest_active_age_seconds",
        "Age of the oldest active saga at the last sweep.",
    )
    .unit(Unit::Seconds)
    .labels(&["saga"])
    .not_tabled("a gauge");
    /// Events refused, by reason.
    pub(crate) const EVENTS_REJECTED: FamilyDef =
        FamilyDef::counter("saga_events_rejected", "Saga events refused, by reason.")
            .labels(&["saga", "reason"])
            .not_tabled("a counter");
    /// Sweeper threads running.
    pub(crate) const SWEEPER_RUNNING: FamilyDef = FamilyDef::gauge(
        "saga_sweeper_running",
        "Background sweeper threads running (0 after a sweeper stopped or panicked).",
    )
    .labels(&["saga"])
    .not_tabled("a gauge");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &STARTED,
        &FINISHED,
        &ACTIVE,
        &DURATION,
        &STEP_DURATION,
        &STEP_FAILURES,
        &COMPENSATIONS,
        &FAILURES,
        &STUCK,
        &OLDEST_ACTIVE_AGE,
        &EVENTS_REJECTED,
        &SWEEPER_RUNNING,
    ];
}

/// One tracker's series: every handle an event or a sweep touches, resolved once.
pub(super) struct SagaMetrics {
    pub(super) started: Counter,
    pub(super) finished: [Counter; 5],
    pub(super) duration: [Histogram; 5],
    pub(super) active: Gauge,
    pub(super) stuck: Gauge,
    pub(super) oldest_age: Gauge,
    pub(super) rejected: [Counter; 8],
    pub(super) step_duration: Box<[Histogram]>,
    pub(super) step_failures: Box<[Counter]>,
    pub(super) compensations: Box<[Counter]>,
    pub(super) failures: Box<[Counter]>,
    pub(super) sweepers: Gauge,
    pub(super) background: Background,
}

impl SagaMetrics {
    /// Registers (or finds) the families in `registry` and resolves the series of saga `saga`
    /// with these steps and failure reasons.
    pub(super) fn register(
        registry: &Registry,
        saga: &str,
        steps: &[String],
        reasons: &[String],
        shape: &crate::instrument::HistogramShape,
        saga_buckets: Option<Buckets>,
    ) -> Result<Self, RegistryError> {
        use families as f;
        let counter = |def: &FamilyDef| registry.register_counter(def.opts());
        let gauge = |def: &FamilyDef| registry.register_gauge(def.opts());

        let started = counter(&f::STARTED)?;
        let finished = counter(&f::FINISHED)?;
        let active = gauge(&f::ACTIVE)?;
        let duration = registry.register_histogram(
            f::DURATION
                .opts()
                .schema(shape.schema)
                .buckets(saga_buckets.unwrap_or_else(default_saga_buckets)),
        )?;
        let step_duration = registry.register_histogram(shape.opts(&f::STEP_DURATION))?;
        let step_failures = counter(&f::STEP_FAILURES)?;
        let compensations = counter(&f::COMPENSATIONS)?;
        let failures = counter(&f::FAILURES)?;
        let stuck = gauge(&f::STUCK)?;
        let oldest_age = gauge(&f::OLDEST_ACTIVE_AGE)?;
        let rejected = counter(&f::EVENTS_REJECTED)?;
        let sweepers = gauge(&f::SWEEPER_RUNNING)?;

        let per =
            |family: &crate::registry::Family<Counter>, values: &[String]| -> Box<[Counter]> {
                values
                    .iter()
                    .map(|v| family.with_label_values(&[saga, v]))
                    .collect()
            };
        Ok(Self {
            started: started.with_label_values(&[saga]),
            finished: SagaOutcome::ALL.map(|o| finished.with_label_values(&[saga, o.label()])),
            duration: SagaOutcome::ALL.map(|o| duration.with_label_values(&[saga, o.label()])),
            active: active.with_label_values(&[saga]),
            stuck: stuck.with_label_values(&[saga]),
            oldest_age: oldest_age.with_label_values(&[saga]),
            rejected: SagaRejectReason::ALL.map(|r| rejected.with_label_values(&[saga, r.label()])),
            step_duration: steps
                .iter()
                .map(|s| step_duration.with_label_values(&[saga, s]))
                .collect(),
            step_failures: per(&step_failures, steps),
            compensations: per(&compensations, steps),
            failures: per(&failures, reasons),
            sweepers: sweepers.with_label_values(&[saga]),
            background: Background::new(registry)?,
        })
    }
}

/// Classic buckets of `saga_duration_seconds`: two per octave (as the default for durations)
/// from 2^-7 s (7.8 ms) to 2^12 s (68 min), exact layout bounds; a saga spans more than one
/// call, so its range starts and ends higher than the default's (0.95 µs – 64 s), which the step
/// durations keep.
fn default_saga_buckets() -> Buckets {
    // 2^30 stored units per second.
    Buckets::half_octaves(30 - 7, 30 + 12)
}
