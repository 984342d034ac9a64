//! `MetricsRecorder`: a [`metrics::Recorder`] that records into a [`Registry`], so crates using
//! `metrics::counter!`, `gauge!` and `histogram!` land in the same `/metrics`.

use super::errors;
use crate::recorder::{Counter, Histogram, Unit};
use crate::registry::{
    Buckets, Family, FnGauge, Opts, Registry, RegistryError, OVERFLOW_LABEL_VALUE,
};
use crate::sync::{AtomicU64, Ordering};
use metrics::{Key, KeyName, Metadata, SharedString};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Shards of the key cache (a power of two).
const SHARDS: usize = 16;

/// Keys cached per kind (counters, gauges, histograms). Past it, a `counter!` of a new key
/// resolves through the family on every call (correct, but a lock and a hash lookup slower).
///
/// ```
/// assert!(perf_instrument::MAX_CACHED_KEYS >= perf_instrument::DEFAULT_MAX_SERIES);
/// ```
pub const MAX_CACHED_KEYS: usize = 16_384;

/// The default of [`MetricsRecorderBuilder::max_families`]: the most families (names, per
/// kind) a [`MetricsRecorder`] creates. Uses of further names get no-op handles, counted in
/// `perf_instrument_integration_errors_total{integration="metrics",reason="family_cap"}`.
///
/// ```
/// use perf_instrument::{MetricsRecorder, Registry, DEFAULT_MAX_FACADE_FAMILIES};
/// let registry = Registry::new();
/// let recorder = MetricsRecorder::new(&registry);
/// metrics::with_local_recorder(&recorder, || {
///     for i in 0..DEFAULT_MAX_FACADE_FAMILIES + 5 {
///         metrics::counter!(format!("dynamic_{i}")).increment(1);
///     }
/// });
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// assert!(text.contains("dynamic_999_total 1"));
/// assert!(!text.contains("dynamic_1000_total"));
/// assert!(text.contains(
///     "perf_instrument_integration_errors_total{integration=\"metrics\",reason=\"family_cap\"} 5"
/// ));
/// ```
pub const DEFAULT_MAX_FACADE_FAMILIES: usize = 1_000;

const DEFAULT_HELP: &str = "Recorded through the metrics facade; no description was given.";

