//! Layer 4: the registry — families with names, help, units and labels; handles resolved once.

pub(crate) mod background;
mod catalogue;
mod collect;
mod desc;
mod error;
mod family;
mod index;
mod label_values;
mod name;
mod process;
pub(crate) mod resources;
mod self_metrics;

pub use background::BackgroundThread;
pub use catalogue::{FamilyDef, TableSpec, Tabling, DEFAULT_TABLE_RANK};
pub use collect::{Collector, FamilySnapshot, RegistrySnapshot, SeriesSnapshot, SeriesValue};
#[cfg(any(feature = "protobuf", feature = "remote-write"))]
pub(crate) use desc::to_base;
pub use desc::{
    Buckets, Descriptor, MetricKind, Opts, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_SERIES,
};
pub use error::RegistryError;
use family::Tally;
pub use family::{Family, FnGauge, Series, OVERFLOW_LABEL_VALUE};
pub use label_values::{Iter as LabelValuesIter, LabelValues};
pub use resources::{Resources, ResourcesBuilder};
pub(crate) use self_metrics::SelfMetrics;

use crate::recorder::{Counter, Gauge, Histogram, Unit};
use crate::sync::{lock, LazyLock, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};

/// A registered `Family<M>`, whatever its `M`.
trait Registered: Send + Sync {
    fn collect(&self, out: &mut Vec<FamilySnapshot>);
    fn series_count(&self) -> usize;
    fn tally(&self) -> Tally;
    /// For returning the family again on a same-shape registration.
    fn as_any(&self) -> &dyn Any;
}

impl<M: Series> Registered for Family<M> {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        Family::collect(self, out);
    }
    fn series_count(&self) -> usize {
        Family::series_count(self)
    }
    fn tally(&self) -> Tally {
        Family::tally(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What the registry keeps per registration.
#[derive(Clone)]
enum Source {
    Family {
        desc: Arc<Descriptor>,
        family: Arc<dyn Registered>,
    },
    Collector {
        collector: Arc<dyn Collector>,
        descs: Vec<Arc<Descriptor>>,
    },
}

#[derive(Default)]
struct State {
    sources: Vec<Source>,
    /// Family name -> index in `sources`.
    by_name: HashMap<String, usize>,
    /// Every exposed sample name -> the family that exposes it.
    sample_names: HashMap<String, String>,
    /// Pipeline stages and what times each: a stage is timed by the `Pipeline`s that declare
    /// it or by `#[timed]` functions, never both.
    stage_claims: HashMap<(String, String), StageTimer>,
}

/// What times a pipeline stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StageTimer {
    /// `Pipeline`s that declare the stage.
    Pipeline,
    /// `#[timed(pipeline, stage)]` functions (the first one's name).
    Function(String),
}

struct Inner {
    const_labels: Vec<(String, String)>,
    /// The prefix of every family name (`billing_`), or empty.
    namespace: String,
    state: RwLock<State>,
    self_metrics: OnceLock<SelfMetrics>,
    /// Families whose collection panicked and was logged.
    panicked: Mutex<std::collections::HashSet<String>>,
    /// Bytes of the last render: the next one reserves about that much at once instead of
    /// growing its buffer (and copying it) a dozen times.
    /// A plain std atomic under loom too: a size hint, not a synchronisation.
    render_bytes: std::sync::atomic::AtomicUsize,
}

/// A set of metric families: where instruments register and what exposition renders.
///
/// Registration validates names, label names and units (an error then, never bad output later);
/// registering a family again with the same shape returns the existing one, with another shape
/// an error. Each family caps its series. Rendering works from snapshots and never takes a lock
/// that recording takes. Cloning is cheap and shares the registry.
///
/// A new registry holds the crate's self metrics (`perf_instrument_scrapes_total`,
/// `perf_instrument_scrape_duration_seconds`, `perf_instrument_render_bytes`,
/// `perf_instrument_series`, `perf_instrument_series_overflow_total{family}`,
/// `perf_instrument_collect_panics_total{family}`, `perf_instrument_memory_bytes`) and, on Linux,
/// the process collector (`process_cpu_seconds_total`, ...); [`RegistryBuilder`] turns either off.
/// A family whose collection panics (an `FnGauge` callback, a collector) is left out of that
/// scrape and counted; the scrape goes on.
///
/// ```
/// use perf_instrument::{Opts, Registry, Unit};
///
/// let registry = Registry::builder().const_label("service", "orders").build().unwrap();
/// let requests = registry.counter("http_requests", "HTTP requests served.").unwrap();
/// let latency = registry
///     .register_histogram(
///         Opts::new("http_request_duration_seconds", "Request latency.")
///             .unit(Unit::Seconds)
///             .labels(["route"]),
///     )
///     .unwrap();
/// requests.inc();
/// latency.with_label_values(&["/orders"]).record(2_500_000);
///
/// let (content_type, body) = perf_instrument::render(&registry, Some("text/plain"));
/// assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains("http_requests_total{service=\"orders\"} 1"));
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

/// Builds a [`Registry`] with constant labels and optional built-in collectors.
///
/// ```
/// let registry = perf_instrument::Registry::builder()
///     .const_label("service", "billing")
///     .const_label("instance", "a1")
///     .self_metrics(false)
///     .process_metrics(false)
///     .build()
///     .unwrap();
/// assert_eq!(registry.const_labels().len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RegistryBuilder {
    const_labels: Vec<(String, String)>,
    no_self_metrics: bool,
    no_process_metrics: bool,
    service_version: Option<String>,
    revision: Option<String>,
    namespace: Option<String>,
}

