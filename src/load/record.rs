//! The run record: one versioned JSON document per run, the input of comparisons and gates.
//! The schema is documented in `docs/RUN_RECORD.md`.

use crate::recorder::{HistogramSnapshot, Schema, Unit};
use crate::registry::{MetricKind, RegistrySnapshot, SeriesValue};
use crate::report::Machine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The value of a run record's `format` field.
pub const RECORD_FORMAT: &str = "perf-instrument-run-record";

/// The schema version this crate writes and reads.
///
/// ```
/// assert_eq!(perf_instrument::load::SCHEMA_VERSION, 1);
/// ```
pub const SCHEMA_VERSION: u32 = 1;

/// A histogram kept losslessly: every non-empty bucket as its Prometheus native-histogram index
/// at the histogram's schema `s` (in the base unit: seconds, bytes or items) and its count, with
/// the exact sum and maximum. Bucket `i` holds the values in `(2^((i-1)/2^s), 2^(i/2^s)]`.
///
/// ```
/// use perf_instrument::load::HistogramRecord;
/// use perf_instrument::{Histogram, Unit};
/// let h = Histogram::new(Unit::Seconds);
/// h.record(1_000_000_000); // one second: native index 0
/// let r = HistogramRecord::from_snapshot(&h.snapshot());
/// assert_eq!((r.count, r.buckets.clone()), (1, vec![(0, 1)]));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramRecord {
    /// `seconds`, `bytes` or `items`.
    pub unit: String,
    /// Observations.
    pub count: u64,
    /// Sum of the observations in the base unit.
    pub sum: f64,
    /// Largest observation (`None` when empty).
    pub max: Option<f64>,
    /// Native-histogram schema of `buckets`, 0 to 8 (records without it are read as 3).
    #[serde(default = "default_schema")]
    pub schema: i32,
    /// Observations in the zero bucket (the value 0).
    pub zero_count: u64,
    /// `(native index, count)` of every non-empty bucket, by increasing index.
    pub buckets: Vec<(i32, u64)>,
}

fn default_schema() -> i32 {
    Schema::DEFAULT.get()
}

/// `ceil(i / 2^shift)`, for negative indexes too.
fn reduce_index(i: i32, shift: u32) -> i32 {
    let ceil = -((-i64::from(i)) >> shift);
    i32::try_from(ceil).unwrap_or(i)
}

/// The name of a unit in a record.
pub(crate) fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "seconds",
        Unit::Bytes => "bytes",
        Unit::Count => "items",
    }
}

impl HistogramRecord {
    /// An empty histogram of `unit` (`seconds`, `bytes`, `items`).
    ///
    /// ```
    /// assert_eq!(perf_instrument::load::HistogramRecord::empty("seconds").count, 0);
    /// ```
    #[must_use]
    pub fn empty(unit: &str) -> Self {
        Self {
            unit: unit.to_string(),
            count: 0,
            sum: 0.0,
            max: None,
            schema: default_schema(),
            zero_count: 0,
            buckets: Vec::new(),
        }
    }

    /// The buckets of a snapshot, without loss.
    ///
    /// ```
    /// use perf_instrument::{Histogram, Unit};
    /// let h = Histogram::new(Unit::Count);
    /// h.record(0);
    /// h.record(3);
    /// let r = perf_instrument::load::HistogramRecord::from_snapshot(&h.snapshot());
    /// assert_eq!((r.zero_count, r.count, r.sum), (1, 2, 3.0));
    /// ```
    #[must_use]
    pub fn from_snapshot(snapshot: &HistogramSnapshot) -> Self {
        let mut out = Self::empty(unit_name(snapshot.unit()));
        out.schema = snapshot.schema().get();
        for b in snapshot.buckets().filter(|b| b.count > 0) {
            match b.native_index {
                Some(i) => out.buckets.push((i, b.count)),
                None => out.zero_count += b.count,
            }
        }
        out.count = snapshot.count();
        out.sum = snapshot.sum();
        out.max = snapshot.max();
        out
    }