/// Records what the [`metrics`] facade reports (`counter!`, `gauge!`, `histogram!`,
/// `describe_*!`) into a [`Registry`], labels included. Install it once with
/// [`install`](MetricsRecorder::install), or use it in a scope with
/// [`metrics::with_local_recorder`]. Cloning shares the recorder.
///
/// ```
/// use perf_instrument::{MetricsRecorder, Registry};
///
/// let registry = Registry::new();
/// let recorder = MetricsRecorder::new(&registry);
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_histogram!("http_request_duration_seconds", metrics::Unit::Seconds,
///         "Time to answer an HTTP request.");
///     metrics::histogram!("http_request_duration_seconds", "route" => "/orders").record(0.25);
///     metrics::counter!("http_requests_total", "route" => "/orders").increment(1);
/// });
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// assert!(text.contains("# HELP http_request_duration_seconds Time to answer an HTTP request."));
/// assert!(text.contains("http_request_duration_seconds_sum{route=\"/orders\"} 0.25"));
/// assert!(text.contains("http_requests_total{route=\"/orders\"} 1"));
/// ```
///
/// # Mapping
///
/// * **Names** keep their spelling where Prometheus allows it; any other character becomes `_`
///   (`http.requests` → `http_requests`), and so do label names.
/// * **Counters** are [`Counter`]s (u64). `absolute(n)` adds how far `n` exceeds the largest
///   earlier `absolute` value, so a counter driven only by `absolute` equals the largest `n`
///   given (and one also given `increment`s counts both).
/// * **Gauges** are `f64`, as in `metrics`: kept exactly, exported as floats.
/// * **Histograms** record into the crate's integer [`Histogram`]. A histogram in seconds —
///   described with a time unit, or named `…_seconds` — takes the `f64` seconds, rounds them to
///   the nearest nanosecond and stores them at 2^-30 s (0.93 ns) resolution, so its sum is exact
///   to a nanosecond per value and its quantiles within
///   [`RELATIVE_ERROR`](crate::RELATIVE_ERROR) (4.33%) plus a nanosecond. Milli-, micro- and
///   nanoseconds are converted to seconds. In bytes (described so, or named `…_bytes`; KiB to TiB
///   converted) and for every other unit, values are rounded to the nearest integer: record
///   fractional quantities scaled (per mille rather than a ratio). Negative values are recorded
///   as 0 and NaN is dropped, each counted in
///   `perf_instrument_integration_errors_total{integration="metrics",reason="negative"|"nan"}`;
///   values beyond the layout (including +∞) are clamped into its top bucket and counted in the
///   snapshot's `clamped`.
/// * **Units go into the name**, as Prometheus requires: a histogram or gauge described in a
///   time unit is exported as `…_seconds` (`latency` in milliseconds becomes `latency_seconds`,
///   its values in seconds; a `_ms`-style suffix is replaced), one in a byte unit as `…_bytes`.
///   Counters keep their names and count what they are given.
/// * **Descriptions** become the `# HELP` text; without one the help says none was given.
///
/// # Policies
///
/// * **The first use of a name fixes its family**: kind, unit, and label names (sorted). A later
///   use with a *subset* of those label keys records into the same family with the missing labels
///   empty (which Prometheus treats as absent: the same series a caller would expect). A use with
///   a key the family does not have cannot be exported: it records into a detached recorder,
///   counted in `…{integration="metrics",reason="label_keys"}` and logged once per name. So is a
///   name used as two kinds (`reason="registration"`), or one the registry refuses (reserved
///   label names such as `le`, a clash with another family).
/// * **Describe before first use.** A `describe_*!` that arrives after the name's family was
///   registered cannot change its help or unit any more: it is ignored, counted in
///   `…{integration="metrics",reason="late_describe"}` and logged once per name.
/// * **Memory is bounded**: the recorder creates at most
///   [`max_families`](MetricsRecorderBuilder::max_families) families (default
///   [`DEFAULT_MAX_FACADE_FAMILIES`]; a name refused by the registry takes a place too).
///   A name past the cap gets a no-op handle, is not cached, and each such handle is counted in
///   `…{integration="metrics",reason="family_cap"}` (and logged once); descriptions past it
///   are ignored, counted the same way. Families cap their series (label values beyond fold
///   into the `__overflow__` series), and at most [`MAX_CACHED_KEYS`] keys per kind are cached.
///
/// # Cost
///
/// `metrics` resolves a handle on every macro call: here, a read lock on one of 16 shards and a
/// lookup with the key's precomputed hash. Keep the handle (`let h = histogram!(...)`) to skip
/// it; then a record is a dynamic call into the histogram's own few stores.
#[derive(Clone)]
pub struct MetricsRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    counters: Cache<CounterCell>,
    gauges: Cache<GaugeCell>,
    histograms: Cache<HistogramCell>,
    names: Mutex<Names>,
    max_families: usize,
    buckets: FacadeBuckets,
    errors: Errors,
}

/// Classic buckets of facade histograms, in base units: a default and overrides by name prefix.
#[derive(Clone, Debug, Default)]
struct FacadeBuckets {
    default: Option<Vec<f64>>,
    by_prefix: Vec<(String, Vec<f64>)>,
}

impl FacadeBuckets {
    /// The values for metric `name`: the longest matching prefix, else the default.
    fn of(&self, name: &str) -> Option<&[f64]> {
        self.by_prefix
            .iter()
            .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, values)| values.as_slice())
            .or(self.default.as_deref())
    }
}

/// Configures a [`MetricsRecorder`].
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let recorder = perf_instrument::MetricsRecorder::builder(&registry).max_families(10).build();
/// assert_eq!(recorder.max_families(), 10);
/// ```
#[derive(Debug)]
#[must_use]
pub struct MetricsRecorderBuilder {
    registry: Registry,
    max_families: usize,
    buckets: FacadeBuckets,
}

