//! `RegistryError`: what can go wrong at registration, and how to fix it.

/// Why a registration was refused. Each message says what to change.
///
/// ```
/// use perf_instrument::{Registry, RegistryError};
/// let registry = Registry::new();
/// let err = registry.counter("bad-name", "Dashes are not allowed.").unwrap_err();
/// assert!(matches!(err, RegistryError::InvalidMetricName { .. }));
/// assert!(err.to_string().contains("bad-name"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The metric name breaks the Prometheus naming rules.
    #[error("invalid metric name {name:?}: {reason}")]
    InvalidMetricName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A label name breaks the Prometheus naming rules or is reserved or repeated.
    #[error("invalid label name {label:?} on metric {metric:?}: {reason}")]
    InvalidLabelName {
        /// The metric the label belongs to.
        metric: String,
        /// The offending label name.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The name does not end with the unit's suffix (`_seconds`, `_bytes`).
    #[error(
        "metric {name:?} has unit {suffix} but its name does not end with \"_{suffix}\"; \
         rename it (Prometheus names carry their unit)"
    )]
    MissingUnitSuffix {
        /// The metric name.
        name: String,
        /// The suffix it must end with.
        suffix: &'static str,
    },
    /// The name ends with a suffix that exposition gives the samples of another type: `_total`
    /// on a gauge or histogram, `_bucket`, `_count` or `_sum` on a counter or gauge, `_created`
    /// on any family (a counter's name is checked without its `_total`).
    #[error(
        "metric {name:?} is a {kind} but its name ends with {suffix:?}, a suffix exposition \
         reserves for the samples of counters (`_total`, `_created`) and histograms (`_bucket`, \
         `_count`, `_sum`, `_created`); rename it"
    )]
    ReservedSuffix {
        /// The metric name (for a counter, without `_total`).
        name: String,
        /// The type it was registered as.
        kind: &'static str,
        /// The reserved suffix it ends with.
        suffix: &'static str,
    },
    /// A family of this name exists with a different type, unit, label names or buckets.
    #[error(
        "metric {name:?} is already registered as {existing}; cannot register it again as \
         {requested} (use another name, or the same type, unit, labels and buckets)"
    )]
    ShapeMismatch {
        /// The metric name.
        name: String,
        /// The existing family's shape.
        existing: String,
        /// The shape that was asked for.
        requested: String,
    },
    /// One of the family's series names (`_total`, `_bucket`, `_count`, `_sum`, `_created`)
    /// is already a series name of another family.
    #[error(
        "metric {name:?} would expose the series {series:?}, which metric {existing:?} \
         already exposes; choose another name"
    )]
    NameCollision {
        /// The metric being registered.
        name: String,
        /// The series name both would expose.
        series: String,
        /// The family that already exposes it.
        existing: String,
    },
    /// A histogram family asked for a native schema outside `0..=8`.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry, RegistryError};
    /// let err = Registry::new().register_histogram(Opts::new("x", "X.").schema(-5)).unwrap_err();
    /// assert_eq!(err, RegistryError::InvalidSchema { name: "x".into(), schema: -5 });
    /// ```
    #[error(
        "histogram {name:?} asks for native schema {schema}; use a schema from 0 (coarsest) to \
         8 (finest)"
    )]
    InvalidSchema {
        /// The metric name.
        name: String,
        /// The schema asked for.
        schema: i32,
    },
    /// A handle was asked for with the wrong number of label values.
    #[error("metric {name:?} has {expected} label(s) but {given} value(s) were given")]
    LabelCount {
        /// The metric name.
        name: String,
        /// Label names the family has.
        expected: usize,
        /// Label values given.
        given: usize,
    },
    /// A builder setting was zero where zero would make the instrument useless (a zero
    /// capacity keeps nothing, a zero timeout or period fires on every look). The rule for
    /// every instrument: such a setting is refused at build, never clamped.
    ///
    /// ```
    /// use perf_instrument::{PendingTracker, Registry, RegistryError};
    /// let err = PendingTracker::<u64>::builder("r").max_pending(0).build(&Registry::new()).unwrap_err();
    /// assert_eq!(err, RegistryError::ZeroSetting { setting: "max_pending" });
    /// ```
    #[error("{setting} is zero, which would make the instrument useless; pass a positive value")]
    ZeroSetting {
        /// The setter's name (`max_pending`, `timeout`, `capacity`, `max_remote_age`,
        /// `watchdog`, `period`).
        setting: &'static str,
    },
    /// A pipeline stage timed two ways: by a `Pipeline` that declares it and by a
    /// `#[timed(pipeline, stage)]` function. Both would record every event into the same series,
    /// so the second to register is refused.
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry, RegistryError};
    /// let registry = Registry::new();
    /// // A `#[timed(pipeline = "orders", stage = "persist")]` function ran first:
    /// # perf_instrument::__private::claim_stage_for_function(&registry, "orders", "persist", "persist_order").unwrap();
    /// let err = Pipeline::builder("orders").stages(["persist"]).build(&registry).unwrap_err();
    /// assert!(matches!(err, RegistryError::StageTimedTwice { .. }));
    /// ```
    #[error(
        "stage {stage:?} of pipeline {pipeline:?} is already timed by {by}; time it once \
         (either declare it in the Pipeline, or with #[timed(pipeline, stage)], not both)"
    )]
    StageTimedTwice {
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// What times it already (`the Pipeline "orders"`, `#[timed] fn persist_order`).
        by: String,
    },
    /// A setting names a stage the pipeline does not declare (`workers`, `input_queue`).
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry, RegistryError};
    /// let err = Pipeline::builder("orders").stages(["persist"]).workers("parse", 2)
    ///     .build(&Registry::new()).unwrap_err();
    /// assert!(matches!(err, RegistryError::UnknownStage { .. }));
    /// ```
    #[error(
        "stage {stage:?} is not a stage of pipeline {pipeline:?}; declare it in `stages` first"
    )]
    UnknownStage {
        /// The pipeline.
        pipeline: String,
        /// The stage named.
        stage: String,
    },
}