    /// Adds `other`'s observations (same unit; a different unit is left out and `false`
    /// returned). Of two schemas the result has the coarser: the finer record's indexes are
    /// reduced, `i` at schema `t` becoming `ceil(i / 2^(t-s))` at schema `s`. An empty record
    /// takes `other`'s schema.
    ///
    /// ```
    /// use perf_instrument::load::HistogramRecord;
    /// let mut a = HistogramRecord::empty("seconds");
    /// let b = HistogramRecord { count: 2, sum: 2.0, max: Some(1.0), buckets: vec![(0, 2)], ..HistogramRecord::empty("seconds") };
    /// assert!(a.merge(&b) && a.merge(&b));
    /// assert_eq!((a.count, a.buckets.clone()), (4, vec![(0, 4)]));
    ///
    /// // Schema 8 bucket -1, (2^(-2/256), 2^(-1/256)] s, lies in schema-3 bucket 0.
    /// let fine = HistogramRecord { schema: 8, count: 1, sum: 1.0, max: Some(1.0), buckets: vec![(-1, 1), (33, 1)], ..HistogramRecord::empty("seconds") };
    /// assert!(a.merge(&fine));
    /// assert_eq!((a.schema, a.buckets.clone()), (3, vec![(0, 5), (2, 1)]));
    /// ```
    pub fn merge(&mut self, other: &Self) -> bool {
        if self.unit != other.unit {
            return false;
        }
        if self.count == 0 && self.buckets.is_empty() {
            self.schema = other.schema;
        }
        let schema = self.schema.min(other.schema);
        let reduce = |from: i32| u32::try_from(from - schema).unwrap_or(0).min(31);
        let (mine, theirs) = (reduce(self.schema), reduce(other.schema));
        let mut map: BTreeMap<i32, u64> = BTreeMap::new();
        for &(i, n) in &self.buckets {
            *map.entry(reduce_index(i, mine)).or_insert(0) += n;
        }
        for &(i, n) in &other.buckets {
            *map.entry(reduce_index(i, theirs)).or_insert(0) += n;
        }
        self.schema = schema;
        self.buckets = map.into_iter().collect();
        self.count += other.count;
        self.zero_count += other.zero_count;
        self.sum += other.sum;
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        true
    }

    /// Arithmetic mean (exact: sum over count), `None` when empty.
    ///
    /// ```
    /// use perf_instrument::load::HistogramRecord;
    /// let r = HistogramRecord { count: 2, sum: 3.0, ..HistogramRecord::empty("seconds") };
    /// assert_eq!(r.mean(), Some(1.5));
    /// ```
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Quantile `q` interpolated within its bucket: the value of rank `q·count` (continuous),
    /// taking the observations of a bucket as spread evenly in log scale between its bounds,
    /// and never above the exact maximum. A shift of every value by a few percent moves this
    /// estimate by about as much, rather than by a whole bucket (4.33% at schema 3) or not at
    /// all, which is what lets a comparison see a 5% change. `None` when empty.
    ///
    /// ```
    /// use perf_instrument::load::HistogramRecord;
    /// // 100 observations in the bucket (2^(-1/8), 1] s
    /// let r = HistogramRecord { count: 100, sum: 96.0, max: Some(1.0), buckets: vec![(0, 100)], ..HistogramRecord::empty("seconds") };
    /// let p50 = r.quantile(0.5).unwrap();
    /// assert!(p50 > 2f64.powf(-1.0 / 8.0) && p50 < 1.0);
    /// assert!(r.quantile(0.9).unwrap() > p50);
    /// ```
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let target = q * self.count as f64;
        let mut seen = self.zero_count as f64;
        if target <= seen && self.zero_count > 0 {
            return Some(0.0);
        }
        let cap = self.max.unwrap_or(f64::INFINITY);
        for &(i, n) in &self.buckets {
            if n == 0 {
                continue;
            }
            let next = seen + n as f64;
            if target <= next {
                let f = ((target - seen) / n as f64).clamp(0.0, 1.0);
                let per_octave = 2f64.powi(self.schema.clamp(-4, 8));
                let value = 2f64.powf((f64::from(i) - 1.0 + f) / per_octave);
                return Some(value.min(cap));
            }
            seen = next;
        }
        self.max
    }
}