impl MetricsRecorderBuilder {
    /// The most families the recorder creates (default [`DEFAULT_MAX_FACADE_FAMILIES`]); zero
    /// drops every name.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let recorder = perf_instrument::MetricsRecorder::builder(&registry).max_families(0).build();
    /// metrics::with_local_recorder(&recorder, || metrics::counter!("dropped").increment(1));
    /// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    /// assert!(!text.contains("dropped_total"));
    /// ```
    pub fn max_families(mut self, max: usize) -> Self {
        self.max_families = max;
        self
    }

    /// Classic buckets of every facade histogram, in the histogram's base unit (seconds, bytes
    /// or items), as `metrics-exporter-prometheus`'s `set_buckets` takes them (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) the unit). Each value moves up to
    /// the nearest bound of the histogram's layout; negative, NaN and infinite values are
    /// dropped.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let recorder = perf_instrument::MetricsRecorder::builder(&registry)
    ///     .buckets(&[0.5, 1.0, 2.0])
    ///     .build();
    /// metrics::with_local_recorder(&recorder, || metrics::histogram!("job_seconds").record(0.7));
    /// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    /// assert!(text.contains(r#"job_seconds_bucket{le="1.0"} 1"#), "{text}");
    /// assert_eq!(text.matches("job_seconds_bucket").count(), 4);
    /// ```
    pub fn buckets(mut self, values: &[f64]) -> Self {
        self.buckets.default = Some(values.to_vec());
        self
    }

    /// Classic buckets of the facade histograms whose name starts with `prefix` (the name as
    /// given to `metrics`, before any unit suffix), in base units; the longest matching prefix
    /// wins over shorter ones and over [`buckets`](Self::buckets).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let recorder = perf_instrument::MetricsRecorder::builder(&registry)
    ///     .buckets_for("db_", &[0.001, 0.01])
    ///     .build();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::histogram!("db_query_seconds").record(0.002);
    ///     metrics::histogram!("http_seconds").record(0.002);
    /// });
    /// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    /// assert_eq!(text.matches("db_query_seconds_bucket").count(), 3);
    /// assert!(text.matches("http_seconds_bucket").count() > 3);
    /// ```
    pub fn buckets_for(mut self, prefix: impl Into<String>, values: &[f64]) -> Self {
        self.buckets
            .by_prefix
            .push((prefix.into(), values.to_vec()));
        self
    }

    /// The recorder.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let recorder = perf_instrument::MetricsRecorder::builder(&registry).build();
    /// assert_eq!(recorder.max_families(), perf_instrument::DEFAULT_MAX_FACADE_FAMILIES);
    /// ```
    pub fn build(self) -> MetricsRecorder {
        MetricsRecorder {
            inner: Arc::new(Inner {
                counters: Cache::new(),
                gauges: Cache::new(),
                histograms: Cache::new(),
                names: Mutex::new(Names::default()),
                max_families: self.max_families,
                buckets: self.buckets,
                errors: Errors::new(&self.registry),
                registry: self.registry,
            }),
        }
    }
}

/// Why `install` failed.
///
/// ```
/// use perf_instrument::{InstallError, MetricsRecorder, Registry};
/// let err = InstallError::AlreadyInstalled;
/// assert!(err.to_string().contains("with_local_recorder"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The process already has a global `metrics` recorder.
    #[error(
        "a global metrics recorder is already installed; install one recorder once, at startup, \
         or scope this one with metrics::with_local_recorder"
    )]
    AlreadyInstalled,
}

impl MetricsRecorder {
    /// A recorder into `registry`, with the defaults (`builder(registry).build()`).
    ///
    /// ```
    /// let recorder = perf_instrument::MetricsRecorder::new(perf_instrument::Registry::global());
    /// assert_eq!(recorder.max_families(), perf_instrument::DEFAULT_MAX_FACADE_FAMILIES);
    /// ```
    #[must_use]
    pub fn new(registry: &Registry) -> Self {
        Self::builder(registry).build()
    }

