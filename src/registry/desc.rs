//! What a metric family is: `Opts` as the user writes them, `Descriptor` once validated, and
//! the classic `Buckets` a histogram family exports.

use super::name::{check_label_names, check_metric_name, check_reserved_suffix};
use super::{RegistryError, TableSpec};
use crate::clock::TIME_UNITS_PER_SECOND;
use crate::recorder::layout;
use crate::recorder::{Schema, Unit};
use std::fmt;
use std::sync::Arc;

/// Default cap on the number of series (label-value sets) in one family.
///
/// ```
/// use perf_instrument::{Descriptor, MetricKind, Opts, DEFAULT_MAX_SERIES};
/// let d = Descriptor::new(MetricKind::Counter, Opts::new("jobs", "Jobs.")).unwrap();
/// assert_eq!(d.max_series(), DEFAULT_MAX_SERIES);
/// ```
pub const DEFAULT_MAX_SERIES: usize = 1_000;

/// Default byte budget of one label value (2 KiB). A lookup with a longer value gets the
/// family's overflow series and is counted as an overflow lookup, so a caller-controlled value
/// can neither grow memory nor bloat a scrape.
///
/// ```
/// use perf_instrument::{Opts, Registry, DEFAULT_MAX_LABEL_VALUE_BYTES};
/// let registry = Registry::new();
/// let hits = registry.register_counter(Opts::new("hits", "Hits.").labels(["path"])).unwrap();
/// hits.with_label_values(&[&"x".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES + 1)]).inc();
/// assert_eq!(hits.overflow_count(), 1);
/// ```
pub const DEFAULT_MAX_LABEL_VALUE_BYTES: usize = 2048;

/// The type of a metric family.
///
/// ```
/// assert_eq!(perf_instrument::MetricKind::Counter.name(), "counter");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only goes up; exported with a `_total` suffix.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, count and sum of observations.
    Histogram,
}

impl MetricKind {
    /// The exposition type name: `counter`, `gauge` or `histogram`.
    ///
    /// ```
    /// assert_eq!(perf_instrument::MetricKind::Histogram.name(), "histogram");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// The classic `le` boundaries a histogram family exports, besides its full bucket layout.
///
/// Every boundary is a bound of the family's bucket layout, so each exported bucket count is
/// *exactly* the number of observations at or below the printed `le`. Boundaries given in the
/// base unit ([`Buckets::from_values`]) are moved up to the nearest bound of the default schema
/// (at most 9.05% higher); for example 0.005 s becomes `le="0.005156..."`. A family of a
/// coarser schema moves them up again to its own bounds when it is registered (at schema 0, to
/// the next power of two); bounds of schema 3 are bounds of every finer schema. `+Inf` is
/// always exported.
///
/// ```
/// use perf_instrument::{Buckets, Unit};
/// let b = Buckets::from_values(Unit::Seconds, &[0.5, 1.0, 2.0]);
/// assert_eq!(b.upper_bounds(Unit::Seconds), vec![0.5, 1.0, 2.0]); // powers of two are exact
/// let snapped = Buckets::from_values(Unit::Count, &[10.0]);
/// assert_eq!(snapped.upper_bounds(Unit::Count), vec![10.0]); // small integers too
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Buckets {
    /// Stored-integer upper bounds, ascending, each the top of a layout bucket.
    bounds: Vec<u64>,
}

impl Buckets {
    /// The default for `unit`: for seconds, two per octave (bounds of native schema 1, each
    /// √2 above the last) from 2^-20 s (0.95 µs) to 64 s (53 buckets); for bytes, powers of four
    /// from 64 B to 1 GiB (13); for counts, powers of two from 1 to 65,536 (17).
    ///
    /// Durations get the denser default because `histogram_quantile` interpolates linearly
    /// inside a bucket: over powers of two a classic p99 came out up to 26% above the recorded
    /// one in the example service, over √2 steps within 5% of what finer buckets give (see
    /// the README, "Classic or native"). A family that needs fewer lines per series gives its
    /// own ([`Opts::buckets`], or `.buckets(..)` on an instrument's builder).
    ///
    /// ```
    /// use perf_instrument::{Buckets, Unit};
    /// let b = Buckets::default_for(Unit::Seconds).upper_bounds(Unit::Seconds);
    /// assert_eq!((b.len(), b[0], b[52]), (53, 1.0 / 1_048_576.0, 64.0));
    /// assert!((b[1] / b[0] - 2f64.sqrt()).abs() < 1e-3);
    /// ```
    #[must_use]
    pub fn default_for(unit: Unit) -> Self {
        let bounds = match unit {
            // 2^30 stored units per second: 2^-20 s is 2^10 and 64 s is 2^36.
            Unit::Seconds => return Self::half_octaves(10, 36),
            Unit::Bytes => (3..=15).map(|e| 1u64 << (2 * e)).collect(),
            Unit::Count => (0..=16).map(|e| 1u64 << e).collect(),
        };
        Self { bounds }
    }

