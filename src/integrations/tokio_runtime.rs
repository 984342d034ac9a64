//! The tokio runtime collector (feature `tokio`): tokio's stable `RuntimeMetrics`, read at
//! scrape time, under the names tokio-metrics users know (prefixed `tokio_`, label `runtime`).
//!
//! Blocking-pool figures (`num_blocking_threads`, `blocking_queue_depth`) and poll-time
//! histograms need `--cfg tokio_unstable` in the service's build, so they are not exported.

use crate::registry::{
    Collector, Descriptor, FamilyDef, FamilySnapshot, Registry, RegistryError, SeriesSnapshot,
    SeriesValue,
};
use crate::sync::{lock, Mutex};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The catalogue entries of the runtime collector's families.
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::FamilyDef;

    /// Worker threads.
    pub(crate) const WORKERS: FamilyDef =
        FamilyDef::gauge("tokio_workers", "Worker threads of the tokio runtime.")
            .labels(&["runtime"])
            .not_tabled("a gauge");
    /// Tasks alive.
    pub(crate) const ALIVE_TASKS: FamilyDef = FamilyDef::gauge(
        "tokio_alive_tasks",
        "Tasks spawned on the runtime and not yet finished.",
    )
    .labels(&["runtime"])
    .not_tabled("a gauge");
    /// Global (injection) queue depth.
    pub(crate) const GLOBAL_QUEUE_DEPTH: FamilyDef = FamilyDef::gauge(
        "tokio_global_queue_depth",
        "Tasks waiting in the runtime's global queue.",
    )
    .labels(&["runtime"])
    .not_tabled("a gauge");
    /// Busy time per worker.
    pub(crate) const WORKER_BUSY: FamilyDef = FamilyDef::counter(
        "tokio_worker_busy_seconds",
        "Time each worker spent running tasks.",
    )
    .unit(Unit::Seconds)
    .labels(&["runtime", "worker"])
    .not_tabled("a counter");
    /// Busy ratio per worker since the previous scrape.
    pub(crate) const WORKER_BUSY_RATIO: FamilyDef = FamilyDef::gauge(
        "tokio_worker_busy_ratio",
        "Share of wall time each worker was busy, since the previous scrape.",
    )
    .labels(&["runtime", "worker"])
    .not_tabled("a gauge");
    /// Parks per worker.
    pub(crate) const WORKER_PARKS: FamilyDef = FamilyDef::counter(
        "tokio_worker_parks",
        "Times each worker parked (went idle).",
    )
    .labels(&["runtime", "worker"])
    .not_tabled("a counter");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &WORKERS,
        &ALIVE_TASKS,
        &GLOBAL_QUEUE_DEPTH,
        &WORKER_BUSY,
        &WORKER_BUSY_RATIO,
        &WORKER_PARKS,
    ];
}

/// Exports a tokio runtime's stable metrics at every scrape: `tokio_workers`,
/// `tokio_alive_tasks`, `tokio_global_queue_depth`, and per worker
/// `tokio_worker_busy_seconds_total`, `tokio_worker_busy_ratio` (busy time over wall time since
/// the previous scrape) and `tokio_worker_parks_total`, all with label `runtime`.
///
/// ```
/// use perf_instrument::{Registry, TokioRuntimeCollector};
/// let registry = Registry::new();
/// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// TokioRuntimeCollector::register(&registry, "main", runtime.handle()).unwrap();
/// let snapshot = registry.snapshot();
/// assert_eq!(snapshot.value("tokio_workers", &[("runtime", "main")]), Some(2.0));
/// ```
pub struct TokioRuntimeCollector {
    name: String,
    handle: tokio::runtime::Handle,
    descriptors: Vec<Arc<Descriptor>>,
    /// Busy time per worker and when it was read, at the previous scrape.
    previous: Mutex<(Instant, Vec<Duration>)>,
}

impl TokioRuntimeCollector {
    /// Registers a collector for the runtime behind `handle`, labelled `runtime=name`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the families clash with others in `registry`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// perf_instrument::TokioRuntimeCollector::register(&registry, "rt", runtime.handle()).unwrap();
    /// ```
    pub fn register(
        registry: &Registry,
        name: &str,
        handle: &tokio::runtime::Handle,
    ) -> Result<(), RegistryError> {
        let descriptors = families::ALL
            .iter()
            .map(|def| descriptor(def))
            .collect::<Result<Vec<_>, _>>()?;
        let metrics = handle.metrics();
        let busy = (0..metrics.num_workers())
            .map(|w| metrics.worker_total_busy_duration(w))
            .collect();
        registry.register_collector(Arc::new(Self {
            name: name.to_string(),
            handle: handle.clone(),
            descriptors,
            previous: Mutex::new((Instant::now(), busy)),
        }))
    }
}

fn descriptor(def: &FamilyDef) -> Result<Arc<Descriptor>, RegistryError> {
    Descriptor::new(def.kind(), def.opts()).map(Arc::new)
}

impl Collector for TokioRuntimeCollector {
    fn describe(&self) -> Vec<Arc<Descriptor>> {
        self.descriptors.clone()
    }

    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let metrics = self.handle.metrics();
        let workers = metrics.num_workers();
        let now = Instant::now();
        let busy: Vec<Duration> = (0..workers)
            .map(|w| metrics.worker_total_busy_duration(w))
            .collect();
        let ratios: Vec<f64> = {
            let mut previous = lock(&self.previous);
            let wall = now.saturating_duration_since(previous.0).as_secs_f64();
            let ratios = busy
                .iter()
                .enumerate()
                .map(|(w, b)| {
                    let before = previous.1.get(w).copied().unwrap_or_default();
                    let spent = b.saturating_sub(before).as_secs_f64();
                    if wall > 0.0 {
                        (spent / wall).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                })
                .collect();
            *previous = (now, busy.clone());
            ratios
        };
        let runtime = || vec![self.name.clone()];
        let per_worker = |w: usize| vec![self.name.clone(), w.to_string()];
        let one = |desc: &Arc<Descriptor>, value: SeriesValue| FamilySnapshot {
            desc: desc.clone(),
            series: vec![SeriesSnapshot::new(runtime(), value)],
        };
        let each = |desc: &Arc<Descriptor>, value: &dyn Fn(usize) -> SeriesValue| FamilySnapshot {
            desc: desc.clone(),
            series: (0..workers)
                .map(|w| SeriesSnapshot::new(per_worker(w), value(w)))
                .collect(),
        };
        let d = &self.descriptors;
        out.push(one(&d[0], SeriesValue::Signed(count(workers))));
        out.push(one(
            &d[1],
            SeriesValue::Signed(count(metrics.num_alive_tasks())),
        ));
        out.push(one(
            &d[2],
            SeriesValue::Signed(count(metrics.global_queue_depth())),
        ));
        out.push(each(&d[3], &|w| SeriesValue::Float(busy[w].as_secs_f64())));
        out.push(each(&d[4], &|w| SeriesValue::Float(ratios[w])));
        out.push(each(&d[5], &|w| {
            SeriesValue::Unsigned(metrics.worker_park_count(w))
        }));
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl fmt::Debug for TokioRuntimeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioRuntimeCollector")
            .field("runtime", &self.name)
            .finish_non_exhaustive()
    }
}
