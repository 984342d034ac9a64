//! The two text formats: Prometheus text 0.0.4 and OpenMetrics 1.0.
//!
//! Written by hand rather than through `prometheus-client`'s encoder, which emits OpenMetrics
//! only and works from its own metric types; see `docs/ARCHITECTURE.md`.

use super::number::{push_float, push_int};
use crate::recorder::{ClassicSlots, Exemplar, HistogramSnapshot};
use crate::registry::{FamilySnapshot, LabelValues, MetricKind, SeriesValue};

/// Which text format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text {
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

/// Appends `family` in `format`, each series carrying `const_labels` first.
pub(crate) fn encode_family(
    format: Text,
    family: &FamilySnapshot,
    const_labels: &[(String, String)],
    out: &mut Vec<u8>,
) {
    let desc = &family.desc;
    let name = desc.name().as_bytes();
    let kind = desc.kind();
    write_metadata(format, family, out);
    // Each bucket line is the series' `name_bucket{labels,` then the family's `le="…"} ` and the
    // count: both parts are rendered once, so a line costs two copies and an integer.
    let mut le_tails = Vec::new();
    let bounds = if kind == MetricKind::Histogram {
        desc.buckets().upper_bounds(desc.unit())
    } else {
        Vec::new()
    };
    if kind == MetricKind::Histogram {
        for &bound in &bounds {
            let mut le = b"le=\"".to_vec();
            push_float(&mut le, bound);
            le.extend_from_slice(b"\"} ");
            le_tails.push(le);
        }
        le_tails.push(b"le=\"+Inf\"} ".to_vec());
    }
    let mut bucket_prefix = Vec::new();
    let mut cumulative = Vec::new();
    let mut slots = ClassicSlots::default();
    let mut labels = LabelWriter::new(const_labels);
    for series in &family.series {
        if series.label_values.len() != desc.label_names().len() {
            continue;
        }
        labels.set(desc.label_names(), &series.label_values);
        let labels = &labels;
        // Exemplars exist in OpenMetrics only.
        let exemplars: &[Exemplar] = match format {
            Text::OpenMetrics => &series.exemplars,
            Text::Prometheus => &[],
        };
        match (kind, &series.value) {
            (MetricKind::Counter, value @ (SeriesValue::Unsigned(_) | SeriesValue::Float(_))) => {
                sample(out, name, b"_total", labels, |out| {
                    push_value(out, value);
                    if let Some(e) = newest(exemplars.iter()) {
                        push_exemplar(out, e);
                    }
                });
                if let (Text::OpenMetrics, Some(created)) = (format, series.created) {
                    sample(out, name, b"_created", labels, |out| {
                        push_float(out, created)
                    });
                }
            }
            (MetricKind::Gauge, value) if !matches!(value, SeriesValue::Histogram(_)) => {
                sample(out, name, b"", labels, |out| push_value(out, value));
            }
            (MetricKind::Histogram, SeriesValue::Histogram(snap)) => {
                slots.cumulative(desc.buckets().stored(), snap, &mut cumulative);
                // `+Inf` holds the count: `_count` is the sum of the same buckets, so they agree.
                cumulative.push(snap.count());
                labels.bucket_prefix(name, &mut bucket_prefix);
                write_histogram(
                    format,
                    out,
                    name,
                    labels,
                    snap,
                    (&bucket_prefix, &le_tails, &bounds),
                    &cumulative,
                    (series.created, exemplars),
                );
            }
            // A value of the wrong type for its family (only a collector can produce one):
            // left out rather than written wrong.
            _ => {}
        }
    }
}

/// Appends what ends a message: `# EOF` in OpenMetrics, nothing in 0.0.4.
pub(crate) fn finish(format: Text, out: &mut Vec<u8>) {
    if format == Text::OpenMetrics {
        out.extend_from_slice(b"# EOF\n");
    }
}

