//! The registry's own metrics: scrapes, their duration and size, series and overflows.

use super::{
    Collector, Descriptor, Family, FamilySnapshot, MetricKind, Opts, Registry, RegistryError,
    SeriesSnapshot, SeriesValue, Tally, WeakRegistry,
};
use crate::recorder::{Counter, Histogram, Unit};
use crate::registry::Buckets;
use std::sync::Arc;
use std::time::Duration;

/// `perf_instrument_build_info{version, service_version, revision} 1`: which build of this
/// crate and of the service is running (join it to other series by `instance`).
#[derive(Clone, Debug)]
pub(crate) struct BuildInfo {
    service_version: String,
    revision: String,
}

impl BuildInfo {
    pub(crate) fn new(service_version: String, revision: String) -> Self {
        Self {
            service_version,
            revision,
        }
    }

    pub(crate) fn register(&self, registry: &Registry) -> Result<(), RegistryError> {
        registry
            .register_gauge(
                Opts::new(
                    "perf_instrument_build_info",
                    "Always 1: the version of perf-instrument, and the service's version and \
                     revision when given.",
                )
                .labels(["version", "service_version", "revision"]),
            )?
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                &self.service_version,
                &self.revision,
            ])
            .set(1);
        Ok(())
    }
}

/// Handles to the self metrics of one registry.
#[derive(Clone, Debug)]
pub(crate) struct SelfMetrics {
    scrapes: Counter,
    duration: Histogram,
    bytes: Histogram,
    overflow: Family<Counter>,
    collect_panics: Family<Counter>,
}

impl SelfMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegistryError> {
        let scrapes = registry.counter(
            "perf_instrument_scrapes",
            "Exposition renders of this registry.",
        )?;
        let duration = registry
            .register_histogram(
                Opts::new(
                    "perf_instrument_scrape_duration_seconds",
                    "Time to collect and render this registry.",
                )
                .unit(Unit::Seconds),
            )?
            .with_label_values(&[]);
        let bytes = registry
            .register_histogram(
                Opts::new(
                    "perf_instrument_render_bytes",
                    "Size of rendered expositions, before compression.",
                )
                .unit(Unit::Bytes)
                .buckets(Buckets::from_values(
                    Unit::Bytes,
                    &(10..=26).map(|e| f64::from(1u32 << e)).collect::<Vec<_>>(),
                )),
            )?
            .with_label_values(&[]);
        let overflow = registry.register_counter(
            Opts::new(
                "perf_instrument_series_overflow",
                "Lookups of a label set folded into a family's overflow series, by family.",
            )
            .labels(["family"]),
        )?;
        let collect_panics = registry.register_counter(
            Opts::new(
                "perf_instrument_collect_panics",
                "Scrapes that left a family out because collecting it panicked (a panicking \
                 FnGauge callback or collector), by family.",
            )
            .labels(["family"]),
        )?;
        let series = Descriptor::new(
            MetricKind::Gauge,
            Opts::new("perf_instrument_series", "Series in this registry."),
        )?;
        registry.register_collector(Arc::new(SeriesCount {
            desc: Arc::new(series),
            registry: registry.downgrade(),
        }))?;
        let memory = Descriptor::new(
            MetricKind::Gauge,
            Opts::new(
                "perf_instrument_memory_bytes",
                "Bytes held by the series of this registry's families, as allocated now.",
            )
            .unit(Unit::Bytes),
        )?;
        let clamped = Descriptor::new(
            MetricKind::Counter,
            Opts::new(
                "perf_instrument_clamped_values",
                "Values recorded above a histogram's range (counted in its top bucket, added to \
                 its sum as recorded), by family.",
            )
            .labels(["family"]),
        )?;
        let refused = Descriptor::new(
            MetricKind::Counter,
            Opts::new(
                "perf_instrument_exemplars_refused",
                "Exemplars not kept (labels over 128 characters or invalid, or their slot busy \
                 at that instant), by family; the observations themselves were recorded.",
            )
            .labels(["family"]),
        )?;
        registry.register_collector(Arc::new(Tallies {
            memory: Arc::new(memory),
            clamped: Arc::new(clamped),
            refused: Arc::new(refused),
            registry: registry.downgrade(),
        }))?;
        Ok(Self {
            scrapes,
            duration,
            bytes,
            overflow,
            collect_panics,
        })
    }

    /// The family counting overflow lookups, by family.
    pub(crate) fn overflow_family(&self) -> Family<Counter> {
        self.overflow.clone()
    }

    /// Counts a panic while collecting `family`.
    pub(crate) fn record_collect_panic(&self, family: &str) {
        self.collect_panics.with_label_values(&[family]).inc();
    }

    /// Records one render.
    pub(crate) fn record_scrape(&self, took: Duration, bytes: usize) {
        self.scrapes.inc();
        self.duration.record_duration(took);
        self.bytes.record(bytes as u64);
    }
}

struct SeriesCount {
    desc: Arc<Descriptor>,
    registry: WeakRegistry,
}

impl Collector for SeriesCount {
    fn describe(&self) -> Vec<Arc<Descriptor>> {
        vec![self.desc.clone()]
    }

    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        if let Some(registry) = self.registry.upgrade() {
            let n = i64::try_from(registry.series_count()).unwrap_or(i64::MAX);
            out.push(FamilySnapshot {
                desc: self.desc.clone(),
                series: vec![SeriesSnapshot::new(Vec::new(), SeriesValue::Signed(n))],
            });
        }
    }
}

/// Three self metrics read from one walk of every family's series ([`Registry::tallies`]):
/// `perf_instrument_memory_bytes` (what [`Registry::memory_bytes`] reports), and per family
/// whose count is not zero `perf_instrument_clamped_values_total{family}` (values recorded
/// above a histogram family's range) and `perf_instrument_exemplars_refused_total{family}`.
struct Tallies {
    memory: Arc<Descriptor>,
    clamped: Arc<Descriptor>,
    refused: Arc<Descriptor>,
    registry: WeakRegistry,
}

impl Collector for Tallies {
    fn describe(&self) -> Vec<Arc<Descriptor>> {
        vec![
            self.memory.clone(),
            self.clamped.clone(),
            self.refused.clone(),
        ]
    }

    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let tallies = registry.tallies();
        let memory: usize = tallies.iter().map(|(_, t)| t.memory_bytes).sum();
        out.push(FamilySnapshot {
            desc: self.memory.clone(),
            series: vec![SeriesSnapshot::new(
                Vec::new(),
                SeriesValue::Signed(i64::try_from(memory).unwrap_or(i64::MAX)),
            )],
        });
        let by_family = |count: fn(&Tally) -> u64| -> Vec<SeriesSnapshot> {
            tallies
                .iter()
                .filter(|(_, t)| count(t) > 0)
                .map(|(desc, t)| {
                    SeriesSnapshot::new([desc.name()], SeriesValue::Unsigned(count(t)))
                })
                .collect()
        };
        out.push(FamilySnapshot {
            desc: self.clamped.clone(),
            series: by_family(|t| t.clamped),
        });
        out.push(FamilySnapshot {
            desc: self.refused.clone(),
            series: by_family(|t| t.exemplars_refused),
        });
    }
}