    /// A builder of a recorder into `registry`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let recorder = perf_instrument::MetricsRecorder::builder(&registry).max_families(100).build();
    /// assert_eq!(recorder.max_families(), 100);
    /// ```
    pub fn builder(registry: &Registry) -> MetricsRecorderBuilder {
        MetricsRecorderBuilder {
            registry: registry.clone(),
            max_families: DEFAULT_MAX_FACADE_FAMILIES,
            buckets: FacadeBuckets::default(),
        }
    }

    /// The most families this recorder creates.
    ///
    /// ```
    /// let recorder = perf_instrument::MetricsRecorder::new(&perf_instrument::Registry::new());
    /// assert_eq!(recorder.max_families(), 1_000);
    /// ```
    #[must_use]
    pub fn max_families(&self) -> usize {
        self.inner.max_families
    }

    /// The registry it records into.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let recorder = perf_instrument::MetricsRecorder::new(&registry);
    /// assert!(recorder.registry().const_labels().is_empty());
    /// ```
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Installs this recorder as the process's global `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`InstallError::AlreadyInstalled`] if a global recorder is already installed.
    ///
    /// ```no_run
    /// use perf_instrument::{MetricsRecorder, Registry};
    /// MetricsRecorder::new(Registry::global()).install().expect("installed once, at startup");
    /// metrics::counter!("jobs_done_total").increment(1);
    /// ```
    pub fn install(self) -> Result<(), InstallError> {
        metrics::set_global_recorder(self).map_err(|_| InstallError::AlreadyInstalled)
    }
}

impl fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("registry", &self.inner.registry)
            .field("counters", &self.inner.counters.len())
            .field("gauges", &self.inner.gauges.len())
            .field("histograms", &self.inner.histograms.len())
            .field("max_families", &self.inner.max_families)
            .finish()
    }
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<metrics::Unit>, help: SharedString) {
        self.inner.describe(Kind::Counter, &key, unit, &help);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, help: SharedString) {
        self.inner.describe(Kind::Gauge, &key, unit, &help);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<metrics::Unit>, help: SharedString) {
        self.inner.describe(Kind::Histogram, &key, unit, &help);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        self.inner
            .counters
            .get_or_insert(key, || {
                Some(self.inner.resolve(Kind::Counter, key)?.counter())
            })
            .map_or_else(metrics::Counter::noop, metrics::Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        self.inner
            .gauges
            .get_or_insert(key, || Some(self.inner.resolve(Kind::Gauge, key)?.gauge()))
            .map_or_else(metrics::Gauge::noop, metrics::Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        self.inner
            .histograms
            .get_or_insert(key, || {
                Some(self.inner.resolve(Kind::Histogram, key)?.histogram())
            })
            .map_or_else(metrics::Histogram::noop, metrics::Histogram::from_arc)
    }
}

// ---------------------------------------------------------------- cells (the handles)

struct CounterCell {
    counter: Counter,
    /// The largest `absolute` value seen.
    absolute: AtomicU64,
}

impl metrics::CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.counter.inc_by(value);
    }

    fn absolute(&self, value: u64) {
        let previous = self.absolute.fetch_max(value, Ordering::Relaxed);
        if value > previous {
            self.counter.inc_by(value - previous);
        }
    }
}

/// An `f64` gauge (its bits in an atomic), read by the family's [`FnGauge`] at scrape time.
struct GaugeCell {
    bits: AtomicU64,
    /// From the described unit to the exported base unit.
    scale: f64,
}

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut current = self.bits.load(Ordering::Relaxed);
        loop {
            let next = f(f64::from_bits(current)).to_bits();
            match self.bits.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    fn exported(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed)) * self.scale
    }
}

impl metrics::GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }
}

struct HistogramCell {
    histogram: Histogram,
    /// From the given `f64` to the integers `Histogram::record` takes (nanoseconds for time).
    scale: f64,
    negative: Counter,
    nan: Counter,
}