    /// Bounds of native schema 1 (two per octave, each √2 above the last) from the stored
    /// value 2^`lo` to 2^`hi`; a bound of schema 1 is a bound of schema 3, so each is exact.
    pub(crate) fn half_octaves(lo: u32, hi: u32) -> Self {
        let mut bounds: Vec<u64> = (2 * lo..=2 * hi)
            .map(|half| {
                // Within the layout's range (which the loom build narrows), duplicates merged.
                let octave = (1u64 << (half / 2)).min(layout::MAX_VALUE);
                if half % 2 == 0 {
                    octave
                } else {
                    // The schema-3 bucket holding 2^(half/2) truncated ends at that bound.
                    let inside =
                        ((octave as f64 * std::f64::consts::SQRT_2) as u64).min(layout::MAX_VALUE);
                    layout::slot_range(layout::slot(inside, Schema::DEFAULT), Schema::DEFAULT).1
                }
            })
            .collect();
        bounds.dedup();
        Self { bounds }
    }

    /// Boundaries in the base unit (seconds, bytes, items), each moved up to the nearest layout
    /// bound. Negative, NaN and infinite values are dropped; duplicates after snapping merge.
    ///
    /// ```
    /// use perf_instrument::{Buckets, Unit};
    /// let b = Buckets::from_values(Unit::Count, &[100.0, f64::NAN, -1.0, 100.0]);
    /// let le = b.upper_bounds(Unit::Count);
    /// assert_eq!(le.len(), 1);
    /// assert!(le[0] >= 100.0 && le[0] <= 100.0 * 1.0906);
    /// ```
    #[must_use]
    pub fn from_values(unit: Unit, values: &[f64]) -> Self {
        let scale = match unit {
            Unit::Seconds => TIME_UNITS_PER_SECOND as f64,
            Unit::Bytes | Unit::Count => 1.0,
        };
        let mut bounds: Vec<u64> = values
            .iter()
            .filter(|v| v.is_finite() && **v >= 0.0)
            .map(|v| {
                let stored = (v * scale).ceil().min(layout::MAX_VALUE as f64) as u64;
                layout::slot_range(layout::slot(stored, Schema::DEFAULT), Schema::DEFAULT).1
            })
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        Self { bounds }
    }

    /// No classic boundaries: only the `+Inf` bucket (the native layout still has them all).
    ///
    /// ```
    /// use perf_instrument::{Buckets, Unit};
    /// assert!(Buckets::none().upper_bounds(Unit::Count).is_empty());
    /// ```
    #[must_use]
    pub fn none() -> Self {
        Self { bounds: Vec::new() }
    }

    /// The upper bounds in the base unit, ascending (without `+Inf`).
    ///
    /// ```
    /// use perf_instrument::{Buckets, Unit};
    /// let b = Buckets::default_for(Unit::Count).upper_bounds(Unit::Count);
    /// assert_eq!(&b[..3], &[1.0, 2.0, 4.0]);
    /// ```
    #[must_use]
    pub fn upper_bounds(&self, unit: Unit) -> Vec<f64> {
        self.bounds.iter().map(|&b| to_base(unit, b)).collect()
    }

