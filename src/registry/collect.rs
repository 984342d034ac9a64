//! What a scrape sees: `FamilySnapshot`s of `SeriesSnapshot`s, and the `Collector` trait that
//! produces families computed at scrape time.

use super::desc::Descriptor;
use super::label_values::LabelValues;
use crate::recorder::{Exemplar, HistogramSnapshot};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The value of one series at scrape time, in the family's base unit.
///
/// ```
/// use perf_instrument::SeriesValue;
/// let v = SeriesValue::Float(0.25);
/// assert!(matches!(v, SeriesValue::Float(_)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum SeriesValue {
    /// An unsigned integer (counters).
    Unsigned(u64),
    /// A signed integer (gauges).
    Signed(i64),
    /// A float (values in seconds, process CPU time).
    Float(f64),
    /// A histogram.
    Histogram(HistogramSnapshot),
}

/// One series of a family at scrape time.
///
/// ```
/// use perf_instrument::{SeriesSnapshot, SeriesValue};
/// let s = SeriesSnapshot::new(vec!["orders".to_string()], SeriesValue::Signed(3));
/// assert_eq!(s.label_values, ["orders"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSnapshot {
    /// Values of the family's labels, in the descriptor's order (a copy of the family's: short
    /// sets are stored in place, long ones shared).
    pub label_values: LabelValues,
    /// The value.
    pub value: SeriesValue,
    /// When the series was created, in seconds since the Unix epoch (OpenMetrics `_created`).
    pub created: Option<f64>,
    /// Exemplars of the series, values in the family's base unit: a counter's last one, a
    /// histogram's by value (each exported on the classic bucket that holds its value).
    pub exemplars: Vec<Exemplar>,
}

impl SeriesSnapshot {
    /// A series without a creation time.
    ///
    /// ```
    /// use perf_instrument::{SeriesSnapshot, SeriesValue};
    /// assert!(SeriesSnapshot::new(Vec::new(), SeriesValue::Unsigned(1)).created.is_none());
    /// ```
    #[must_use]
    pub fn new(label_values: impl Into<LabelValues>, value: SeriesValue) -> Self {
        Self {
            label_values: label_values.into(),
            value,
            created: None,
            exemplars: Vec::new(),
        }
    }
}

/// One family at scrape time.
///
/// ```
/// use perf_instrument::{Descriptor, FamilySnapshot, MetricKind, Opts};
/// use std::sync::Arc;
/// let desc = Arc::new(Descriptor::new(MetricKind::Gauge, Opts::new("up", "Up.")).unwrap());
/// let family = FamilySnapshot { desc, series: vec![] };
/// assert_eq!(family.desc.name(), "up");
/// ```
#[derive(Clone, Debug)]
pub struct FamilySnapshot {
    /// The family's description.
    pub desc: Arc<Descriptor>,
    /// Its series.
    pub series: Vec<SeriesSnapshot>,
}

/// A source of families computed at scrape time (process statistics, ages of pending items).
///
/// [`describe`](Collector::describe) is called once at registration, so the names are validated
/// and checked for collisions then; [`collect`](Collector::collect) runs on every scrape and must
/// only emit families it described. Families it did not describe, and series whose label count
/// or value type does not match their descriptor, are left out of the exposition.
///
/// ```
/// use perf_instrument::{Collector, Descriptor, FamilySnapshot, MetricKind, Opts, Registry,
///     SeriesSnapshot, SeriesValue};
/// use std::sync::Arc;
///
/// struct Temperature(Arc<Descriptor>);
/// impl Collector for Temperature {
///     fn describe(&self) -> Vec<Arc<Descriptor>> { vec![self.0.clone()] }
///     fn collect(&self, out: &mut Vec<FamilySnapshot>) {
///         out.push(FamilySnapshot {
///             desc: self.0.clone(),
///             series: vec![SeriesSnapshot::new(vec![], SeriesValue::Float(21.5))],
///         });
///     }
/// }
///
/// let registry = Registry::new();
/// let desc = Descriptor::new(MetricKind::Gauge, Opts::new("room_celsius", "Room temperature."));
/// registry.register_collector(Arc::new(Temperature(Arc::new(desc.unwrap())))).unwrap();
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// assert!(text.contains("room_celsius 21.5"));
/// ```
pub trait Collector: Send + Sync {
    /// The families this collector emits.
    fn describe(&self) -> Vec<Arc<Descriptor>>;
    /// Appends the current state of the described families.
    fn collect(&self, out: &mut Vec<FamilySnapshot>);
}