impl HistogramCell {
    #[inline]
    fn to_recorded(&self, value: f64) -> Option<u64> {
        if value >= 0.0 {
            // `as` saturates: +inf and huge values become u64::MAX, which the histogram clamps
            // into its top bucket and counts.
            Some((value * self.scale).round() as u64)
        } else if value.is_nan() {
            self.nan.inc();
            None
        } else {
            self.negative.inc();
            Some(0)
        }
    }
}

impl metrics::HistogramFn for HistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        if let Some(v) = self.to_recorded(value) {
            self.histogram.record(v);
        }
    }

    fn record_many(&self, value: f64, count: usize) {
        if let Some(v) = self.to_recorded(value) {
            self.histogram.record_n(v, count as u64);
        }
    }
}

// ---------------------------------------------------------------- the key cache

/// A hasher for `metrics::Key`, whose `Hash` writes its precomputed hash as one `u64`.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; FNV-1a for anything else.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Shard<T> = RwLock<HashMap<Key, Arc<T>, BuildHasherDefault<PreHashed>>>;

/// Key → handle, sharded by the key's hash; bounded.
struct Cache<T> {
    shards: Box<[Shard<T>]>,
}

impl<T> Cache<T> {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    /// The cached handle of `key`, or the one `resolve` gives (cached while there is room);
    /// `None` (not cached) when `resolve` gives none.
    #[inline]
    fn get_or_insert(&self, key: &Key, resolve: impl FnOnce() -> Option<Arc<T>>) -> Option<Arc<T>> {
        let shard = &self.shards[(key.get_hash() >> 32) as usize % SHARDS];
        if let Some(cell) = shard.read().get(key) {
            return Some(cell.clone());
        }
        let cell = resolve()?;
        let mut map = shard.write();
        if let Some(existing) = map.get(key) {
            return Some(existing.clone());
        }
        if map.len() < MAX_CACHED_KEYS / SHARDS {
            map.insert(key.clone(), cell.clone());
        }
        Some(cell)
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }
}

// ---------------------------------------------------------------- names and families

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// What `describe_*` said about a name.
struct Description {
    unit: Option<metrics::Unit>,
    help: String,
}

enum FamilyOf {
    Counter(Family<Counter>),
    Gauge(Family<FnGauge>),
    Histogram(Family<Histogram>),
}

/// A name's family, once registered.
struct Registered {
    family: FamilyOf,
    /// Sanitised label names, sorted: the family's label order.
    labels: Vec<String>,
    /// See the cells' `scale`.
    scale: f64,
}

/// A resolved series.
#[derive(Clone)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

impl Cell {
    fn counter(self) -> Arc<CounterCell> {
        match self {
            Cell::Counter(c) => c,
            _ => Arc::new(CounterCell {
                counter: Counter::new(),
                absolute: AtomicU64::new(0),
            }),
        }
    }

    fn gauge(self) -> Arc<GaugeCell> {
        match self {
            Cell::Gauge(g) => g,
            _ => Arc::new(GaugeCell {
                bits: AtomicU64::new(0),
                scale: 1.0,
            }),
        }
    }

    fn histogram(self) -> Arc<HistogramCell> {
        match self {
            Cell::Histogram(h) => h,
            _ => Arc::new(HistogramCell {
                histogram: Histogram::new(Unit::Count),
                scale: 1.0,
                negative: Counter::new(),
                nan: Counter::new(),
            }),
        }
    }
}