    /// The upper bounds as stored integers.
    pub(crate) fn stored(&self) -> &[u64] {
        &self.bounds
    }

    /// The bounds moved up to bounds of `schema` (a no-op at the default schema or finer).
    fn at_schema(mut self, schema: Schema) -> Self {
        for b in &mut self.bounds {
            *b = layout::slot_range(layout::slot((*b).min(layout::MAX_VALUE), schema), schema).1;
        }
        self.bounds.dedup();
        self
    }
}

pub(crate) fn to_base(unit: Unit, stored: u64) -> f64 {
    match unit {
        Unit::Seconds => stored as f64 / TIME_UNITS_PER_SECOND as f64,
        Unit::Bytes | Unit::Count => stored as f64,
    }
}

/// How to register a metric family: name, help, and optionally unit, label names, classic
/// buckets and a cap on series.
///
/// The name carries the unit (`_seconds`, `_bytes`), as Prometheus names do; a counter's name is
/// given without `_total` (a trailing `_total` is dropped), which exposition adds. Gauges and
/// histograms may not end with another type's sample suffix: `_total` on either, `_bucket`,
/// `_count`, `_sum` and `_created` on a gauge, `_created` on a histogram. Counters are exempt,
/// since every counter sample is exported as `<name>_total`.
///
/// ```
/// use perf_instrument::{Buckets, Opts, Registry, Unit};
/// let registry = Registry::new();
/// let stages = registry
///     .register_histogram(
///         Opts::new("pipeline_stage_duration_seconds", "Time spent in each pipeline stage.")
///             .unit(Unit::Seconds)
///             .labels(["pipeline", "stage"])
///             .buckets(Buckets::from_values(Unit::Seconds, &[0.001, 0.01, 0.1, 1.0]))
///             .max_series(100),
///     )
///     .unwrap();
/// stages.with_label_values(&["orders", "enrich"]).record(1_500_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Opts {
    name: String,
    help: String,
    unit: Unit,
    labels: Vec<String>,
    buckets: Option<Buckets>,
    schema: i32,
    max_series: usize,
    max_label_value_bytes: usize,
    report_table: Option<TableSpec>,
    facade: bool,
}