impl RegistryBuilder {
    /// Adds a label carried by every series of the registry (`service`, `instance`).
    ///
    /// ```
    /// let b = perf_instrument::Registry::builder().const_label("service", "x");
    /// assert!(b.build().is_ok());
    /// ```
    #[must_use]
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Whether to register the crate's self metrics (default: yes).
    ///
    /// ```
    /// let r = perf_instrument::Registry::builder().self_metrics(false).build().unwrap();
    /// assert!(r.snapshot().value("perf_instrument_build_info", &[]).is_none());
    /// # let _ = r;
    /// ```
    #[must_use]
    pub fn self_metrics(mut self, on: bool) -> Self {
        self.no_self_metrics = !on;
        self
    }

    /// Whether to register the process collector (default: yes, on Linux).
    ///
    /// ```
    /// let r = perf_instrument::Registry::builder().process_metrics(false).build().unwrap();
    /// # let _ = r;
    /// # let _ = r;
    /// ```
    #[must_use]
    pub fn process_metrics(mut self, on: bool) -> Self {
        self.no_process_metrics = !on;
        self
    }

    /// A namespace: every family registered in this registry is exported as
    /// `<namespace>_<name>` — the instruments' (`billing_queue_wait_seconds`), `#[timed]`'s, the
    /// facade's and the service's own — except the exporter's own `perf_instrument_*` families
    /// and the standard `process_*` ones, which keep the names that dashboards and alerts across
    /// services expect. Families a [`Collector`] describes keep the names it gives them. Name
    /// lookups on the registry and its snapshots take the exported name; the report finds the
    /// instruments' families under the namespace by itself.
    ///
    /// ```
    /// use perf_instrument::{QueueProbe, Registry};
    /// let registry = Registry::builder().namespace("billing").build().unwrap();
    /// let probe = QueueProbe::new(&registry, "jobs").unwrap();
    /// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    /// assert!(text.contains("billing_queue_depth{queue=\"jobs\"} 0"));
    /// assert!(text.contains("perf_instrument_scrapes_total"));
    /// assert!(Registry::builder().namespace("9lives").build().is_err());
    /// # drop(probe);
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The service's version, exported as the `service_version` label of
    /// `perf_instrument_build_info` (beside this crate's `version`). The build info is exported
    /// whenever self metrics are on, or a service version or revision is given.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::builder()
    ///     .service_version("1.4.2")
    ///     .revision("9f1c2e7")
    ///     .build()
    ///     .unwrap();
    /// let info = [("version", env!("CARGO_PKG_VERSION")), ("service_version", "1.4.2"), ("revision", "9f1c2e7")];
    /// assert_eq!(registry.snapshot().value("perf_instrument_build_info", &info), Some(1.0));
    /// ```
    #[must_use]
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// The revision (commit) of the service's code, exported as the `revision` label of
    /// `perf_instrument_build_info`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::builder().revision("9f1c2e7").self_metrics(false).build().unwrap();
    /// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    /// assert!(text.contains(r#"revision="9f1c2e7""#));
    /// ```
    #[must_use]
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Builds the registry.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidLabelName`] for an invalid or repeated constant label name, or
    /// one that a built-in family uses as its own label: `family`
    /// (`perf_instrument_series_overflow_total{family}`) while self metrics are on.
    ///
    /// ```
    /// use perf_instrument::Registry;
    /// assert!(Registry::builder().const_label("le", "x").build().is_err());
    /// assert!(Registry::builder().const_label("family", "x").build().is_err());
    /// let quiet = Registry::builder().const_label("family", "x").self_metrics(false);
    /// assert!(quiet.build().is_ok());
    /// ```
    pub fn build(self) -> Result<Registry, RegistryError> {
        if let Some(ns) = &self.namespace {
            name::check_metric_name(ns)?;
        }
        let build_info =
            (!self.no_self_metrics || self.service_version.is_some() || self.revision.is_some())
                .then(|| {
                    self_metrics::BuildInfo::new(
                        self.service_version.clone().unwrap_or_default(),
                        self.revision.clone().unwrap_or_default(),
                    )
                });
        name::check_label_names(
            "(constant labels)",
            self.const_labels.iter().map(|(n, _)| n.as_str()),
            &[],
        )?;
        let registry = Registry {
            inner: Arc::new(Inner {
                const_labels: self.const_labels,
                namespace: self.namespace.map(|n| n + "_").unwrap_or_default(),
                state: RwLock::new(State::default()),
                self_metrics: OnceLock::new(),
                panicked: Mutex::new(std::collections::HashSet::new()),
                render_bytes: std::sync::atomic::AtomicUsize::new(0),
            }),
        };
        if !self.no_self_metrics {
            let metrics = SelfMetrics::register(&registry)?;
            let _ = registry.inner.self_metrics.set(metrics);
        }
        if !self.no_process_metrics {
            process::register_process_collector(&registry)?;
        }
        if let Some(info) = build_info {
            info.register(&registry)?;
        }
        Ok(registry)
    }
}

