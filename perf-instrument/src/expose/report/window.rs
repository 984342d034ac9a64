//! A window over one or two registry snapshots: deltas of counters and histograms, gauges at
//! both ends, and the report's tables.

use super::{Row, Table};
use crate::registry::{FamilySnapshot, MetricKind, RegistrySnapshot, SeriesValue};
use crate::{HistogramSnapshot, Unit};

/// Label name/value pairs of a series.
pub(crate) type Labels = Vec<(String, String)>;

pub(crate) struct Window<'a> {
    pub(crate) earlier: Option<&'a RegistrySnapshot>,
    pub(crate) later: &'a RegistrySnapshot,
    pub(crate) seconds: Option<f64>,
}

fn labels_of(family: &FamilySnapshot, values: &[String]) -> Labels {
    family
        .desc
        .label_names()
        .iter()
        .cloned()
        .zip(values.iter().cloned())
        .collect()
}

pub(crate) fn label<'l>(labels: &'l Labels, name: &str) -> &'l str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

fn scalar(value: &SeriesValue) -> Option<f64> {
    match value {
        SeriesValue::Unsigned(v) => Some(*v as f64),
        SeriesValue::Signed(v) => Some(*v as f64),
        SeriesValue::Float(v) => Some(*v),
        SeriesValue::Histogram(_) => None,
    }
}

impl<'a> Window<'a> {
    pub(crate) fn new(earlier: Option<&'a RegistrySnapshot>, later: &'a RegistrySnapshot) -> Self {
        let seconds = earlier.map(|e| {
            later
                .taken_at()
                .saturating_duration_since(e.taken_at())
                .as_secs_f64()
        });
        Self {
            earlier,
            later,
            seconds,
        }
    }

    fn earlier_series(&self, name: &str, labels: &Labels) -> Option<&'a SeriesValue> {
        let family = self.earlier?.family(name)?;
        family
            .series
            .iter()
            .find(|s| labels_of(family, &s.label_values) == *labels)
            .map(|s| &s.value)
    }

    /// Histograms of family `name` over the window (deltas when there is an earlier snapshot).
    pub(crate) fn histograms(&self, name: &str) -> Vec<(Labels, HistogramSnapshot)> {
        let Some(family) = self.later.family(name) else {
            return Vec::new();
        };
        family
            .series
            .iter()
            .filter_map(|s| {
                let SeriesValue::Histogram(later) = &s.value else {
                    return None;
                };
                let labels = labels_of(family, &s.label_values);
                let snap = match self.earlier_series(name, &labels) {
                    Some(SeriesValue::Histogram(earlier)) => later.delta(earlier),
                    _ => later.clone(),
                };
                Some((labels, snap))
            })
            .collect()
    }

    /// Counter values of family `name` over the window.
    pub(crate) fn counters(&self, name: &str) -> Vec<(Labels, f64)> {
        let Some(family) = self.later.family(name) else {
            return Vec::new();
        };
        family
            .series
            .iter()
            .filter_map(|s| {
                let later = scalar(&s.value)?;
                let labels = labels_of(family, &s.label_values);
                let earlier = self
                    .earlier_series(name, &labels)
                    .and_then(scalar)
                    .unwrap_or(0.0);
                Some((labels, (later - earlier).max(0.0)))
            })
            .collect()
    }

    /// Gauge values of family `name`: at the end, and at the start when there is one.
    pub(crate) fn gauges(&self, name: &str) -> Vec<(Labels, f64, Option<f64>)> {
        let Some(family) = self.later.family(name) else {
            return Vec::new();
        };
        family
            .series
            .iter()
            .filter_map(|s| {
                let later = scalar(&s.value)?;
                let labels = labels_of(family, &s.label_values);
                let earlier = self.earlier_series(name, &labels).and_then(scalar);
                Some((labels, later, earlier))
            })
            .collect()
    }

    fn rows(&self, family: &str, name: impl Fn(&Labels) -> String) -> Vec<Row> {
        let unit = match self.later.family(family) {
            Some(f) if f.desc.kind() == MetricKind::Histogram => f.desc.unit(),
            _ => return Vec::new(),
        };
        self.histograms(family)
            .into_iter()
            .filter(|(_, snap)| snap.count() > 0)
            .map(|(labels, snap)| Row {
                name: name(&labels),
                count: snap.count(),
                rate_per_second: self
                    .seconds
                    .filter(|s| *s > 0.0)
                    .map(|s| snap.count() as f64 / s),
                p50: snap.quantile(0.5),
                p95: snap.quantile(0.95),
                p99: snap.quantile(0.99),
                p999: snap.quantile(0.999),
                max: snap.max(),
                unit: match unit {
                    Unit::Seconds => "seconds",
                    Unit::Bytes => "bytes",
                    Unit::Count => "items",
                },
            })
            .collect()
    }

    pub(crate) fn tables(&self) -> Vec<Table> {
        let mut stages = self.rows("pipeline_stage_duration_seconds", |l| {
            format!("{}/{}", label(l, "pipeline"), label(l, "stage"))
        });
        stages.extend(self.rows("pipeline_end_to_end_duration_seconds", |l| {
            format!("{}/end_to_end", label(l, "pipeline"))
        }));
        let tables = vec![
            Table {
                title: "stages",
                rows: stages,
            },
            Table {
                title: "queues",
                rows: self.rows("queue_wait_seconds", |l| label(l, "queue").to_string()),
            },
            Table {
                title: "lock waits",
                rows: self.rows("lock_wait_seconds", |l| label(l, "lock").to_string()),
            },
            Table {
                title: "lock holds",
                rows: self.rows("lock_hold_seconds", |l| label(l, "lock").to_string()),
            },
            Table {
                title: "sagas",
                rows: self.rows("saga_duration_seconds", |l| {
                    format!("{}/{}", label(l, "saga"), label(l, "outcome"))
                }),
            },
            Table {
                title: "functions",
                rows: self.rows("function_duration_seconds", |l| {
                    format!("{}::{}", label(l, "module"), label(l, "function"))
                }),
            },
            Table {
                title: "batches",
                rows: self.rows("batch_size", |l| label(l, "batch").to_string()),
            },
        ];
        tables.into_iter().filter(|t| !t.rows.is_empty()).collect()
    }
}