impl Opts {
    /// A family `name` described by `help`, dimensionless, without labels.
    ///
    /// ```
    /// let opts = perf_instrument::Opts::new("jobs_done", "Jobs finished.");
    /// assert_eq!(opts.name(), "jobs_done");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            unit: Unit::Count,
            labels: Vec::new(),
            buckets: None,
            schema: Schema::DEFAULT.get(),
            max_series: DEFAULT_MAX_SERIES,
            max_label_value_bytes: DEFAULT_MAX_LABEL_VALUE_BYTES,
            report_table: None,
            facade: false,
        }
    }

    /// The same options under another name.
    pub(crate) fn renamed(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    /// Marks a family created by the `metrics` facade recorder: it never shares a name with a
    /// family registered in code (an instrument's or the service's own), whatever its shape.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub(crate) fn facade(mut self) -> Self {
        self.facade = true;
        self
    }

    /// The unit; the name must end with its suffix. For counters and gauges in seconds the
    /// recorded integers are nanoseconds, exported as seconds.
    ///
    /// ```
    /// use perf_instrument::{Opts, Unit};
    /// let opts = Opts::new("queue_wait_seconds", "Wait.").unit(Unit::Seconds);
    /// assert_eq!(opts.unit_of(), Unit::Seconds);
    /// ```
    #[must_use]
    pub fn unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// The label names (values are given per series).
    ///
    /// ```
    /// let opts = perf_instrument::Opts::new("x", "X.").labels(["queue"]);
    /// assert_eq!(opts.label_names(), ["queue"]);
    /// ```
    #[must_use]
    pub fn labels<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels = names.into_iter().map(Into::into).collect();
        self
    }

    /// Classic `le` boundaries for a histogram (default: [`Buckets::default_for`] the unit).
    ///
    /// ```
    /// use perf_instrument::{Buckets, Opts, Unit};
    /// let opts = Opts::new("batch_size", "Items per batch.").buckets(Buckets::none());
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn buckets(mut self, buckets: Buckets) -> Self {
        self.buckets = Some(buckets);
        self
    }

    /// The native schema of a histogram family's series, 0 to 8 (default 3): `2^schema`
    /// buckets per power of two, values reported within [`Schema::relative_error`] (schema 8:
    /// 0.135%; schema 0: 33%). Outside `0..=8`, registration fails with
    /// [`RegistryError::InvalidSchema`]. Counters and gauges ignore it.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry, Schema, Unit};
    /// let registry = Registry::new();
    /// let latency = registry
    ///     .register_histogram(Opts::new("commit_seconds", "Commit.").unit(Unit::Seconds).schema(8))
    ///     .unwrap();
    /// assert_eq!(latency.descriptor().schema(), Schema::MAX);
    /// assert!(registry.register_histogram(Opts::new("bad", "B.").schema(9)).is_err());
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: i32) -> Self {
        self.schema = schema;
        self
    }

    /// The native schema asked for (not yet validated).
    ///
    /// ```
    /// assert_eq!(perf_instrument::Opts::new("a", "A.").schema_of(), perf_instrument::SCHEMA);
    /// ```
    #[must_use]
    pub fn schema_of(&self) -> i32 {
        self.schema
    }

    /// Most series (label-value sets) the family holds (default 1,000, at least 1); further
    /// ones fold into one overflow series, counted in
    /// `perf_instrument_series_overflow_total{family}`.
    ///
    /// ```
    /// let opts = perf_instrument::Opts::new("x", "X.").max_series(10);
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max.max(1);
        self
    }

    /// Byte budget of one label value (default [`DEFAULT_MAX_LABEL_VALUE_BYTES`], at least 1):
    /// a lookup with a longer value gets the overflow series, counted in
    /// `perf_instrument_series_overflow_total{family}`.
    ///
    /// ```
    /// let opts = perf_instrument::Opts::new("x", "X.").labels(["id"]).max_label_value_bytes(64);
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn max_label_value_bytes(mut self, max: usize) -> Self {
        self.max_label_value_bytes = max.max(1);
        self
    }

    /// The table the [`Report`](crate::Report) puts this family's series in (histograms only;
    /// see [`TableSpec`]). Without one, the family is in no table.
    ///
    /// ```
    /// use perf_instrument::{Opts, TableSpec};
    /// let opts = Opts::new("job_seconds", "J.").report_table(TableSpec::new("jobs", "{job}"));
    /// assert_eq!(opts.table_spec().map(|s| s.title()), Some("jobs"));
    /// ```
    #[must_use]
    pub fn report_table(mut self, spec: TableSpec) -> Self {
        self.report_table = Some(spec);
        self
    }

    /// The report table, if any.
    ///
    /// ```
    /// assert!(perf_instrument::Opts::new("a", "A.").table_spec().is_none());
    /// ```
    #[must_use]
    pub fn table_spec(&self) -> Option<&TableSpec> {
        self.report_table.as_ref()
    }

    /// The name as given.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Opts::new("a", "A.").name(), "a");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The unit.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Opts::new("a", "A.").unit_of(), perf_instrument::Unit::Count);
    /// ```
    #[must_use]
    pub fn unit_of(&self) -> Unit {
        self.unit
    }

    /// The label names.
    ///
    /// ```
    /// assert!(perf_instrument::Opts::new("a", "A.").label_names().is_empty());
    /// ```
    #[must_use]
    pub fn label_names(&self) -> &[String] {
        &self.labels
    }
}