/// One fixed interval of a phase (default one second).
///
/// ```
/// use perf_instrument::load::{HistogramRecord, IntervalRecord};
/// let i = IntervalRecord { start_seconds: 0.0, seconds: 1.0, completed: 10, dropped: 0, errors: 0, latency: HistogramRecord::empty("seconds"), in_flight: None };
/// assert_eq!(i.throughput(), 10.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalRecord {
    /// Start, in seconds from the start of the phase.
    pub start_seconds: f64,
    /// Length in seconds.
    pub seconds: f64,
    /// Calls that finished in the interval.
    pub completed: u64,
    /// Calls dropped in the interval (the pool was saturated).
    pub dropped: u64,
    /// Calls that returned an error in the interval.
    pub errors: u64,
    /// Latency from the intended start of the calls that finished in the interval.
    pub latency: HistogramRecord,
    /// The load driver's calls in flight during the interval (`None` in records written
    /// before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlightRecord>,
}

/// The load driver's calls in flight over one interval, counted by the time each call was
/// released, taken up by a worker and returned (whichever phase planned it). A call is
/// *running* from the moment a worker of the pool takes it up until it returns: what the
/// service under test sees as its concurrency, at most the pool's threads. A call is *queued*
/// from its intended start, when the plan releases it, until a worker takes it up: the backlog
/// in front of a saturated pool, time that latency (measured from the intended start) includes
/// and service time does not. The last interval of a run ends with the plan; calls still
/// running or queued then are counted in its `running` and `queued`.
///
/// ```
/// use perf_instrument::load::InFlightRecord;
/// let f = InFlightRecord { running: 3, running_max: 8, queued: 0 };
/// assert!(f.running <= f.running_max);
/// assert_eq!(f.outstanding(), 3);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightRecord {
    /// Calls running at the end of the interval.
    pub running: u64,
    /// The most calls running at once during the interval (at least those running at its
    /// start and at its end).
    pub running_max: u64,
    /// Calls released and waiting for a worker at the end of the interval.
    pub queued: u64,
}

impl InFlightRecord {
    /// Calls released and not yet returned at the end of the interval: running and queued.
    ///
    /// ```
    /// let f = perf_instrument::load::InFlightRecord { running: 4, running_max: 4, queued: 6 };
    /// assert_eq!(f.outstanding(), 10);
    /// ```
    #[must_use]
    pub fn outstanding(&self) -> u64 {
        self.running.saturating_add(self.queued)
    }
}

impl IntervalRecord {
    /// Completed calls per second.
    ///
    /// ```
    /// # use perf_instrument::load::{HistogramRecord, IntervalRecord};
    /// let i = IntervalRecord { start_seconds: 0.0, seconds: 0.0, completed: 1, dropped: 0, errors: 0, latency: HistogramRecord::empty("seconds"), in_flight: None };
    /// assert_eq!(i.throughput(), 0.0);
    /// ```
    #[must_use]
    pub fn throughput(&self) -> f64 {
        if self.seconds > 0.0 {
            self.completed as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// One phase of a run: its shape, its totals, its intervals and where it became steady.
///
/// ```
/// use perf_instrument::load::{HistogramRecord, PhaseRecord};
/// let p = PhaseRecord::empty("baseline", "constant 100/s", 0.0);
/// assert!(p.in_verdict && p.intervals.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// The phase's name (`warm-up`, `baseline`, `burst`, ...).
    pub name: String,
    /// Its rate shape, as text (`constant 400/s`, `ramp 100/s..800/s`, ...).
    pub shape: String,
    /// Whether the comparison uses it (warm-up phases do not).
    pub in_verdict: bool,
    /// Start, in seconds from the start of the run.
    pub start_seconds: f64,
    /// Length in seconds.
    pub seconds: f64,
    /// Calls the plan released or dropped.
    pub planned: u64,
    /// Calls that finished (successfully or with an error).
    pub completed: u64,
    /// Calls dropped because the queue in front of the pool was full.
    pub dropped: u64,
    /// Calls that returned an error, by kind (at most a capped number of kinds; the rest are
    /// counted under `other`).
    pub errors: BTreeMap<String, u64>,
    /// Latency from each call's intended start to its end.
    pub latency: HistogramRecord,
    /// Time from each call's actual start to its end.
    pub service_time: HistogramRecord,
    /// The fixed intervals.
    pub intervals: Vec<IntervalRecord>,
    /// Index of the first interval of the steady part (`None`: never steady).
    pub steady_from: Option<usize>,
    /// Figures per operation of the plan's mix (empty without one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, OperationRecord>,
}

/// One operation of a weighted mix within a phase: its calls, errors, latency and service time.
///
/// ```
/// use perf_instrument::load::OperationRecord;
/// let mut op = OperationRecord::default();
/// op.completed = 50;
/// assert_eq!(op.throughput(2.0), 25.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// Calls of this operation that finished (successfully or with an error).
    pub completed: u64,
    /// Those that returned an error.
    pub errors: u64,
    /// Latency from each call's intended start to its end.
    pub latency: HistogramRecord,
    /// Time from each call's actual start to its end.
    pub service_time: HistogramRecord,
}

impl Default for OperationRecord {
    fn default() -> Self {
        Self {
            completed: 0,
            errors: 0,
            latency: HistogramRecord::empty("seconds"),
            service_time: HistogramRecord::empty("seconds"),
        }
    }
}

impl OperationRecord {
    /// Completed calls per second over a phase of `seconds`.
    ///
    /// ```
    /// let op = perf_instrument::load::OperationRecord { completed: 30, ..Default::default() };
    /// assert_eq!(op.throughput(3.0), 10.0);
    /// ```
    #[must_use]
    pub fn throughput(&self, seconds: f64) -> f64 {
        if seconds > 0.0 {
            self.completed as f64 / seconds
        } else {
            0.0
        }
    }