#[derive(Default)]
struct Names {
    /// Descriptions of names not used yet (a name's first use takes its description). With
    /// `families`, at most `max_families` names.
    descriptions: HashMap<(Kind, String), Description>,
    /// `None`: the registry refused the family.
    families: HashMap<(Kind, String), Option<Registered>>,
    /// One cell per exported series, shared by every key that maps onto it (`{a=""}` and
    /// `{}` are one series). Bounded by the families' series caps.
    series: HashMap<(Kind, String, Vec<String>), Cell>,
    /// Names already warned about, per reason.
    warned: HashSet<(&'static str, Kind, String)>,
}

struct Errors {
    negative: Counter,
    nan: Counter,
    label_keys: Counter,
    registration: Counter,
    late_describe: Counter,
    family_cap: Counter,
}

impl Errors {
    fn new(registry: &Registry) -> Self {
        let counter = |reason| errors::counter(registry, "metrics", reason);
        Self {
            negative: counter("negative"),
            nan: counter("nan"),
            label_keys: counter("label_keys"),
            registration: counter("registration"),
            late_describe: counter("late_describe"),
            family_cap: counter("family_cap"),
        }
    }
}

impl Inner {
    fn describe(&self, kind: Kind, key: &KeyName, unit: Option<metrics::Unit>, help: &str) {
        let mut names = self.names.lock();
        let name = key.as_str().to_string();
        if names.families.contains_key(&(kind, name.clone())) {
            self.errors.late_describe.inc();
            if names.warned.insert(("late_describe", kind, name.clone())) {
                tracing::warn!(
                    target: "perf_instrument",
                    metric = %name,
                    kind = kind.name(),
                    "a metrics description arrived after the {} was first used; its family is \
                     already registered, so the help and unit are ignored. Describe metrics \
                     before recording them.",
                    kind.name(),
                );
            }
            return;
        }
        let key = (kind, name);
        if !names.descriptions.contains_key(&key)
            && names.families.len() + names.descriptions.len() >= self.max_families
        {
            self.family_capped(&mut names, kind, &key.1);
            return;
        }
        names.descriptions.insert(
            key,
            Description {
                unit,
                help: help.to_string(),
            },
        );
    }

    /// Counts (and warns once about) a name refused for the family cap.
    fn family_capped(&self, names: &mut Names, kind: Kind, name: &str) {
        self.errors.family_cap.inc();
        if names.warned.insert(("family_cap", kind, String::new())) {
            tracing::warn!(
                target: "perf_instrument",
                metric = %name,
                kind = kind.name(),
                max_families = self.max_families,
                "the metrics recorder holds its maximum of families; uses of further names get \
                 no-op handles (counted, this is logged once per kind). Names made of \
                 unbounded values belong in labels.",
            );
        }
    }

    /// The cell for `key`: its series in its family, or a detached one; `None` for a new name
    /// past the family cap.
    #[cold]
    fn resolve(&self, kind: Kind, key: &Key) -> Option<Cell> {
        let mut names = self.names.lock();
        let names = &mut *names;
        let name = key.name().to_string();
        let family_key = (kind, name.clone());
        if !names.families.contains_key(&family_key) {
            // A described name already holds its place, and moves it to `families`.
            let description = names.descriptions.remove(&family_key);
            if description.is_none()
                && names.families.len() + names.descriptions.len() >= self.max_families
            {
                self.family_capped(names, kind, &name);
                return None;
            }
            let registered = self.register(kind, key, description.as_ref());
            if let Err(error) = &registered {
                self.errors.registration.inc();
                tracing::warn!(
                    target: "perf_instrument",
                    metric = %name,
                    kind = kind.name(),
                    %error,
                    "a metrics {} could not be registered; it records into a detached recorder \
                     that is not exported",
                    kind.name(),
                );
            }
            names.families.insert(family_key.clone(), registered.ok());
        }
        let Some(Some(registered)) = names.families.get(&family_key) else {
            return Some(detached(kind));
        };

        // Label values in the family's order; missing keys empty.
        let mut values = vec![String::new(); registered.labels.len()];
        let mut filled = vec![false; registered.labels.len()];
        for label in key.labels() {
            let label_name = sanitize(label.key());
            match registered.labels.iter().position(|l| *l == label_name) {
                Some(i) if !filled[i] => {
                    values[i] = label.value().to_string();
                    filled[i] = true;
                }
                _ => {
                    self.errors.label_keys.inc();
                    if names.warned.insert(("label_keys", kind, name.clone())) {
                        tracing::warn!(
                            target: "perf_instrument",
                            metric = %name,
                            labels = ?registered.labels,
                            extra = %label.key(),
                            "a metrics {} was used with a label key its first use did not have \
                             (or twice); that use records into a detached recorder. Use the same \
                             label keys everywhere.",
                            kind.name(),
                        );
                    }
                    return Some(detached(kind));
                }
            }
        }

        // Past the family's cap, new label sets share the overflow series.
        let exported_name = registered.exported_name();
        let mut series_key = (kind, exported_name, values);
        if !names.series.contains_key(&series_key) && registered.full() {
            series_key.2 = vec![OVERFLOW_LABEL_VALUE.to_string(); registered.labels.len()];
        }
        if let Some(cell) = names.series.get(&series_key) {
            return Some(cell.clone());
        }
        let values: Vec<&str> = series_key.2.iter().map(String::as_str).collect();
        let cell = match &registered.family {
            FamilyOf::Counter(family) => Cell::Counter(Arc::new(CounterCell {
                counter: family.with_label_values(&values),
                absolute: AtomicU64::new(0),
            })),
            FamilyOf::Gauge(family) => {
                let cell = Arc::new(GaugeCell {
                    bits: AtomicU64::new(0),
                    scale: registered.scale,
                });
                let read = cell.clone();
                family
                    .with_label_values(&values)
                    .set_fn(move || Some(read.exported()));
                Cell::Gauge(cell)
            }
            FamilyOf::Histogram(family) => Cell::Histogram(Arc::new(HistogramCell {
                histogram: family.with_label_values(&values),
                scale: registered.scale,
                negative: self.errors.negative.clone(),
                nan: self.errors.nan.clone(),
            })),
        };
        names.series.insert(series_key, cell.clone());
        Some(cell)
    }