static DEFAULT: LazyLock<Registry> = LazyLock::new(Registry::new);

impl Registry {
    /// A registry with self metrics and (on Linux) process metrics, no constant labels.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// assert!(registry.const_labels().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        // Without constant labels nothing can fail: the built-in names are valid.
        Self::builder().build().unwrap_or_else(|_| Self::bare())
    }

    fn bare() -> Self {
        Self {
            inner: Arc::new(Inner {
                const_labels: Vec::new(),
                namespace: String::new(),
                state: RwLock::new(State::default()),
                self_metrics: OnceLock::new(),
                panicked: Mutex::new(std::collections::HashSet::new()),
                render_bytes: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    /// A builder for constant labels and built-in collectors.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::builder().build().unwrap();
    /// # let _ = registry;
    /// ```
    #[must_use]
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The process-wide registry, created on first use; what [`serve`](crate::serve) exposes.
    ///
    /// ```
    /// let c = perf_instrument::Registry::global().counter("app_starts", "Starts.").unwrap();
    /// c.inc();
    /// ```
    #[must_use]
    pub fn global() -> &'static Registry {
        &DEFAULT
    }

    /// The constant labels.
    ///
    /// ```
    /// let r = perf_instrument::Registry::builder().const_label("a", "b").build().unwrap();
    /// assert_eq!(r.const_labels(), [("a".to_string(), "b".to_string())]);
    /// ```
    #[must_use]
    pub fn const_labels(&self) -> &[(String, String)] {
        &self.inner.const_labels
    }

    /// Registers (or finds) a counter family.
    ///
    /// # Errors
    ///
    /// See [`RegistryError`]: invalid names, a name ending with another type's sample suffix, a
    /// unit without its suffix, a label name that is also a constant label, another family of
    /// this name with another shape, or a sample-name collision.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::new();
    /// let a = registry.register_counter(Opts::new("jobs", "Jobs.").labels(["kind"])).unwrap();
    /// let b = registry.register_counter(Opts::new("jobs", "Jobs.").labels(["kind"])).unwrap();
    /// a.with_label_values(&["x"]).inc();
    /// assert_eq!(b.with_label_values(&["x"]).get(), 1); // the same family
    /// assert!(registry.register_gauge(Opts::new("jobs", "Jobs.")).is_err());
    /// ```
    pub fn register_counter(&self, opts: Opts) -> Result<Family<Counter>, RegistryError> {
        self.register_family(Descriptor::new(
            MetricKind::Counter,
            self.in_namespace(opts),
        )?)
    }

    /// Registers (or finds) a gauge family.
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::new();
    /// let depth = registry.register_gauge(Opts::new("queue_depth", "Items queued.").labels(["queue"])).unwrap();
    /// depth.with_label_values(&["ingest"]).add(3);
    /// ```
    pub fn register_gauge(&self, opts: Opts) -> Result<Family<Gauge>, RegistryError> {
        self.register_family(Descriptor::new(MetricKind::Gauge, self.in_namespace(opts))?)
    }

    /// Registers (or finds) a histogram family; its histograms have the family's unit.
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry, Unit};
    /// let registry = Registry::new();
    /// let sizes = registry
    ///     .register_histogram(Opts::new("batch_size", "Items per batch.").labels(["batch"]))
    ///     .unwrap();
    /// sizes.with_label_values(&["wal"]).record(17);
    /// ```
    pub fn register_histogram(&self, opts: Opts) -> Result<Family<Histogram>, RegistryError> {
        self.register_family(Descriptor::new(
            MetricKind::Histogram,
            self.in_namespace(opts),
        )?)
    }

    /// Registers (or finds) a family of gauges computed at scrape time ([`FnGauge`]).
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry, Unit};
    /// let registry = Registry::new();
    /// let age = registry
    ///     .register_fn_gauge(Opts::new("oldest_job_age_seconds", "Age.").unit(Unit::Seconds))
    ///     .unwrap();
    /// age.with_label_values(&[]).set_fn(|| Some(0.25));
    /// ```
    pub fn register_fn_gauge(&self, opts: Opts) -> Result<Family<FnGauge>, RegistryError> {
        self.register_family(Descriptor::new(MetricKind::Gauge, self.in_namespace(opts))?)
    }

    /// A counter without labels (shorthand for a one-series family).
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let c = registry.counter("cache_hits", "Cache hits.").unwrap();
    /// c.inc();
    /// ```
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, RegistryError> {
        Ok(self
            .register_counter(Opts::new(name, help))?
            .with_label_values(&[]))
    }

    /// A gauge without labels.
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// registry.gauge("workers", "Worker threads.").unwrap().set(8);
    /// ```
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, RegistryError> {
        Ok(self
            .register_gauge(Opts::new(name, help))?
            .with_label_values(&[]))
    }

    /// A histogram without labels, in `unit` (the name must carry the unit's suffix).
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    ///
    /// ```
    /// use perf_instrument::{Registry, Unit};
    /// let registry = Registry::new();
    /// let h = registry.histogram("flush_duration_seconds", "Flush time.", Unit::Seconds).unwrap();
    /// h.record(1_000_000);
    /// assert!(registry.histogram("flush_duration", "Flush time.", Unit::Seconds).is_err());
    /// ```
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        unit: Unit,
    ) -> Result<Histogram, RegistryError> {
        Ok(self
            .register_histogram(Opts::new(name, help).unit(unit))?
            .with_label_values(&[]))
    }

    /// Registers a collector whose families are computed at scrape time.
    ///
    /// # Errors
    ///
    /// A name collision with a family already registered (see [`Collector`]), or a described
    /// label name that is also a constant label.
    ///
    /// ```
    /// # use perf_instrument::*; use std::sync::Arc;
    /// struct Nothing;
    /// impl Collector for Nothing {
    ///     fn describe(&self) -> Vec<Arc<Descriptor>> { vec![] }
    ///     fn collect(&self, _: &mut Vec<FamilySnapshot>) {}
    /// }
    /// Registry::new().register_collector(Arc::new(Nothing)).unwrap();
    /// ```
    pub fn register_collector(&self, collector: Arc<dyn Collector>) -> Result<(), RegistryError> {
        let descs = collector.describe();
        let mut state = self.write();
        let mut names = HashMap::new();
        for desc in &descs {
            self.check_const_labels(desc)?;
            Self::check_free(&state, desc)?;
            for sample in desc.sample_names() {
                if let Some(existing) = names.insert(sample.clone(), desc.name().to_string()) {
                    return Err(RegistryError::NameCollision {
                        name: desc.name().to_string(),
                        series: sample,
                        existing,
                    });
                }
            }
        }
        let index = state.sources.len();
        for desc in &descs {
            state.by_name.insert(desc.name().to_string(), index);
        }
        state.sample_names.extend(names);
        state.sources.push(Source::Collector { collector, descs });
        Ok(())
    }

    /// Snapshots of every family, in registration order (what exposition renders).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// registry.counter("a", "A.").unwrap().inc();
    /// let families = registry.collect();
    /// assert_eq!(families.len(), 1);
    /// assert_eq!(families[0].desc.name(), "a");
    /// ```
    #[must_use]
    pub fn collect(&self) -> Vec<FamilySnapshot> {
        let mut out = Vec::new();
        self.for_each_family(|family| out.push(family.clone()));
        out
    }

    /// Every family now, with the time it was taken (see [`RegistrySnapshot`]).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let snapshot = registry.snapshot();
    /// assert!(snapshot.family("perf_instrument_scrapes").is_some());
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> RegistrySnapshot {
        RegistrySnapshot {
            namespace: self.inner.namespace.clone(),
            families: self.collect(),
            taken_at: std::time::Instant::now(),
            wall: std::time::SystemTime::now(),
        }
    }

    /// Calls `f` with each family's snapshot in turn, holding one family's snapshot at a time
    /// (what exposition renders from, so a scrape's memory is one family's, not the registry's).
    pub(crate) fn for_each_family(&self, mut f: impl FnMut(&FamilySnapshot)) {
        // Copy the list under the lock, collect outside it: registration never waits on a
        // scrape's snapshots.
        let sources = self.read().sources.clone();
        let mut batch = Vec::new();
        for source in &sources {
            batch.clear();
            // A panicking `FnGauge` callback or collector costs its own families in this
            // scrape, counted and logged once, never the scrape.
            let collected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                match source {
                    Source::Family { family, .. } => family.collect(&mut batch),
                    Source::Collector { collector, descs } => {
                        collector.collect(&mut batch);
                        // Keep only what was described, so a collector cannot emit a family
                        // that escaped validation.
                        batch.retain(|family| {
                            descs
                                .iter()
                                .any(|d| Arc::ptr_eq(d, &family.desc) || **d == *family.desc)
                        });
                    }
                }
            }));
            if collected.is_err() {
                batch.clear();
                self.collect_panicked(source);
                continue;
            }
            batch.iter().for_each(&mut f);
        }
    }

    /// Counts (and the first time, logs) a family or collector that panicked while collected.
    fn collect_panicked(&self, source: &Source) {
        let name = match source {
            Source::Family { desc, .. } => desc.name(),
            Source::Collector { descs, .. } => descs.first().map_or("(collector)", |d| d.name()),
        };
        if let Some(metrics) = self.self_metrics() {
            metrics.record_collect_panic(name);
        }
        // Logged once per family (the set is bounded by the registered families), whether or
        // not self metrics count it, so a callback that panics on every scrape cannot flood
        // the log.
        let first = lock(&self.inner.panicked).insert(name.to_string());
        if first {
            tracing::warn!(
                family = name,
                "collecting this family panicked; it is left out of scrapes while it panics \
                 (counted in perf_instrument_collect_panics_total)"
            );
        }
    }

    /// Number of series across families (a collector counts one per family it describes).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// registry.gauge("g", "G.").unwrap();
    /// assert_eq!(registry.series_count(), 1);
    /// ```
    #[must_use]
    pub fn series_count(&self) -> usize {
        let sources = self.read().sources.clone();
        sources
            .iter()
            .map(|s| match s {
                Source::Family { family, .. } => family.series_count(),
                Source::Collector { descs, .. } => descs.len(),
            })
            .sum()
    }

    /// Bytes the series of this registry's families hold now (recorders and label values;
    /// collectors' data is their own). Exported as `perf_instrument_memory_bytes` with the
    /// self metrics.
    ///
    /// ```
    /// use perf_instrument::{Opts, Registry};
    /// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// assert_eq!(registry.memory_bytes(), 0);
    /// registry.register_histogram(Opts::new("x_bytes", "X.")).unwrap().with_label_values(&[]).record(1);
    /// assert!(registry.memory_bytes() > 0);
    /// ```
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.tallies()
            .iter()
            .map(|(_, tally)| tally.memory_bytes)
            .sum()
    }

    /// Each family's name and [`Tally`], in one walk of each family's series.
    pub(crate) fn tallies(&self) -> Vec<(Arc<Descriptor>, Tally)> {
        let sources = self.read().sources.clone();
        sources
            .iter()
            .filter_map(|s| match s {
                Source::Family { desc, family } => Some((desc.clone(), family.tally())),
                Source::Collector { .. } => None,
            })
            .collect()
    }

    /// `opts` with the registry's namespace in front of its name, unless it is the exporter's
    /// own or a standard process family.
    fn in_namespace(&self, opts: Opts) -> Opts {
        let ns = &self.inner.namespace;
        let name = opts.name();
        if ns.is_empty() || name.starts_with("perf_instrument_") || name.starts_with("process_") {
            return opts;
        }
        let name = format!("{ns}{name}");
        opts.renamed(name)
    }

    /// Records that `timer` times stages `stages` of `pipeline`, all or none. Timers of one
    /// kind share a stage (two `Pipeline`s of one name, or two `#[timed]` functions); a
    /// `Pipeline` and a function do not.
    pub(crate) fn claim_stages<S: AsRef<str>>(
        &self,
        pipeline: &str,
        stages: &[S],
        timer: &StageTimer,
    ) -> Result<(), RegistryError> {
        let mut state = self.write();
        for stage in stages {
            let key = (pipeline.to_string(), stage.as_ref().to_string());
            let clash = match (state.stage_claims.get(&key), timer) {
                (None, _)
                | (Some(StageTimer::Pipeline), StageTimer::Pipeline)
                | (Some(StageTimer::Function(_)), StageTimer::Function(_)) => None,
                (Some(StageTimer::Pipeline), _) => Some(format!("the Pipeline {pipeline:?}")),
                (Some(StageTimer::Function(f)), _) => Some(format!("#[timed] fn {f}")),
            };
            if let Some(by) = clash {
                return Err(RegistryError::StageTimedTwice {
                    pipeline: pipeline.to_string(),
                    stage: key.1,
                    by,
                });
            }
        }
        for stage in stages {
            let key = (pipeline.to_string(), stage.as_ref().to_string());
            state
                .stage_claims
                .entry(key)
                .or_insert_with(|| timer.clone());
        }
        Ok(())
    }

    /// Bytes of the last render (0 before the first).
    pub(crate) fn last_render_bytes(&self) -> usize {
        self.inner
            .render_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_last_render_bytes(&self, bytes: usize) {
        self.inner
            .render_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn self_metrics(&self) -> Option<&SelfMetrics> {
        self.inner.self_metrics.get()
    }

    /// A reference that does not keep the registry alive (for collectors it owns).
    pub(crate) fn downgrade(&self) -> WeakRegistry {
        WeakRegistry(Arc::downgrade(&self.inner))
    }

    fn register_family<M: Series>(&self, desc: Descriptor) -> Result<Family<M>, RegistryError> {
        self.check_const_labels(&desc)?;
        let mut state = self.write();
        if let Some(&i) = state.by_name.get(desc.name()) {
            return match &state.sources[i] {
                Source::Family {
                    desc: existing,
                    family,
                } if existing.same_shape(&desc) => family
                    .as_any()
                    .downcast_ref::<Family<M>>()
                    .cloned()
                    .ok_or_else(|| mismatch(existing, &desc)),
                Source::Family { desc: existing, .. } => Err(mismatch(existing, &desc)),
                Source::Collector { descs, .. } => {
                    let existing = descs.iter().find(|d| d.name() == desc.name());
                    Err(match existing {
                        Some(existing) => mismatch(existing, &desc),
                        None => RegistryError::NameCollision {
                            name: desc.name().to_string(),
                            series: desc.name().to_string(),
                            existing: "a collector".to_string(),
                        },
                    })
                }
            };
        }
        Self::check_free(&state, &desc)?;
        let overflow = self.self_metrics().map(SelfMetrics::overflow_family);
        let desc = Arc::new(desc);
        let family = Family::<M>::new(desc.clone(), overflow);
        let index = state.sources.len();
        state.by_name.insert(desc.name().to_string(), index);
        for sample in desc.sample_names() {
            state.sample_names.insert(sample, desc.name().to_string());
        }
        state.sources.push(Source::Family {
            desc,
            family: Arc::new(family.clone()),
        });
        Ok(family)
    }

    /// Errors if one of `desc`'s label names is also a constant label: its series would carry
    /// the label twice.
    fn check_const_labels(&self, desc: &Descriptor) -> Result<(), RegistryError> {
        name::check_against_const_labels(
            desc.name(),
            desc.label_names().iter().map(String::as_str),
            &self.inner.const_labels,
        )
    }

    /// Errors if `desc`'s name or any of its sample names is taken.
    fn check_free(state: &State, desc: &Descriptor) -> Result<(), RegistryError> {
        if let Some(&i) = state.by_name.get(desc.name()) {
            let existing = match &state.sources[i] {
                Source::Family { desc, .. } => desc.shape(),
                Source::Collector { .. } => "a collector's family".to_string(),
            };
            return Err(RegistryError::ShapeMismatch {
                name: desc.name().to_string(),
                existing,
                requested: desc.shape(),
            });
        }
        for sample in desc.sample_names() {
            if let Some(existing) = state.sample_names.get(&sample) {
                return Err(RegistryError::NameCollision {
                    name: desc.name().to_string(),
                    series: sample,
                    existing: existing.clone(),
                });
            }
        }
        Ok(())
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Nothing panics while holding the lock, so a poisoned lock still holds valid state.
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A [`Registry`] reference that does not keep it alive.
#[derive(Clone)]
pub(crate) struct WeakRegistry(Weak<Inner>);

impl WeakRegistry {
    pub(crate) fn upgrade(&self) -> Option<Registry> {
        self.0.upgrade().map(|inner| Registry { inner })
    }
}

fn mismatch(existing: &Descriptor, requested: &Descriptor) -> RegistryError {
    RegistryError::ShapeMismatch {
        name: requested.name().to_string(),
        existing: existing.shape(),
        requested: requested.shape(),
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("Registry")
            .field("const_labels", &self.inner.const_labels)
            .field("families", &state.by_name.len())
            .finish()
    }
}