    /// Errors per completed call.
    ///
    /// ```
    /// let op = perf_instrument::load::OperationRecord { completed: 10, errors: 1, ..Default::default() };
    /// assert_eq!(op.error_rate(), 0.1);
    /// ```
    #[must_use]
    pub fn error_rate(&self) -> f64 {
        if self.completed == 0 {
            0.0
        } else {
            self.errors as f64 / self.completed as f64
        }
    }
}

impl PhaseRecord {
    /// A phase with nothing measured yet.
    ///
    /// ```
    /// let p = perf_instrument::load::PhaseRecord::empty("burst", "constant 2000/s", 5.0);
    /// assert_eq!(p.completed, 0);
    /// ```
    #[must_use]
    pub fn empty(name: &str, shape: &str, start_seconds: f64) -> Self {
        Self {
            name: name.to_string(),
            shape: shape.to_string(),
            in_verdict: true,
            start_seconds,
            seconds: 0.0,
            planned: 0,
            completed: 0,
            dropped: 0,
            errors: BTreeMap::new(),
            latency: HistogramRecord::empty("seconds"),
            service_time: HistogramRecord::empty("seconds"),
            intervals: Vec::new(),
            steady_from: None,
            operations: BTreeMap::new(),
        }
    }

    /// Calls that returned an error, all kinds.
    ///
    /// ```
    /// let mut p = perf_instrument::load::PhaseRecord::empty("a", "constant 1/s", 0.0);
    /// p.errors.insert("timeout".into(), 2);
    /// assert_eq!(p.error_count(), 2);
    /// ```
    #[must_use]
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One row of a run: a stage, queue, lock, saga, function (from the service's registry), or the
/// load driver's own latency (`load/latency`, over the phases in the verdict).
///
/// ```
/// use perf_instrument::load::{HistogramRecord, RowRecord};
/// let r = RowRecord { table: "stages".into(), name: "orders/persist".into(), histogram: HistogramRecord::empty("seconds") };
/// assert_eq!(r.key(), "stages: orders/persist");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowRecord {
    /// The report table it belongs to (`stages`, `queues`, ..., `load`).
    pub table: String,
    /// The row's name in that table.
    pub name: String,
    /// Its observations.
    pub histogram: HistogramRecord,
}

impl RowRecord {
    /// `table: name`, the key rows are matched by across runs.
    ///
    /// ```
    /// # use perf_instrument::load::{HistogramRecord, RowRecord};
    /// let r = RowRecord { table: "load".into(), name: "latency".into(), histogram: HistogramRecord::empty("seconds") };
    /// assert_eq!(r.key(), "load: latency");
    /// ```
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}: {}", self.table, self.name)
    }
}