    fn register(
        &self,
        kind: Kind,
        key: &Key,
        description: Option<&Description>,
    ) -> Result<Registered, RegistryError> {
        let unit = description.and_then(|d| d.unit);
        let help = description.map_or(DEFAULT_HELP, |d| d.help.as_str());
        let mut labels: Vec<String> = key.labels().map(|l| sanitize(l.key())).collect();
        labels.sort();
        labels.dedup();
        let name = sanitize(key.name());
        let (name, unit, scale) = match kind {
            Kind::Counter => (name, Unit::Count, 1.0),
            Kind::Gauge => layout(&name, unit, false),
            Kind::Histogram => layout(&name, unit, true),
        };
        // A facade family never merges into one registered in code (an instrument's, or the
        // service's own): the registry refuses the name, and the refusal is counted.
        let mut opts = Opts::new(name, help)
            .unit(unit)
            .labels(labels.clone())
            .facade();
        if let (Kind::Histogram, Some(values)) = (kind, self.buckets.of(key.name())) {
            opts = opts.buckets(Buckets::from_values(unit, values));
        }
        let registry = &self.registry;
        let family = match kind {
            Kind::Counter => FamilyOf::Counter(registry.register_counter(opts)?),
            Kind::Gauge => FamilyOf::Gauge(registry.register_fn_gauge(opts)?),
            Kind::Histogram => FamilyOf::Histogram(registry.register_histogram(opts)?),
        };
        Ok(Registered {
            family,
            labels,
            scale,
        })
    }
}

impl Registered {
    fn exported_name(&self) -> String {
        match &self.family {
            FamilyOf::Counter(f) => f.descriptor().name().to_string(),
            FamilyOf::Gauge(f) => f.descriptor().name().to_string(),
            FamilyOf::Histogram(f) => f.descriptor().name().to_string(),
        }
    }

