//! The saga metric families, registered once per registry and shared by every tracker through
//! the `saga` label, and one tracker's handles, resolved at construction.

use super::outcome::{SagaOutcome, SagaRejectReason};
use crate::{Buckets, Counter, Gauge, Histogram, Opts, Registry, RegistryError, Unit};

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
}

impl SagaMetrics {
    /// Registers (or finds) the families in `registry` and resolves the series of saga `saga`
    /// with these steps and failure reasons.
    pub(super) fn register(
        registry: &Registry,
        saga: &str,
        steps: &[String],
        reasons: &[String],
    ) -> Result<Self, RegistryError> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            registry.register_counter(Opts::new(name, help).labels(labels.iter().copied()))
        };
        let gauge = |name: &str, help: &str, unit: Unit| {
            registry.register_gauge(Opts::new(name, help).unit(unit).labels(["saga"]))
        };
        let seconds = |name: &str, help: &str, label: &str, buckets: Buckets| {
            registry.register_histogram(
                Opts::new(name, help)
                    .unit(Unit::Seconds)
                    .labels(["saga", label])
                    .buckets(buckets),
            )
        };

        let started = counter("saga_started_total", "Sagas started.", &["saga"])?;
        let finished = counter(
            "saga_finished_total",
            "Sagas finished, by outcome (completed, failed, compensated, timed_out, evicted).",
            &["saga", "outcome"],
        )?;
        let active = gauge(
            "saga_active",
            "Sagas started and not yet finished.",
            Unit::Count,
        )?;
        let duration = seconds(
            "saga_duration_seconds",
            "End-to-end saga duration, from start to its outcome.",
            "outcome",
            saga_buckets(),
        )?;
        let step_duration = seconds(
            "saga_step_duration_seconds",
            "Duration of completed saga steps, from step start to step completion.",
            "step",
            Buckets::default_for(Unit::Seconds),
        )?;
        let step_failures = counter(
            "saga_step_failures_total",
            "Saga steps that failed.",
            &["saga", "step"],
        )?;
        let compensations = counter(
            "saga_compensations_total",
            "Compensations started, by the step they undo.",
            &["saga", "step"],
        )?;
        let failures = counter(
            "saga_failures_total",
            "Sagas that ended as failed, by declared reason.",
            &["saga", "reason"],
        )?;
        let stuck = gauge(
            "saga_stuck",
            "Active sagas marked stuck by a sweep: no progress for longer than the threshold.",
            Unit::Count,
        )?;
        let oldest_age = gauge(
            "saga_oldest_active_age_seconds",
            "Age of the oldest active saga at the last sweep.",
            Unit::Seconds,
        )?;
        let rejected = counter(
            "saga_events_rejected_total",
            "Saga events refused, by reason.",
            &["saga", "reason"],
        )?;
        let sweepers = gauge(
            "saga_sweeper_running",
            "Background sweeper threads running (0 after a sweeper stopped or panicked).",
            Unit::Count,
        )?;

        let per = |family: &crate::Family<Counter>, values: &[String]| -> Box<[Counter]> {
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
        })
    }
}

/// Classic buckets of `saga_duration_seconds`: powers of two from 2^-7 s (7.8 ms) to 2^12 s
/// (68 min), exact layout bounds; a saga spans more than one call, so its range starts and ends
/// higher than the default's (122 µs – 64 s), which the step durations keep.
fn saga_buckets() -> Buckets {
    let bounds: Vec<f64> = (-7..=12).map(|e| 2f64.powi(e)).collect();
    Buckets::from_values(Unit::Seconds, &bounds)
}
