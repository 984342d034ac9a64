//! A window over one or two registry snapshots: deltas of counters and histograms, gauges at
//! both ends, and the report's tables.

use super::{Row, Table};
use crate::recorder::{HistogramSnapshot, Unit};
use crate::registry::{
    FamilyDef, FamilySnapshot, LabelValues, MetricKind, RegistrySnapshot, SeriesValue, TableSpec,
};
use std::collections::BTreeMap;

/// Label name/value pairs of a series.
pub(crate) type Labels = Vec<(String, String)>;

pub(crate) struct Window<'a> {
    pub(crate) earlier: Option<&'a RegistrySnapshot>,
    pub(crate) later: &'a RegistrySnapshot,
    pub(crate) seconds: Option<f64>,
}

fn labels_of(family: &FamilySnapshot, values: &LabelValues) -> Labels {
    family
        .desc
        .label_names()
        .iter()
        .cloned()
        .zip(values.iter().map(str::to_string))
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
        let Some(family) = self.later.family_in_namespace(name) else {
            return Vec::new();
        };
        let earlier = self.earlier.and_then(|e| e.family_in_namespace(name));
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

    /// Histograms of family `def` over the window (deltas when there is an earlier snapshot).
    pub(crate) fn histograms(&self, def: &FamilyDef) -> Vec<(Labels, HistogramSnapshot)> {
        self.histograms_named(def.name())
    }

    fn histograms_named(&self, name: &str) -> Vec<(Labels, HistogramSnapshot)> {
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

    /// Histograms of family `def` as they stood at the start of the window (cumulative up to
    /// the earlier snapshot), keyed by labels; empty without an earlier snapshot.
    pub(crate) fn histograms_before(&self, def: &FamilyDef) -> BTreeMap<Labels, HistogramSnapshot> {
        self.series(def.name())
            .into_iter()
            .filter_map(|(labels, _, earlier)| match earlier {
                Some(SeriesValue::Histogram(earlier)) => Some((labels, earlier.clone())),
                _ => None,
            })
            .collect()
    }

    /// Counter values of family `def` over the window.
    pub(crate) fn counters(&self, def: &FamilyDef) -> Vec<(Labels, f64)> {
        self.series(def.name())
            .into_iter()
            .filter_map(|(labels, later, earlier)| {
                let increase = scalar(later)? - earlier.and_then(scalar).unwrap_or(0.0);
                Some((labels, increase.max(0.0)))
            })
            .collect()
    }

    /// Gauge values of family `def`: at the end, and at the start when there is one.
    pub(crate) fn gauges(&self, def: &FamilyDef) -> Vec<(Labels, f64, Option<f64>)> {
        self.series(def.name())
            .into_iter()
            .filter_map(|(labels, later, earlier)| {
                Some((labels, scalar(later)?, earlier.and_then(scalar)))
            })
            .collect()
    }

    /// Gauge values of family `def` at the end, keyed by the value of label `key`.
    pub(crate) fn gauge_by(&self, def: &FamilyDef, key: &str) -> BTreeMap<String, f64> {
        self.gauges(def)
            .into_iter()
            .map(|(l, v, _)| (label(&l, key).to_string(), v))
            .collect()
    }

    /// Counter increases of family `def`, keyed by the value of label `key` (summed).
    pub(crate) fn counter_by(&self, def: &FamilyDef, key: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (l, v) in self.counters(def) {
            *out.entry(label(&l, key).to_string()).or_insert(0.0) += v;
        }
        out
    }

    /// The rows of histogram family `family` (its series with observations in the window),
    /// named by `spec`.
    fn rows(&self, family: &FamilySnapshot, spec: &TableSpec) -> Vec<Row> {
        let unit = family.desc.unit();
        self.histograms_named(family.desc.name())
            .into_iter()
            .filter(|(_, snap)| snap.count() > 0)
            .map(|(labels, snap)| {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                Row {
                    name: spec.row_name(family.desc.name(), &pairs),
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
                    spectrum: super::spectrum(|q| snap.quantile(q), snap.max()),
                }
            })
            .collect()
    }

    /// The tables the histogram families of the later snapshot name in their descriptors
    /// ([`TableSpec`]): grouped by title, ordered by their lowest rank then by registration;
    /// rows by their family's rank, then registration. Empty tables are left out.
    pub(crate) fn tables(&self) -> Vec<Table> {
        // (title, lowest rank, first family index, [(rank, family index, rows)])
        type Parts = Vec<(u32, usize, Vec<Row>)>;
        let mut groups: Vec<(&'static str, u32, usize, Parts)> = Vec::new();
        for (index, family) in self.later.families().iter().enumerate() {
            let Some(spec) = family.desc.report_table() else {
                continue;
            };
            if family.desc.kind() != MetricKind::Histogram {
                continue;
            }
            let rows = self.rows(family, spec);
            let part = (spec.rank(), index, rows);
            match groups.iter_mut().find(|g| g.0 == spec.title()) {
                Some(group) => {
                    group.1 = group.1.min(spec.rank());
                    group.3.push(part);
                }
                None => groups.push((spec.title(), spec.rank(), index, vec![part])),
            }
        }
        groups.sort_by_key(|g| (g.1, g.2));
        groups
            .into_iter()
            .map(|(title, _, _, mut parts)| {
                parts.sort_by_key(|p| (p.0, p.1));
                Table {
                    title,
                    rows: parts.into_iter().flat_map(|p| p.2).collect(),
                }
            })
            .filter(|t| !t.rows.is_empty())
            .collect()
    }
}
