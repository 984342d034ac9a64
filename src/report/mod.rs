//! Layer 6: the report — what a load test ends with: percentile tables, one per table that the
//! histogram families of a snapshot name in their descriptors (see [`TableSpec`]), and findings
//! that name the bottleneck, each with its evidence. It reads registry snapshots only.
//!
//! [`TableSpec`]: crate::TableSpec

mod finding;
mod findings;
mod history;
#[cfg(feature = "html")]
mod html;
mod machine;
mod resources;
mod saturation;
mod text;
mod window;

pub use finding::{sort_findings, Finding, FindingKind, Severity, Threshold};
pub use history::ReportHistory;
#[cfg(feature = "html")]
pub use html::live_page;
pub use machine::Machine;
pub use resources::{
    MemoryUse, ResourceUse, CPU_THRESHOLD, IO_THRESHOLD, MEMORY_THRESHOLD, TARGET_SHARE,
};
pub use saturation::{Utilisation, MIN_QUEUE_GROWTH, SATURATED_UTILISATION};

use crate::registry::{Registry, RegistrySnapshot};
use serde::Serialize;
use std::collections::BTreeMap;
use window::Window;

/// One line of a report table: a stage, queue, lock, saga outcome, function, batch kind, ...
/// — one series of a tabled histogram family.
///
/// ```
/// use perf_instrument::{Pipeline, Registry, Report};
/// let registry = Registry::new();
/// let p = Pipeline::builder("orders").stages(["enrich"]).build(&registry).unwrap();
/// let enrich = p.stage("enrich").unwrap();
/// let mut event = p.begin();
/// p.time_stage(&mut event, enrich, || ());
/// p.finish(event);
/// let report = Report::from_registry(&registry);
/// let row = report.table("stages").unwrap().iter().find(|r| r.name == "orders/enrich").unwrap();
/// assert_eq!(row.count, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// What the row measures (`pipeline/stage`, a queue, a lock, `saga/outcome`, ...).
    pub name: String,
    /// Observations in the window.
    pub count: u64,
    /// Observations per second over the window (`None` without a window).
    pub rate_per_second: Option<f64>,
    /// Quantiles and maximum, in `unit`.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest observation.
    pub max: Option<f64>,
    /// `seconds` or `items`.
    pub unit: &'static str,
    /// The percentile spectrum: the value at each of [`SPECTRUM_QUANTILES`], then the maximum
    /// (quantile 1), for a latency-against-percentile plot. Absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spectrum: Vec<SpectrumPoint>,
}

/// The quantiles of a row's [`spectrum`](Row::spectrum), before the maximum: the median out to
/// four nines, as an HdrHistogram percentile plot shows them.
///
/// ```
/// assert_eq!(perf_instrument::SPECTRUM_QUANTILES.last(), Some(&0.9999));
/// ```
pub const SPECTRUM_QUANTILES: [f64; 9] = [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999];

/// One point of a percentile spectrum: the value at or below which `quantile` of the
/// observations fall (`quantile` 1 is the maximum).
///
/// ```
/// let p = perf_instrument::SpectrumPoint { quantile: 0.99, value: 0.004 };
/// assert_eq!(serde_json::to_value(p).unwrap()["quantile"], 0.99);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SpectrumPoint {
    /// Fraction of the observations, 0.5 to 1.
    pub quantile: f64,
    /// The value there, in the row's unit.
    pub value: f64,
}

/// The spectrum of one histogram: a point per [`SPECTRUM_QUANTILES`] it answers, then the
/// maximum.
pub(crate) fn spectrum(
    quantile: impl Fn(f64) -> Option<f64>,
    max: Option<f64>,
) -> Vec<SpectrumPoint> {
    SPECTRUM_QUANTILES
        .iter()
        .filter_map(|&q| quantile(q).map(|value| SpectrumPoint { quantile: q, value }))
        .chain(max.map(|value| SpectrumPoint {
            quantile: 1.0,
            value,
        }))
        .filter(|p| p.value.is_finite())
        .collect()
}