/// A validated family description, as the registry and exposition see it.
///
/// ```
/// use perf_instrument::{Descriptor, MetricKind, Opts, Unit};
/// let d = Descriptor::new(MetricKind::Counter, Opts::new("requests_total", "Requests.")).unwrap();
/// assert_eq!(d.name(), "requests"); // `_total` belongs to the exposition
/// assert_eq!(d.kind(), MetricKind::Counter);
/// assert!(Descriptor::new(MetricKind::Gauge, Opts::new("wait", "W.").unit(Unit::Seconds)).is_err());
/// ```
#[derive(Clone, PartialEq)]
pub struct Descriptor {
    name: String,
    help: String,
    unit: Unit,
    kind: MetricKind,
    label_names: Arc<[String]>,
    buckets: Buckets,
    schema: Schema,
    max_series: usize,
    max_label_value_bytes: usize,
    report_table: Option<TableSpec>,
    facade: bool,
}

impl Descriptor {
    /// Validates `opts` for a family of `kind`: name and label rules, unit suffix, and no suffix
    /// of another type's samples on a gauge or histogram (a gauge `queue_total` or `rpc_count`,
    /// a histogram `…_created`).
    ///
    /// # Errors
    ///
    /// [`RegistryError`] saying which rule the name or a label breaks.
    ///
    /// ```
    /// use perf_instrument::{Descriptor, MetricKind, Opts};
    /// assert!(Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.").labels(["le"])).is_err());
    /// assert!(Descriptor::new(MetricKind::Gauge, Opts::new("depth_total", "D.")).is_err());
    /// assert!(Descriptor::new(MetricKind::Counter, Opts::new("jobs_total", "J.")).is_ok());
    /// ```
    pub fn new(kind: MetricKind, opts: Opts) -> Result<Self, RegistryError> {
        let mut name = opts.name;
        if kind == MetricKind::Counter {
            if let Some(base) = name.strip_suffix("_total") {
                name = base.to_string();
            }
        }
        check_metric_name(&name)?;
        check_reserved_suffix(&name, kind)?;
        if let Some(suffix) = opts.unit.suffix() {
            if !name.ends_with(&format!("_{suffix}")) {
                return Err(RegistryError::MissingUnitSuffix { name, suffix });
            }
        }
        check_label_names(&name, opts.labels.iter().map(String::as_str), &[])?;
        let schema = match (kind, Schema::new(opts.schema)) {
            (MetricKind::Histogram, Some(schema)) => schema,
            (MetricKind::Histogram, None) => {
                return Err(RegistryError::InvalidSchema {
                    name,
                    schema: opts.schema,
                })
            }
            (MetricKind::Counter | MetricKind::Gauge, _) => Schema::DEFAULT,
        };
        let buckets = match kind {
            MetricKind::Histogram => opts
                .buckets
                .unwrap_or_else(|| Buckets::default_for(opts.unit))
                .at_schema(schema),
            MetricKind::Counter | MetricKind::Gauge => Buckets::none(),
        };
        Ok(Self {
            name,
            help: opts.help,
            unit: opts.unit,
            kind,
            label_names: opts.labels.into(),
            buckets,
            schema,
            max_series: opts.max_series,
            max_label_value_bytes: opts.max_label_value_bytes,
            report_table: opts.report_table,
            facade: opts.facade,
        })
    }