/// One run: what it ran on, how it was configured, and everything it measured.
///
/// ```
/// use perf_instrument::load::RunRecord;
/// let record = RunRecord::new().with_config("rate", "400/s").with_revision("abc123");
/// let json = record.to_json();
/// let back = RunRecord::from_json(&json).unwrap();
/// assert_eq!(back, record);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always [`RECORD_FORMAT`].
    pub format: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Version of perf-instrument that wrote it.
    pub crate_version: String,
    /// The revision of the code under test, when the caller gives one.
    pub revision: Option<String>,
    /// When the record was made, seconds since the Unix epoch.
    pub created_unix: f64,
    /// The machine.
    pub machine: Machine,
    /// The run's configuration.
    pub config: BTreeMap<String, String>,
    /// Length of the measured part of the run (the phases in the verdict), in seconds: the
    /// denominator of every row's throughput.
    pub seconds: f64,
    /// The load driver's phases, in order.
    pub phases: Vec<PhaseRecord>,
    /// Histogram rows.
    pub rows: Vec<RowRecord>,
    /// Counters and gauges of the registry, by `family{label="value",...}`.
    pub counters: BTreeMap<String, f64>,
    /// Findings, one line each.
    pub findings: Vec<String>,
}

impl Default for RunRecord {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a run record could not be read.
///
/// ```
/// use perf_instrument::load::{RecordError, RunRecord};
/// assert!(matches!(RunRecord::from_json(""), Err(RecordError::Empty)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The document is empty.
    #[error("the run record is empty (was the run interrupted before it wrote the record?)")]
    Empty,
    /// Not JSON, or cut short.
    #[error("the run record is not valid JSON ({0}); a truncated file? record the run again")]
    Json(String),
    /// JSON, but not a run record.
    #[error("this JSON is not a perf-instrument run record (no \"format\": \"{RECORD_FORMAT}\" field); pass a file written by RunRecord::write or --record")]
    Foreign,
    /// A run record of a schema version this crate does not read.
    #[error("run record schema version {found} is not supported (this perf-instrument {crate_version} reads version {SCHEMA_VERSION}); record the run again with this version")]
    Version {
        /// The record's version.
        found: u64,
        /// This crate's version.
        crate_version: &'static str,
    },
    /// A run record of this version whose fields do not fit the schema.
    #[error("the run record does not fit schema version {SCHEMA_VERSION}: {0}")]
    Schema(String),
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl RunRecord {
    /// An empty record of this machine, now.
    ///
    /// ```
    /// let r = perf_instrument::load::RunRecord::new();
    /// assert_eq!(r.schema_version, perf_instrument::load::SCHEMA_VERSION);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            format: RECORD_FORMAT.to_string(),
            schema_version: SCHEMA_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            revision: None,
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            machine: Machine::current(),
            config: BTreeMap::new(),
            seconds: 0.0,
            phases: Vec::new(),
            rows: Vec::new(),
            counters: BTreeMap::new(),
            findings: Vec::new(),
        }
    }

    /// Sets the revision of the code under test (a commit hash, a tag).
    ///
    /// ```
    /// let r = perf_instrument::load::RunRecord::new().with_revision("v1.2");
    /// assert_eq!(r.revision.as_deref(), Some("v1.2"));
    /// ```
    #[must_use]
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Adds a line of configuration; a key given twice keeps the last value.
    ///
    /// ```
    /// let r = perf_instrument::load::RunRecord::new().with_config("threads", 4);
    /// assert_eq!(r.config["threads"], "4");
    /// ```
    #[must_use]
    pub fn with_config(mut self, key: impl Into<String>, value: impl fmt::Display) -> Self {
        self.config.insert(key.into(), value.to_string());
        self
    }

    /// Adds every tabled histogram series of `snapshot` as a row (named as the report names
    /// it; empty series too, so repeated runs have the same rows), and every counter and gauge
    /// under `counters`.
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry};
    /// let registry = Registry::new();
    /// let p = Pipeline::builder("orders").stages(["enrich"]).build(&registry).unwrap();
    /// let enrich = p.stage("enrich").unwrap();
    /// let mut event = p.begin();
    /// p.time_stage(&mut event, enrich, || ());
    /// p.finish(event);
    /// let r = perf_instrument::load::RunRecord::new().with_registry(&registry.snapshot());
    /// assert!(r.rows.iter().any(|row| row.key() == "stages: orders/enrich"));
    /// ```
    #[must_use]
    pub fn with_registry(self, snapshot: &RegistrySnapshot) -> Self {
        self.with_rows_of(None, snapshot)
    }

    /// [`with_registry`](Self::with_registry) over what happened between two snapshots of one
    /// registry: histogram rows hold the observations made in between, counters their growth,
    /// gauges their later value. With [`PlanResult::verdict_start`](super::PlanResult::verdict_start)
    /// as `earlier`, the rows leave the warm-up out.
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry};
    /// let registry = Registry::new();
    /// let p = Pipeline::builder("orders").stages(["enrich"]).build(&registry).unwrap();
    /// let enrich = p.stage("enrich").unwrap();
    /// let run = |n| for _ in 0..n {
    ///     let mut event = p.begin();
    ///     p.time_stage(&mut event, enrich, || ());
    ///     p.finish(event);
    /// };
    /// run(3); // warm-up
    /// let earlier = registry.snapshot();
    /// run(5);
    /// let r = perf_instrument::load::RunRecord::new().with_registry_between(&earlier, &registry.snapshot());
    /// let row = r.rows.iter().find(|row| row.key() == "stages: orders/enrich").unwrap();
    /// assert_eq!(row.histogram.count, 5);
    /// ```
    #[must_use]
    pub fn with_registry_between(
        self,
        earlier: &RegistrySnapshot,
        later: &RegistrySnapshot,
    ) -> Self {
        self.with_rows_of(Some(earlier), later)
    }

    fn with_rows_of(
        mut self,
        earlier: Option<&RegistrySnapshot>,
        snapshot: &RegistrySnapshot,
    ) -> Self {
        for family in snapshot.families() {
            let desc = &family.desc;
            for series in &family.series {
                let labels: Vec<(&str, &str)> = desc
                    .label_names()
                    .iter()
                    .map(String::as_str)
                    .zip(series.label_values.iter())
                    .collect();
                match (&series.value, desc.report_table()) {
                    (SeriesValue::Histogram(h), Some(spec))
                        if desc.kind() == MetricKind::Histogram =>
                    {
                        let window = match earlier.and_then(|e| e.histogram(desc.name(), &labels)) {
                            Some(then) => h.delta(then),
                            None => h.clone(),
                        };
                        self.rows.push(RowRecord {
                            table: spec.title().to_string(),
                            name: spec.row_name(desc.name(), &labels),
                            histogram: HistogramRecord::from_snapshot(&window),
                        });
                    }
                    (SeriesValue::Histogram(_), _) => {}
                    (value, _) => {
                        let v = match value {
                            SeriesValue::Unsigned(v) => *v as f64,
                            SeriesValue::Signed(v) => *v as f64,
                            SeriesValue::Float(v) => *v,
                            SeriesValue::Histogram(_) => continue,
                        };
                        let v = match earlier.and_then(|e| e.value(desc.name(), &labels)) {
                            Some(then) if desc.kind() == MetricKind::Counter => v - then,
                            _ => v,
                        };
                        let key = if labels.is_empty() {
                            desc.name().to_string()
                        } else {
                            let inner: Vec<String> =
                                labels.iter().map(|(n, v)| format!("{n}=\"{v}\"")).collect();
                            format!("{}{{{}}}", desc.name(), inner.join(","))
                        };
                        self.counters.insert(key, v);
                    }
                }
            }
        }
        self
    }

    /// The record as pretty JSON.
    ///
    /// ```
    /// let json = perf_instrument::load::RunRecord::new().to_json();
    /// assert!(json.contains("\"schema_version\": 1"));
    /// ```
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Reads a record, checking its format and schema version before its fields, so a record of
    /// another version gives a version error rather than a field error.
    ///
    /// # Errors
    ///
    /// [`RecordError`]: empty, not JSON (or truncated), not a run record, another schema
    /// version, or fields that do not fit.
    ///
    /// ```
    /// use perf_instrument::load::{RecordError, RunRecord};
    /// let err = RunRecord::from_json(r#"{"format":"perf-instrument-run-record","schema_version":99}"#).unwrap_err();
    /// assert!(matches!(err, RecordError::Version { found: 99, .. }));
    /// assert!(matches!(RunRecord::from_json("{\"a\":1}"), Err(RecordError::Foreign)));
    /// assert!(matches!(RunRecord::from_json("{\"format\""), Err(RecordError::Json(_))));
    /// ```
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        let value = Self::value_of(text)?;
        Self::from_value(value)
    }

    fn value_of(text: &str) -> Result<serde_json::Value, RecordError> {
        if text.trim().is_empty() {
            return Err(RecordError::Empty);
        }
        serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))
    }

    fn from_value(value: serde_json::Value) -> Result<Self, RecordError> {
        if value.get("format").and_then(serde_json::Value::as_str) != Some(RECORD_FORMAT) {
            return Err(RecordError::Foreign);
        }
        let version = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| RecordError::Schema("no numeric \"schema_version\"".into()))?;
        if version != u64::from(SCHEMA_VERSION) {
            return Err(RecordError::Version {
                found: version,
                crate_version: env!("CARGO_PKG_VERSION"),
            });
        }
        serde_json::from_value(value).map_err(|e| RecordError::Schema(e.to_string()))
    }

    /// Reads one or more records from a document: a record, or a JSON array of records (the
    /// repeated runs of one side).
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json), for the document or any element; an empty array is
    /// [`RecordError::Empty`].
    ///
    /// ```
    /// use perf_instrument::load::RunRecord;
    /// let one = RunRecord::new();
    /// let text = serde_json::to_string(&vec![one.clone(), one]).unwrap();
    /// assert_eq!(RunRecord::many_from_json(&text).unwrap().len(), 2);
    /// ```
    pub fn many_from_json(text: &str) -> Result<Vec<Self>, RecordError> {
        match Self::value_of(text)? {
            serde_json::Value::Array(items) if items.is_empty() => Err(RecordError::Empty),
            serde_json::Value::Array(items) => items.into_iter().map(Self::from_value).collect(),
            value => Ok(vec![Self::from_value(value)?]),
        }
    }

    /// Reads the records in the file at `path` (see [`many_from_json`](Self::many_from_json)).
    ///
    /// # Errors
    ///
    /// [`RecordError::Io`] when the file cannot be read, otherwise as `many_from_json`.
    ///
    /// ```
    /// let err = perf_instrument::load::RunRecord::read("/nonexistent/run.json").unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent/run.json"));
    /// ```
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<Vec<Self>, RecordError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RecordError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::many_from_json(&text)
    }

    /// Writes the record to `path` as pretty JSON.
    ///
    /// # Errors
    ///
    /// [`RecordError::Io`] when the file cannot be written.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("perf-instrument-doc-record.json");
    /// perf_instrument::load::RunRecord::new().write(&path).unwrap();
    /// assert_eq!(perf_instrument::load::RunRecord::read(&path).unwrap().len(), 1);
    /// ```
    pub fn write(&self, path: impl AsRef<std::path::Path>) -> Result<(), RecordError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|source| RecordError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_with_interval(in_flight: Option<InFlightRecord>) -> RunRecord {
        let mut phase = PhaseRecord::empty("steady", "constant 100/s", 0.0);
        phase.intervals.push(IntervalRecord {
            start_seconds: 0.0,
            seconds: 1.0,
            completed: 100,
            dropped: 0,
            errors: 0,
            latency: HistogramRecord::empty("seconds"),
            in_flight,
        });
        let mut record = RunRecord::new();
        record.phases.push(phase);
        record
    }

    #[test]
    fn calls_in_flight_survive_a_round_trip() {
        let f = InFlightRecord {
            running: 3,
            running_max: 7,
            queued: 12,
        };
        let record = record_with_interval(Some(f));
        let json = record.to_json();
        assert!(json.contains("\"running_max\": 7"), "{json}");
        let back = RunRecord::from_json(&json).unwrap();
        assert_eq!(back.phases[0].intervals[0].in_flight, Some(f));
        assert_eq!(back, record);
    }

    #[test]
    fn a_record_written_before_calls_in_flight_were_measured_still_loads() {
        let mut value: serde_json::Value =
            serde_json::from_str(&record_with_interval(None).to_json()).unwrap();
        let interval = &mut value["phases"][0]["intervals"][0];
        assert!(
            interval.get("in_flight").is_none(),
            "not written when absent"
        );
        // The interval exactly as older versions wrote it.
        *interval = serde_json::json!({
            "start_seconds": 0.0, "seconds": 1.0, "completed": 100, "dropped": 0, "errors": 0,
            "latency": { "unit": "seconds", "count": 0, "sum": 0.0, "max": null,
                         "zero_count": 0, "buckets": [] }
        });
        let back = RunRecord::from_json(&value.to_string()).unwrap();
        let interval = &back.phases[0].intervals[0];
        assert_eq!((interval.completed, interval.in_flight), (100, None));
    }
}