fn write_metadata(format: Text, family: &FamilySnapshot, out: &mut Vec<u8>) {
    let desc = &family.desc;
    let name = desc.name().as_bytes();
    let kind = desc.kind().name().as_bytes();
    match format {
        Text::Prometheus => {
            let suffix: &[u8] = if desc.kind() == MetricKind::Counter {
                b"_total"
            } else {
                b""
            };
            for (key, value) in [(&b"HELP"[..], None), (&b"TYPE"[..], Some(kind))] {
                out.extend_from_slice(b"# ");
                out.extend_from_slice(key);
                out.push(b' ');
                out.extend_from_slice(name);
                out.extend_from_slice(suffix);
                out.push(b' ');
                match value {
                    Some(kind) => out.extend_from_slice(kind),
                    None => escape(out, desc.help(), false),
                }
                out.push(b'\n');
            }
        }
        Text::OpenMetrics => {
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(name);
            out.push(b' ');
            out.extend_from_slice(kind);
            out.push(b'\n');
            if let Some(unit) = desc.unit().suffix() {
                out.extend_from_slice(b"# UNIT ");
                out.extend_from_slice(name);
                out.push(b' ');
                out.extend_from_slice(unit.as_bytes());
                out.push(b'\n');
            }
            out.extend_from_slice(b"# HELP ");
            out.extend_from_slice(name);
            out.push(b' ');
            escape(out, desc.help(), true);
            out.push(b'\n');
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_histogram(
    format: Text,
    out: &mut Vec<u8>,
    name: &[u8],
    labels: &LabelWriter,
    snap: &HistogramSnapshot,
    (bucket_prefix, le_tails, bounds): (&[u8], &[Vec<u8>], &[f64]),
    cumulative: &[u64],
    (created, exemplars): (Option<f64>, &[Exemplar]),
) {
    let count = snap.count();
    // `le_tails` and `cumulative` end with `+Inf`; `bounds` does not.
    let mut lower = f64::NEG_INFINITY;
    for (i, (tail, n)) in le_tails.iter().zip(cumulative).enumerate() {
        out.extend_from_slice(bucket_prefix);
        out.extend_from_slice(tail);
        push_int(out, *n);
        if !exemplars.is_empty() {
            let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
            if let Some(e) = in_bucket(exemplars, lower, upper) {
                push_exemplar(out, e);
            }
            lower = upper;
        }
        out.push(b'\n');
    }
    sample(out, name, b"_count", labels, |out| push_int(out, count));
    sample(out, name, b"_sum", labels, |out| {
        push_float(out, snap.sum())
    });
    if let (Text::OpenMetrics, Some(created)) = (format, created) {
        sample(out, name, b"_created", labels, |out| {
            push_float(out, created)
        });
    }
}

/// The newest of the exemplars whose value lies in the bucket `(lower, upper]`.
pub(crate) fn in_bucket(exemplars: &[Exemplar], lower: f64, upper: f64) -> Option<&Exemplar> {
    newest(
        exemplars
            .iter()
            .filter(|e| e.value() > lower && e.value() <= upper),
    )
}

/// The exemplar with the latest timestamp (the last one given among equals or untimed ones).
pub(crate) fn newest<'a>(exemplars: impl Iterator<Item = &'a Exemplar>) -> Option<&'a Exemplar> {
    exemplars.fold(None, |best: Option<&Exemplar>, e| match best {
        Some(b) if b.timestamp().unwrap_or(f64::MIN) > e.timestamp().unwrap_or(f64::MIN) => Some(b),
        _ => Some(e),
    })
}

/// Appends ` # {labels} value timestamp`, the OpenMetrics exemplar after a sample's value.
fn push_exemplar(out: &mut Vec<u8>, e: &Exemplar) {
    out.extend_from_slice(b" # {");
    for (i, (name, value)) in e.labels().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        escape(out, value, true);
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
    push_float(out, e.value());
    if let Some(t) = e.timestamp() {
        out.push(b' ');
        push_float(out, t);
    }
}

fn push_value(out: &mut Vec<u8>, value: &SeriesValue) {
    match value {
        SeriesValue::Unsigned(v) => push_int(out, *v),
        SeriesValue::Signed(v) => push_int(out, *v),
        SeriesValue::Float(v) => push_float(out, *v),
        SeriesValue::Histogram(_) => {}
    }
}

/// Writes `name suffix {labels} value\n`.
fn sample(
    out: &mut Vec<u8>,
    name: &[u8],
    suffix: &[u8],
    labels: &LabelWriter,
    value: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(name);
    out.extend_from_slice(suffix);
    labels.write(out);
    out.push(b' ');
    value(out);
    out.push(b'\n');
}

/// Pre-renders the escaped label pairs of the current series once, for all its samples.
struct LabelWriter {
    constant: Vec<u8>,
    current: Vec<u8>,
}

impl LabelWriter {
    fn new(const_labels: &[(String, String)]) -> Self {
        let mut constant = Vec::new();
        for (name, value) in const_labels {
            push_pair(&mut constant, name, value.as_bytes());
        }
        Self {
            constant,
            current: Vec::new(),
        }
    }

    fn set(&mut self, names: &[String], values: &LabelValues) {
        self.current.clear();
        self.current.extend_from_slice(&self.constant);
        // The values' bytes: escaping needs no `&str`, so no UTF-8 check either.
        for (i, name) in names.iter().enumerate() {
            push_pair(&mut self.current, name, values.bytes(i).unwrap_or_default());
        }
    }

    /// Sets `prefix` to `name_bucket{pairs,`: a bucket line without its `le` pair and value.
    fn bucket_prefix(&self, name: &[u8], prefix: &mut Vec<u8>) {
        prefix.clear();
        prefix.extend_from_slice(name);
        prefix.extend_from_slice(b"_bucket{");
        prefix.extend_from_slice(&self.current);
    }

    fn write(&self, out: &mut Vec<u8>) {
        if self.current.is_empty() {
            return;
        }
        // Pairs are written with a trailing comma; drop the last one.
        out.push(b'{');
        out.extend_from_slice(&self.current[..self.current.len() - 1]);
        out.push(b'}');
    }
}

/// Label values escape the same way in both formats.
fn push_pair(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_bytes(out, value, true);
    out.extend_from_slice(b"\",");
}

/// Escapes `\` and newline, and `"` when `quote` (label values in both formats, HELP in
/// OpenMetrics; 0.0.4 HELP leaves quotes alone).
fn escape(out: &mut Vec<u8>, s: &str, quote: bool) {
    escape_bytes(out, s.as_bytes(), quote);
}

fn escape_bytes(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}