    fn full(&self) -> bool {
        let (count, desc) = match &self.family {
            FamilyOf::Counter(f) => (f.series_count(), f.descriptor()),
            FamilyOf::Gauge(f) => (f.series_count(), f.descriptor()),
            FamilyOf::Histogram(f) => (f.series_count(), f.descriptor()),
        };
        count >= desc.max_series()
    }
}

fn detached(kind: Kind) -> Cell {
    match kind {
        Kind::Counter => Cell::Counter(Arc::new(CounterCell {
            counter: Counter::new(),
            absolute: AtomicU64::new(0),
        })),
        Kind::Gauge => Cell::Gauge(Arc::new(GaugeCell {
            bits: AtomicU64::new(0),
            scale: 1.0,
        })),
        Kind::Histogram => Cell::Histogram(Arc::new(HistogramCell {
            histogram: Histogram::new(Unit::Count),
            scale: 1.0,
            negative: Counter::new(),
            nan: Counter::new(),
        })),
    }
}

/// A Prometheus-valid name: other characters become `_`, a leading digit gets a `_` before it.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

const TIME_SUFFIXES: &[&str] = &[
    "_milliseconds",
    "_microseconds",
    "_nanoseconds",
    "_millis",
    "_micros",
    "_nanos",
    "_secs",
    "_ms",
    "_us",
    "_ns",
];
const BYTE_SUFFIXES: &[&str] = &[
    "_kibibytes",
    "_mebibytes",
    "_gibibytes",
    "_tebibytes",
    "_kib",
    "_mib",
    "_gib",
    "_tib",
];

/// `name` ending with `_suffix`: an alias of the unit at its end is replaced, otherwise the
/// suffix is appended.
fn with_suffix(name: &str, suffix: &str, aliases: &[&str]) -> String {
    let wanted = format!("_{suffix}");
    if name.ends_with(&wanted) {
        return name.to_string();
    }
    for alias in aliases {
        if let Some(base) = name.strip_suffix(alias) {
            return format!("{base}{wanted}");
        }
    }
    format!("{name}{wanted}")
}

/// The exported name, unit and scale of a gauge (`histogram == false`: scale to the base unit)
/// or histogram (scale to what `Histogram::record` takes: nanoseconds for time).
fn layout(name: &str, unit: Option<metrics::Unit>, histogram: bool) -> (String, Unit, f64) {
    use metrics::Unit as M;
    let time = |seconds_per_unit: f64| {
        let scale = if histogram {
            seconds_per_unit * 1e9
        } else {
            seconds_per_unit
        };
        (
            with_suffix(name, "seconds", TIME_SUFFIXES),
            Unit::Seconds,
            scale,
        )
    };
    let bytes = |bytes_per_unit: f64| {
        (
            with_suffix(name, "bytes", BYTE_SUFFIXES),
            Unit::Bytes,
            bytes_per_unit,
        )
    };
    match unit {
        Some(M::Seconds) => time(1.0),
        Some(M::Milliseconds) => time(1e-3),
        Some(M::Microseconds) => time(1e-6),
        Some(M::Nanoseconds) => time(1e-9),
        Some(M::Bytes) => bytes(1.0),
        Some(M::Kibibytes) => bytes(1024.0),
        Some(M::Mebibytes) => bytes(1024.0 * 1024.0),
        Some(M::Gibibytes) => bytes(1024.0 * 1024.0 * 1024.0),
        Some(M::Tebibytes) => bytes(1024.0 * 1024.0 * 1024.0 * 1024.0),
        None if name.ends_with("_seconds") => time(1.0),
        None if name.ends_with("_bytes") => bytes(1.0),
        _ => (name.to_string(), Unit::Count, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_carry_their_unit() {
        assert_eq!(sanitize("http.requests-total"), "http_requests_total");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(sanitize(""), "_");
        let ms = Some(metrics::Unit::Milliseconds);
        assert_eq!(
            layout("latency_ms", ms, true),
            ("latency_seconds".to_string(), Unit::Seconds, 1e6)
        );
        assert_eq!(layout("latency", ms, false).0, "latency_seconds");
        assert_eq!(
            layout("payload", Some(metrics::Unit::Kibibytes), true),
            ("payload_bytes".to_string(), Unit::Bytes, 1024.0)
        );
        assert_eq!(layout("wait_seconds", None, true).1, Unit::Seconds);
        assert_eq!(
            layout("ratio", Some(metrics::Unit::Percent), true),
            ("ratio".to_string(), Unit::Count, 1.0)
        );
    }
}