/// A named table of rows.
///
/// ```
/// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
/// for table in report.tables() {
///     println!("{}: {} rows", table.title, table.rows.len());
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// The crate's tables, in order: `stages`, `queues`, `lock waits`, `lock holds`, `sagas`,
    /// `functions`, `batches`, `batch durations`, `pending completions`, `long tasks`,
    /// `saga steps`; or the title of a user's [`TableSpec`](crate::TableSpec).
    pub title: &'static str,
    /// The rows: by the rank of their family's table spec, then in the order their series were
    /// registered.
    pub rows: Vec<Row>,
}

/// A performance report of a registry: cumulative ([`from_registry`](Report::from_registry),
/// [`from_snapshot`](Report::from_snapshot)) or over the window between two snapshots
/// ([`between`](Report::between)). Printing it is one call; [`to_json`](Report::to_json) gives
/// the same for tools.
///
/// Tables: per pipeline stage (and end to end), queue wait, lock wait and hold, saga duration
/// by outcome, function duration (`#[timed]`), batch size and duration, pending completion,
/// long task, saga step, and any table a user's family names with
/// [`Opts::report_table`](crate::Opts::report_table) — rate, p50, p95, p99, p99.9, max.
/// Findings, each with its evidence: the stage with the largest share of end-to-end time, a
/// queue whose depth grows, the most contended lock and its call sites, holds past a
/// watchdog threshold, stuck sagas and a low completion ratio, orphaned pending entries,
/// panics in background threads. The machine, the build profile and the run's configuration
/// ([`with_config`](Report::with_config)) come first, as an honest benchmark report should.
///
/// ```
/// use perf_instrument::{QueueProbe, Registry, Report};
/// let registry = Registry::new();
/// let probe = QueueProbe::new(&registry, "ingest").unwrap();
/// let before = registry.snapshot();
/// for _ in 0..100 {
///     let _ = probe.submit(); // submitted, never picked up
/// }
/// let after = registry.snapshot();
/// let report = Report::between(&before, &after);
/// assert!(report.findings().iter().any(|f| f.kind == perf_instrument::FindingKind::GrowingQueue));
/// println!("{report}");
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    machine: Machine,
    config: BTreeMap<String, String>,
    window_seconds: Option<f64>,
    generated_at_unix: f64,
    tables: Vec<Table>,
    utilisation: Vec<Utilisation>,
    resources: ResourceUse,
    /// Events per second finished by the pipelines (end to end) over the window.
    throughput_per_second: Option<f64>,
    findings: Vec<Finding>,
}

impl Report {
    /// A cumulative report of everything `registry` recorded so far.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.findings().is_empty());
    /// ```
    #[must_use]
    pub fn from_registry(registry: &Registry) -> Self {
        Self::from_snapshot(&registry.snapshot())
    }

    /// A cumulative report of one snapshot.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let report = perf_instrument::Report::from_snapshot(&registry.snapshot());
    /// assert_eq!(report.window_seconds(), None);
    /// ```
    #[must_use]
    pub fn from_snapshot(snapshot: &RegistrySnapshot) -> Self {
        Self::build(&Window::new(None, snapshot))
    }

    /// A report of what happened between two snapshots of one registry (rates per second,
    /// quantiles of the window's observations, growth of queues and orphans).
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let a = registry.snapshot();
    /// let b = registry.snapshot();
    /// assert!(perf_instrument::Report::between(&a, &b).window_seconds().is_some());
    /// ```
    #[must_use]
    pub fn between(earlier: &RegistrySnapshot, later: &RegistrySnapshot) -> Self {
        Self::build(&Window::new(Some(earlier), later))
    }

    fn build(window: &Window<'_>) -> Self {
        let generated_at_unix = window
            .later
            .wall_time()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let utilisation = saturation::utilisation(window);
        let resources = resources::resource_use(window);
        let mut findings = findings::find(window, &utilisation);
        resources::resource_findings(&resources, &mut findings);
        sort_findings(&mut findings);
        let throughput_per_second = window.seconds.filter(|s| *s > 0.0).map(|s| {
            window
                .histograms(&crate::instrument::families::pipeline::END_TO_END)
                .iter()
                .map(|(_, h)| h.count() as f64)
                .sum::<f64>()
                / s
        });
        Self {
            machine: Machine::current(),
            config: BTreeMap::new(),
            window_seconds: window.seconds,
            generated_at_unix,
            tables: window.tables(),
            findings,
            utilisation,
            resources,
            throughput_per_second,
        }
    }

