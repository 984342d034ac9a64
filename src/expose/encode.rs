//! The `Encoder` seam: one implementation per wire format, used by `render` (the pull endpoint)
//! and by anything that pushes metrics, so a new format is one new `Encoder`.
//!
//! An encoder is stateless: it appends one family at a time to a byte buffer (so a scrape can
//! walk the registry holding one family's snapshot), then whatever ends the message. The same
//! methods encode a list of families taken once, as a push target does.

use super::{negotiate::Format, text};
use crate::registry::{FamilySnapshot, Registry};
use std::fmt;

/// A wire format: its exact content type and how a registry's families are written in it.
///
/// Implementations append to `out` and never fail (they write into memory); a series whose
/// label count or value type does not match its family is left out, never written wrong.
/// [`TextEncoder`], [`OpenMetricsEncoder`] and (feature `protobuf`) `ProtobufEncoder` are the
/// built-in ones; [`Format::encoder`] maps a negotiated format to its encoder.
///
/// ```
/// use perf_instrument::{Encoder, OpenMetricsEncoder, Registry};
///
/// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// registry.counter("jobs", "Jobs.").unwrap().inc_by(3);
///
/// // A snapshot taken once, encoded for a push target.
/// let families = registry.collect();
/// let mut body = Vec::new();
/// OpenMetricsEncoder.encode(&families, registry.const_labels(), &mut body);
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.starts_with("# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 3\njobs_created "));
/// assert!(text.ends_with("\n# EOF\n"));
/// ```
pub trait Encoder: fmt::Debug + Send + Sync {
    /// The exact `Content-Type` of what this encoder writes.
    ///
    /// ```
    /// use perf_instrument::{Encoder, TextEncoder};
    /// assert_eq!(TextEncoder.content_type(), "text/plain; version=0.0.4; charset=utf-8");
    /// ```
    fn content_type(&self) -> &'static str;

    /// Appends one family to `out`, each of its series carrying `const_labels` first.
    ///
    /// ```
    /// use perf_instrument::{Encoder, Registry, TextEncoder};
    /// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// registry.gauge("depth", "Queue depth.").unwrap().set(2);
    /// let mut out = Vec::new();
    /// let labels = [("host".to_string(), "a".to_string())];
    /// TextEncoder.encode_family(&registry.collect()[0], &labels, &mut out);
    /// assert!(String::from_utf8(out).unwrap().ends_with("depth{host=\"a\"} 2\n"));
    /// ```
    fn encode_family(
        &self,
        family: &FamilySnapshot,
        const_labels: &[(String, String)],
        out: &mut Vec<u8>,
    );

    /// Appends what ends a message after its last family (OpenMetrics' `# EOF`); nothing by
    /// default.
    ///
    /// ```
    /// use perf_instrument::{Encoder, OpenMetricsEncoder, TextEncoder};
    /// let (mut open, mut text) = (Vec::new(), Vec::new());
    /// OpenMetricsEncoder.finish(&mut open);
    /// TextEncoder.finish(&mut text);
    /// assert_eq!((&open[..], &text[..]), (&b"# EOF\n"[..], &b""[..]));
    /// ```
    fn finish(&self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Appends `families` as one message: each family, then [`finish`](Self::finish).
    ///
    /// ```
    /// use perf_instrument::{Encoder, Registry, TextEncoder};
    /// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// registry.counter("a", "A.").unwrap();
    /// registry.counter("b", "B.").unwrap();
    /// let snapshot = registry.snapshot();
    /// let mut out = Vec::new();
    /// TextEncoder.encode(snapshot.families(), &[], &mut out);
    /// let text = String::from_utf8(out).unwrap();
    /// assert!(text.contains("a_total 0\n") && text.contains("b_total 0\n"));
    /// ```
    fn encode(
        &self,
        families: &[FamilySnapshot],
        const_labels: &[(String, String)],
        out: &mut Vec<u8>,
    ) {
        for family in families {
            self.encode_family(family, const_labels, out);
        }
        self.finish(out);
    }

    /// Appends every family of `registry` now, with its constant labels, as one message. The
    /// registry is walked one family at a time (collect it, encode it, drop it), so this holds
    /// one family's snapshot, never the whole registry's. Unlike [`render_as`](crate::render_as)
    /// it does not count a scrape in the self metrics.
    ///
    /// ```
    /// use perf_instrument::{Encoder, Registry, TextEncoder};
    /// let registry = Registry::builder()
    ///     .const_label("region", "eu")
    ///     .self_metrics(false)
    ///     .process_metrics(false)
    ///     .build()
    ///     .unwrap();
    /// registry.gauge("up", "Up.").unwrap().set(1);
    /// let mut out = Vec::new();
    /// TextEncoder.encode_registry(&registry, &mut out);
    /// assert!(String::from_utf8(out).unwrap().ends_with("up{region=\"eu\"} 1\n"));
    /// ```
    fn encode_registry(&self, registry: &Registry, out: &mut Vec<u8>) {
        let const_labels = registry.const_labels();
        registry.for_each_family(|family| self.encode_family(family, const_labels, out));
        self.finish(out);
    }
}

/// Prometheus text exposition format 0.0.4: counters as `name_total` with `# HELP` and
/// `# TYPE` on the `_total` name, no `_created`, no `# UNIT`, no end marker.
///
/// ```
/// use perf_instrument::{Encoder, Registry, TextEncoder};
/// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// registry.counter("jobs", "Jobs \"done\".").unwrap().inc();
/// let mut out = Vec::new();
/// TextEncoder.encode_registry(&registry, &mut out);
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "# HELP jobs_total Jobs \"done\".\n# TYPE jobs_total counter\njobs_total 1\n"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TextEncoder;

impl Encoder for TextEncoder {
    fn content_type(&self) -> &'static str {
        "text/plain; version=0.0.4; charset=utf-8"
    }

