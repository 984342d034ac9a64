//! `prometheus-client` interop (feature `prometheus-client`): this crate's families inside a
//! service's `prometheus_client::registry::Registry`, so a service that already serves one
//! endpoint from prometheus-client keeps it.

use crate::registry::{MetricKind, Registry, SeriesValue};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::fmt;

/// A `prometheus_client` [`Collector`] of every family of a [`Registry`]: register it with
/// `prometheus_client::registry::Registry::register_collector` and the prometheus-client
/// endpoint serves this crate's pipelines, queues, locks and sagas beside its own metrics.
///
/// Counters are encoded as counters (prometheus-client adds `_total`), gauges as gauges,
/// histograms as classic histograms with the family's `le` bounds (prometheus-client's encoder
/// has no native buckets); the registry's constant labels come first on every series. A family
/// whose collection panics is left out, as in this crate's own exposition.
///
/// ```
/// use perf_instrument::{PrometheusClientCollector, QueueProbe, Registry};
/// let ours = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// let probe = QueueProbe::new(&ours, "jobs").unwrap();
/// let _ = probe.pickup(probe.submit());
///
/// let mut theirs = prometheus_client::registry::Registry::default();
/// theirs.register_collector(Box::new(PrometheusClientCollector::new(&ours)));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &theirs).unwrap();
/// assert!(text.contains("queue_wait_seconds_count{queue=\"jobs\"} 1"));
/// ```
#[derive(Clone)]
pub struct PrometheusClientCollector {
    registry: Registry,
}

impl PrometheusClientCollector {
    /// A collector of `registry`'s families (it shares the registry; later families appear
    /// too).
    ///
    /// ```
    /// let c = perf_instrument::PrometheusClientCollector::new(&perf_instrument::Registry::new());
    /// assert!(format!("{c:?}").contains("PrometheusClientCollector"));
    /// ```
    #[must_use]
    pub fn new(registry: &Registry) -> Self {
        Self {
            registry: registry.clone(),
        }
    }
}

impl fmt::Debug for PrometheusClientCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusClientCollector")
            .field("registry", &self.registry)
            .finish()
    }
}

impl Collector for PrometheusClientCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let const_labels = self.registry.const_labels();
        let mut cumulative = Vec::new();
        for family in self.registry.collect() {
            let desc = &family.desc;
            let metric_type = match desc.kind() {
                MetricKind::Counter => MetricType::Counter,
                MetricKind::Gauge => MetricType::Gauge,
                MetricKind::Histogram => MetricType::Histogram,
            };
            let mut metric =
                encoder.encode_descriptor(desc.name(), desc.help(), None, metric_type)?;
            let bounds = desc.buckets().upper_bounds(desc.unit());
            for series in &family.series {
                let labels: Vec<(String, String)> = const_labels
                    .iter()
                    .cloned()
                    .chain(
                        desc.label_names()
                            .iter()
                            .cloned()
                            .zip(series.label_values.iter().map(str::to_string)),
                    )
                    .collect();
                let mut out = metric.encode_family(&labels)?;
                match (&series.value, desc.kind()) {
                    (SeriesValue::Histogram(h), MetricKind::Histogram) => {
                        crate::recorder::ClassicSlots::default().cumulative(
                            desc.buckets().stored(),
                            h,
                            &mut cumulative,
                        );
                        // prometheus-client takes each bucket's own count and accumulates.
                        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(bounds.len() + 1);
                        let mut below = 0u64;
                        for (&bound, &at) in bounds.iter().zip(&cumulative) {
                            buckets.push((bound, at.saturating_sub(below)));
                            below = at;
                        }
                        buckets.push((f64::INFINITY, h.count().saturating_sub(below)));
                        out.encode_histogram::<NoLabelSet>(h.sum(), h.count(), &buckets, None)?;
                    }
                    (SeriesValue::Unsigned(v), MetricKind::Counter) => {
                        out.encode_counter::<NoLabelSet, _, u64>(v, None)?;
                    }
                    (SeriesValue::Float(v), MetricKind::Counter) => {
                        out.encode_counter::<NoLabelSet, _, f64>(v, None)?;
                    }
                    (SeriesValue::Signed(v), MetricKind::Counter) => {
                        out.encode_counter::<NoLabelSet, _, u64>(
                            &u64::try_from(*v).unwrap_or(0),
                            None,
                        )?;
                    }
                    (SeriesValue::Unsigned(v), MetricKind::Gauge) => {
                        out.encode_gauge(&i64::try_from(*v).unwrap_or(i64::MAX))?;
                    }
                    (SeriesValue::Signed(v), MetricKind::Gauge) => out.encode_gauge(v)?,
                    (SeriesValue::Float(v), MetricKind::Gauge) => out.encode_gauge(v)?,
                    // A value of another kind than its family's (only a collector can make one):
                    // left out rather than written wrong.
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
