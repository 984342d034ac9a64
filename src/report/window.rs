//! A window over one or two registry snapshots: deltas of counters and histograms, gauges at
//! both ends, and the report's tables.

use super::{Row, Table};
use crate::registry::{FamilySnapshot, MetricKind, RegistrySnapshot, SeriesValue};
use crate::{HistogramSnapshot, Unit};
use std::collections::BTreeMap;

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

    /// Every series of family `name`: its labels, its value at the end, and at the start when
    /// there is an earlier snapshot holding it.
    fn series(&self, name: &str) -> Vec<(Labels, &'a SeriesValue, Option<&'a SeriesValue>)> {
        let Some(family) = self.later.family(name) else {
            return Vec::new();
        };
        let earlier = self.earlier.and_then(|e| e.family(name));
        family
            .series
            .iter()
            .map(|s| {
                let labels = labels_of(family, &s.label_values);
                let before = earlier.and_then(|f| {
                    f.series
                        .iter()
                        .find(|e| labels_of(f, &e.label_values) == labels)
                        .map(|e| &e.value)
                });
                (labels, &s.value, before)
            })
            .collect()
    }

    /// Histograms of family `name` over the window (deltas when there is an earlier snapshot).
    pub(crate) fn histograms(&self, name: &str) -> Vec<(Labels, HistogramSnapshot)> {
        self.series(name)
            .into_iter()
            .filter_map(|(labels, later, earlier)| {
                let SeriesValue::Histogram(later) = later else {
                    return None;
                };
                let snap = match earlier {
                    Some(SeriesValue::Histogram(earlier)) => later.delta(earlier),
                    _ => later.clone(),
                };
                Some((labels, snap))
            })
            .collect()
    }

    /// Histograms of family `name` as they stood at the start of the window (cumulative up to
    /// the earlier snapshot), keyed by labels; empty without an earlier snapshot.
    pub(crate) fn histograms_before(&self, name: &str) -> BTreeMap<Labels, HistogramSnapshot> {
        self.series(name)
            .into_iter()
            .filter_map(|(labels, _, earlier)| match earlier {
                Some(SeriesValue::Histogram(earlier)) => Some((labels, earlier.clone())),
                _ => None,
            })
            .collect()
    }

    /// Counter values of family `name` over the window.
    pub(crate) fn counters(&self, name: &str) -> Vec<(Labels, f64)> {
        self.series(name)
            .into_iter()
            .filter_map(|(labels, later, earlier)| {
                let increase = scalar(later)? - earlier.and_then(scalar).unwrap_or(0.0);
                Some((labels, increase.max(0.0)))
            })
            .collect()
    }

    /// Gauge values of family `name`: at the end, and at the start when there is one.
    pub(crate) fn gauges(&self, name: &str) -> Vec<(Labels, f64, Option<f64>)> {
        self.series(name)
            .into_iter()
            .filter_map(|(labels, later, earlier)| {
                Some((labels, scalar(later)?, earlier.and_then(scalar)))
            })
            .collect()
    }

    /// Gauge values of family `name` at the end, keyed by the value of label `key`.
    pub(crate) fn gauge_by(&self, name: &str, key: &str) -> BTreeMap<String, f64> {
        self.gauges(name)
            .into_iter()
            .map(|(l, v, _)| (label(&l, key).to_string(), v))
            .collect()
    }

    /// Counter increases of family `name`, keyed by the value of label `key` (summed).
    pub(crate) fn counter_by(&self, name: &str, key: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (l, v) in self.counters(name) {
            *out.entry(label(&l, key).to_string()).or_insert(0.0) += v;
        }
        out
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