    fn encode_family(
        &self,
        family: &FamilySnapshot,
        const_labels: &[(String, String)],
        out: &mut Vec<u8>,
    ) {
        text::encode_family(text::Text::Prometheus, family, const_labels, out);
    }
}

/// OpenMetrics 1.0 text: `# TYPE`, `# UNIT` (when the family has a unit) and `# HELP` on the
/// family name, `_created` samples, and `# EOF` at the end.
///
/// ```
/// use perf_instrument::{Encoder, OpenMetricsEncoder, Opts, Registry, Unit};
/// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// let heap = registry.register_gauge(Opts::new("heap_bytes", "Heap.").unit(Unit::Bytes)).unwrap();
/// heap.with_label_values(&[]).set(512);
/// let mut out = Vec::new();
/// OpenMetricsEncoder.encode_registry(&registry, &mut out);
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "# TYPE heap_bytes gauge\n# UNIT heap_bytes bytes\n# HELP heap_bytes Heap.\nheap_bytes 512\n# EOF\n"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OpenMetricsEncoder;

impl Encoder for OpenMetricsEncoder {
    fn content_type(&self) -> &'static str {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    }

    fn encode_family(
        &self,
        family: &FamilySnapshot,
        const_labels: &[(String, String)],
        out: &mut Vec<u8>,
    ) {
        text::encode_family(text::Text::OpenMetrics, family, const_labels, out);
    }

    fn finish(&self, out: &mut Vec<u8>) {
        text::finish(text::Text::OpenMetrics, out);
    }
}

/// The Prometheus protobuf format (feature `protobuf`): one length-delimited
/// `io.prometheus.client.MetricFamily` per family, histograms as exact schema-3 native
/// histograms with the classic buckets alongside (see [`protobuf`](crate::protobuf)).
///
/// ```
/// use perf_instrument::protobuf::proto::MetricFamily;
/// use perf_instrument::{Encoder, ProtobufEncoder, Registry};
/// use prost::Message;
///
/// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// registry.counter("jobs", "Jobs.").unwrap().inc_by(4);
/// let mut out = Vec::new();
/// ProtobufEncoder.encode_registry(&registry, &mut out);
/// let family = MetricFamily::decode_length_delimited(&out[..]).unwrap();
/// assert_eq!(family.name, "jobs_total");
/// assert_eq!(family.metric[0].counter.as_ref().unwrap().value, 4.0);
/// assert!(ProtobufEncoder.content_type().contains("encoding=delimited"));
/// ```
#[cfg(feature = "protobuf")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProtobufEncoder;

#[cfg(feature = "protobuf")]
impl Encoder for ProtobufEncoder {
    fn content_type(&self) -> &'static str {
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    }

    fn encode_family(
        &self,
        family: &FamilySnapshot,
        const_labels: &[(String, String)],
        out: &mut Vec<u8>,
    ) {
        super::protobuf::encode_family(family, const_labels, out);
    }
}

impl Format {
    /// The encoder that writes this format.
    ///
    /// ```
    /// use perf_instrument::{Format, Registry};
    /// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// registry.gauge("up", "Up.").unwrap().set(1);
    /// let encoder = Format::from_accept(Some("application/openmetrics-text")).encoder();
    /// let mut out = Vec::new();
    /// encoder.encode_registry(&registry, &mut out);
    /// assert_eq!(encoder.content_type(), Format::OpenMetrics.content_type());
    /// assert!(out.ends_with(b"up 1\n# EOF\n"));
    /// ```
    #[must_use]
    pub fn encoder(self) -> &'static dyn Encoder {
        match self {
            Format::PrometheusText => &TextEncoder,
            Format::OpenMetrics => &OpenMetricsEncoder,
            #[cfg(feature = "protobuf")]
            Format::Protobuf => &ProtobufEncoder,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_maps_to_an_encoder_of_its_content_type() {
        let formats = [
            Format::PrometheusText,
            Format::OpenMetrics,
            #[cfg(feature = "protobuf")]
            Format::Protobuf,
        ];
        for format in formats {
            assert_eq!(format.encoder().content_type(), format.content_type());
        }
    }

    #[test]
    fn a_snapshot_encodes_as_the_registry_and_the_render_do() {
        let registry = Registry::builder()
            .const_label("zone", "a\"b")
            .self_metrics(false)
            .process_metrics(false)
            .build()
            .unwrap();
        registry.counter("jobs", "Jobs.").unwrap().inc_by(2);
        registry
            .histogram("rpc_seconds", "RPC.", crate::recorder::Unit::Seconds)
            .unwrap()
            .record(1_500_000);
        let formats = [
            Format::PrometheusText,
            Format::OpenMetrics,
            #[cfg(feature = "protobuf")]
            Format::Protobuf,
        ];
        for format in formats {
            let encoder = format.encoder();
            let mut from_snapshot = Vec::new();
            encoder.encode(
                &registry.collect(),
                registry.const_labels(),
                &mut from_snapshot,
            );
            let mut from_registry = Vec::new();
            encoder.encode_registry(&registry, &mut from_registry);
            assert_eq!(from_snapshot, from_registry, "{format:?}");
            assert_eq!(
                from_snapshot,
                super::super::render_as(&registry, format),
                "{format:?}"
            );
            assert!(from_snapshot.len() > 100, "{format:?}");
        }
    }
}