    /// The family name (for counters, without `_total`).
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.")).unwrap();
    /// assert_eq!(d.name(), "depth");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The help text, unescaped.
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "Queue depth.")).unwrap();
    /// assert_eq!(d.help(), "Queue depth.");
    /// ```
    #[must_use]
    pub fn help(&self) -> &str {
        &self.help
    }

    /// The unit.
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts, Unit};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.")).unwrap();
    /// assert_eq!(d.unit(), Unit::Count);
    /// ```
    #[must_use]
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The type.
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.")).unwrap();
    /// assert_eq!(d.kind(), MetricKind::Gauge);
    /// ```
    #[must_use]
    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The label names, in the order values are given.
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.").labels(["queue"])).unwrap();
    /// assert_eq!(d.label_names(), ["queue"]);
    /// ```
    #[must_use]
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// The classic buckets exported (empty for counters and gauges).
    ///
    /// ```
    /// # use perf_instrument::{Buckets, Descriptor, MetricKind, Opts, Unit};
    /// let d = Descriptor::new(MetricKind::Histogram, Opts::new("size_bytes", "S.").unit(Unit::Bytes)).unwrap();
    /// assert_eq!(d.buckets(), &Buckets::default_for(Unit::Bytes));
    /// ```
    #[must_use]
    pub fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// The cap on series.
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.").max_series(5)).unwrap();
    /// assert_eq!(d.max_series(), 5);
    /// ```
    #[must_use]
    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// The byte budget of one label value (see [`Opts::max_label_value_bytes`]).
    ///
    /// ```
    /// # use perf_instrument::{Descriptor, MetricKind, Opts, DEFAULT_MAX_LABEL_VALUE_BYTES};
    /// let d = Descriptor::new(MetricKind::Gauge, Opts::new("depth", "D.")).unwrap();
    /// assert_eq!(d.max_label_value_bytes(), DEFAULT_MAX_LABEL_VALUE_BYTES);
    /// ```
    #[must_use]
    pub fn max_label_value_bytes(&self) -> usize {
        self.max_label_value_bytes
    }

    /// The table the report puts this family's series in, if any (see [`Opts::report_table`]).
    ///
    /// ```
    /// use perf_instrument::{Descriptor, MetricKind, Opts, TableSpec};
    /// let opts = Opts::new("job", "J.").report_table(TableSpec::new("jobs", "{job}"));
    /// let d = Descriptor::new(MetricKind::Histogram, opts).unwrap();
    /// assert_eq!(d.report_table().map(TableSpec::title), Some("jobs"));
    /// ```
    #[must_use]
    pub fn report_table(&self) -> Option<&TableSpec> {
        self.report_table.as_ref()
    }

    /// The sample names this family exposes (to detect collisions between families).
    pub(crate) fn sample_names(&self) -> Vec<String> {
        let n = &self.name;
        match self.kind {
            MetricKind::Counter => vec![format!("{n}_total"), format!("{n}_created"), n.clone()],
            MetricKind::Gauge => vec![n.clone()],
            MetricKind::Histogram => vec![
                n.clone(),
                format!("{n}_bucket"),
                format!("{n}_count"),
                format!("{n}_sum"),
                format!("{n}_created"),
            ],
        }
    }

    /// Same type, unit, labels and buckets (help and series cap may differ).
    pub(crate) fn same_shape(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.unit == other.unit
            && self.label_names == other.label_names
            && self.buckets == other.buckets
            && self.facade == other.facade
            && self.schema == other.schema
    }

    pub(crate) fn shape(&self) -> String {
        format!(
            "a {} in {:?} with labels {:?}, {} classic buckets and schema {}, {}",
            self.kind.name(),
            self.unit,
            self.label_names,
            self.buckets.bounds.len(),
            self.schema,
            if self.facade {
                "created through the metrics facade"
            } else {
                "registered in code"
            }
        )
    }

    /// The native schema of the family's histograms ([`Schema::DEFAULT`] for counters and
    /// gauges).
    ///
    /// ```
    /// use perf_instrument::{Descriptor, MetricKind, Opts, Schema};
    /// let d = Descriptor::new(MetricKind::Histogram, Opts::new("sizes", "S.").schema(0)).unwrap();
    /// assert_eq!(d.schema(), Schema::MIN);
    /// ```
    #[must_use]
    pub fn schema(&self) -> Schema {
        self.schema
    }
}

impl fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Descriptor")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("unit", &self.unit)
            .field("labels", &self.label_names)
            .field("schema", &self.schema)
            .finish()
    }
}