    /// The machine the report was made on.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.machine().cores >= 1);
    /// ```
    #[must_use]
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Adds a line of the run's configuration (rate, threads, payload size, ...): printed under
    /// the machine, and in the JSON's `config` object. A key given twice keeps the last value.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new())
    ///     .with_config("rate", "400/s")
    ///     .with_config("threads", 2);
    /// assert_eq!(report.config().get("threads").map(String::as_str), Some("2"));
    /// assert!(report.to_string().contains("config: rate=400/s, threads=2"));
    /// ```
    #[must_use]
    pub fn with_config(mut self, key: impl Into<String>, value: impl std::fmt::Display) -> Self {
        self.config.insert(key.into(), value.to_string());
        self
    }

    /// The run's configuration, as given to [`with_config`](Report::with_config).
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.config().is_empty());
    /// ```
    #[must_use]
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    /// The window's length, for [`between`](Report::between) reports.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.window_seconds().is_none());
    /// ```
    #[must_use]
    pub fn window_seconds(&self) -> Option<f64> {
        self.window_seconds
    }

    /// The tables, non-empty ones only.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.tables().iter().all(|t| !t.rows.is_empty()));
    /// ```
    #[must_use]
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The rows of table `title` (`stages`, `queues`, `lock waits`, `lock holds`, `sagas`,
    /// `functions`, `batches`, `batch durations`, `pending completions`, `long tasks`,
    /// `saga steps`, or a user's), if it has any.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.table("stages").is_none());
    /// ```
    #[must_use]
    pub fn table(&self, title: &str) -> Option<&[Row]> {
        self.tables
            .iter()
            .find(|t| t.title == title)
            .map(|t| t.rows.as_slice())
    }

    /// The utilisation of every pipeline stage with declared workers
    /// ([`PipelineBuilder::workers`](crate::PipelineBuilder::workers)): busy time over wall
    /// time × workers, and its input queue's depth at both ends of the window.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.utilisation().is_empty());
    /// ```
    #[must_use]
    pub fn utilisation(&self) -> &[Utilisation] {
        &self.utilisation
    }

    /// What the machine and the process used over the window ([`Resources`](crate::Resources)
    /// registered, Linux).
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.resources().memory.is_empty());
    /// ```
    #[must_use]
    pub fn resources(&self) -> &ResourceUse {
        &self.resources
    }

    /// The throughput the run aims at, in events per second: the CPU finding stands only when
    /// the pipelines finished fewer than 80% of it ([`TARGET_SHARE`]) — a busy CPU that meets
    /// its target is not a bottleneck. Without a target the CPU finding stands on CPU alone.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new())
    ///     .with_target_throughput(500.0);
    /// assert_eq!(report.config().get("target_throughput").map(String::as_str), Some("500/s"));
    /// ```
    #[must_use]
    pub fn with_target_throughput(mut self, per_second: f64) -> Self {
        self.config
            .insert("target_throughput".into(), format!("{per_second}/s"));
        let achieved = self.throughput_per_second;
        self.findings.retain_mut(|f| {
            if f.kind != FindingKind::CpuSaturated {
                return true;
            }
            match achieved {
                Some(a) if a >= TARGET_SHARE * per_second => false,
                Some(a) => {
                    f.evidence.push(format!(
                        "throughput {a:.1}/s, {} of the target {per_second}/s",
                        text::ratio(a / per_second)
                    ));
                    true
                }
                None => true,
            }
        });
        self
    }

    /// The findings, most important first.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// assert!(report.findings().is_empty());
    /// ```
    #[must_use]
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The report as JSON.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    /// assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    /// ```
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as Markdown (for a pull-request comment or a run's notes): the machine and
    /// configuration, one table per report table, then the findings by severity, each with its
    /// threshold, evidence and next step.
    ///
    /// ```
    /// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
    /// let md = report.to_markdown();
    /// assert!(md.starts_with("## perf-instrument"));
    /// assert!(md.contains("### Findings"));
    /// ```
    #[must_use]
    pub fn to_markdown(&self) -> String {
        text::markdown(self)
    }

    /// Prints the report to standard output.
    ///
    /// ```
    /// perf_instrument::Report::from_registry(&perf_instrument::Registry::new()).print();
    /// ```
    pub fn print(&self) {
        println!("{self}");
    }
}