/// Every family of a registry at one moment, for reports and comparisons over a window.
///
/// ```
/// use perf_instrument::Registry;
/// let registry = Registry::new();
/// let jobs = registry.counter("jobs", "Jobs.").unwrap();
/// let before = registry.snapshot();
/// jobs.inc_by(5);
/// let after = registry.snapshot();
/// let value = |s: &perf_instrument::RegistrySnapshot| s.family("jobs").unwrap().series[0].value.clone();
/// assert_eq!(value(&before), perf_instrument::SeriesValue::Unsigned(0));
/// assert_eq!(value(&after), perf_instrument::SeriesValue::Unsigned(5));
/// assert!(after.taken_at() >= before.taken_at());
/// ```
#[derive(Clone, Debug)]
pub struct RegistrySnapshot {
    /// The registry's namespace prefix (`billing_`), or empty.
    pub(crate) namespace: String,
    pub(crate) families: Vec<FamilySnapshot>,
    pub(crate) taken_at: Instant,
    pub(crate) wall: SystemTime,
}

impl RegistrySnapshot {
    /// The families, in registration order.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// assert!(registry.snapshot().families().is_empty());
    /// ```
    #[must_use]
    pub fn families(&self) -> &[FamilySnapshot] {
        &self.families
    }

    /// The family called `name` (for counters, without `_total`).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// registry.gauge("depth", "D.").unwrap();
    /// assert!(registry.snapshot().family("depth").is_some());
    /// ```
    #[must_use]
    pub fn family(&self, name: &str) -> Option<&FamilySnapshot> {
        self.families.iter().find(|f| f.desc.name() == name)
    }

    /// The family `name` under the registry's namespace, or `name` itself: how the report
    /// finds an instrument's family whatever the namespace.
    pub(crate) fn family_in_namespace(&self, name: &str) -> Option<&FamilySnapshot> {
        if !self.namespace.is_empty() {
            let full = format!("{}{name}", self.namespace);
            if let Some(f) = self.family(&full) {
                return Some(f);
            }
        }
        self.family(name)
    }

    /// When it was taken (monotonic).
    ///
    /// ```
    /// let s = perf_instrument::Registry::new().snapshot();
    /// assert!(s.taken_at() <= std::time::Instant::now());
    /// ```
    #[must_use]
    pub fn taken_at(&self) -> Instant {
        self.taken_at
    }

    /// When it was taken (wall clock).
    ///
    /// ```
    /// let s = perf_instrument::Registry::new().snapshot();
    /// assert!(s.wall_time() <= std::time::SystemTime::now());
    /// ```
    #[must_use]
    pub fn wall_time(&self) -> SystemTime {
        self.wall
    }

    /// The first series of family `name` whose labels include every `(label, value)` pair of
    /// `labels` (an empty slice matches the first series): the lookup a test of a service's
    /// instrumentation asks for.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let jobs = registry
    ///     .register_counter(perf_instrument::Opts::new("jobs", "Jobs.").labels(["queue", "kind"]))
    ///     .unwrap();
    /// jobs.with_label_values(&["ingest", "bulk"]).inc_by(3);
    /// let snapshot = registry.snapshot();
    /// let series = snapshot.series("jobs", &[("kind", "bulk")]).unwrap();
    /// assert_eq!(series.label_values, ["ingest", "bulk"]);
    /// assert!(snapshot.series("jobs", &[("kind", "other")]).is_none());
    /// ```
    #[must_use]
    pub fn series(&self, name: &str, labels: &[(&str, &str)]) -> Option<&SeriesSnapshot> {
        let family = self.family(name)?;
        let names = family.desc.label_names();
        let position = |label: &str| names.iter().position(|n| n == label);
        family.series.iter().find(|series| {
            labels.iter().all(|(label, value)| {
                position(label).is_some_and(|i| series.label_values.get(i) == Some(*value))
            })
        })
    }

    /// The value of a counter or gauge series (see [`series`](Self::series)) as a float in
    /// the family's base unit; `None` for a histogram or when no series matches.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let depth = registry
    ///     .register_gauge(perf_instrument::Opts::new("depth", "Depth.").labels(["queue"]))
    ///     .unwrap();
    /// depth.with_label_values(&["ingest"]).set(-2);
    /// assert_eq!(registry.snapshot().value("depth", &[("queue", "ingest")]), Some(-2.0));
    /// ```
    #[must_use]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match &self.series(name, labels)?.value {
            SeriesValue::Unsigned(v) => Some(*v as f64),
            SeriesValue::Signed(v) => Some(*v as f64),
            SeriesValue::Float(v) => Some(*v),
            SeriesValue::Histogram(_) => None,
        }
    }

    /// The snapshot of a histogram series (see [`series`](Self::series)); `None` for other
    /// kinds or when no series matches.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let sizes = registry
    ///     .register_histogram(perf_instrument::Opts::new("batch_size", "Items.").labels(["batch"]))
    ///     .unwrap();
    /// sizes.with_label_values(&["wal"]).record(32);
    /// let snapshot = registry.snapshot();
    /// assert_eq!(snapshot.histogram("batch_size", &[("batch", "wal")]).unwrap().count(), 1);
    /// ```
    #[must_use]
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<&HistogramSnapshot> {
        match &self.series(name, labels)?.value {
            SeriesValue::Histogram(h) => Some(h),
            _ => None,
        }
    }
}
