//! The Prometheus protobuf format (`io.prometheus.client.MetricFamily`, length-delimited), with
//! histograms as native histograms (feature `protobuf`).
//!
//! Every histogram shares the schema-3 layout, and time histograms store 2^-30 s units, so each
//! of our buckets *is* a native bucket: slot `i + 1` is native index `i` (or `i - 240` in
//! seconds). The native part therefore carries the buckets exactly, with no re-bucketing error;
//! the classic `le` buckets of the family are sent alongside in the same message.
//!
//! The messages are declared here with `prost` derives, field numbers as in Prometheus's
//! `metrics.proto`, so no build script or `protoc` is needed.
//!
//! ```
//! use perf_instrument::{protobuf::proto::MetricFamily, render, Registry, Unit};
//! use prost::Message;
//!
//! let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
//! registry.histogram("rpc_seconds", "RPC latency.", Unit::Seconds).unwrap().record(3_000_000);
//! let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
//! let (content_type, body) = render(&registry, Some(accept));
//! assert!(content_type.starts_with("application/vnd.google.protobuf"));
//! let family = MetricFamily::decode_length_delimited(&body[..]).unwrap();
//! let native = family.metric[0].histogram.as_ref().unwrap();
//! assert_eq!((native.schema, native.sample_count), (3, 1));
//! ```

use super::text::{in_bucket, newest};
use crate::recorder::{Exemplar, HistogramSnapshot};
use crate::registry::{to_base, FamilySnapshot, MetricKind, SeriesValue};
use prost::Message;

/// `io.prometheus.client` messages, as much of `metrics.proto` as exposition needs.
pub mod proto {
    #![allow(missing_docs)]

    /// `io.prometheus.client.LabelPair`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let pair = LabelPair { name: "method".into(), value: "GET".into() };
    /// assert_eq!(LabelPair::decode(&*pair.encode_to_vec()).unwrap(), pair);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `io.prometheus.client.Gauge`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let gauge = Gauge { value: -2.5 };
    /// assert_eq!(Gauge::decode(&*gauge.encode_to_vec()).unwrap().value, -2.5);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    /// `google.protobuf.Timestamp`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let t = Timestamp { seconds: 1_700_000_000, nanos: 500_000_000 };
    /// assert_eq!(Timestamp::decode(&*t.encode_to_vec()).unwrap(), t);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    /// `io.prometheus.client.Exemplar`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let e = Exemplar {
    ///     label: vec![LabelPair { name: "trace_id".into(), value: "4bf92f35".into() }],
    ///     value: 0.25,
    ///     timestamp: Some(Timestamp { seconds: 1_700_000_000, nanos: 0 }),
    /// };
    /// assert_eq!(Exemplar::decode(&*e.encode_to_vec()).unwrap(), e);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(double, tag = "2")]
        pub value: f64,
        #[prost(message, optional, tag = "3")]
        pub timestamp: Option<Timestamp>,
    }

    /// `io.prometheus.client.Counter`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let counter = Counter { value: 7.0, exemplar: None };
    /// assert_eq!(Counter::decode(&*counter.encode_to_vec()).unwrap().value, 7.0);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Counter {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(message, optional, tag = "2")]
        pub exemplar: Option<Exemplar>,
    }

    /// `io.prometheus.client.Bucket` (a classic bucket).
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let le_1s = Bucket { cumulative_count: 12, upper_bound: 1.0, exemplar: None };
    /// assert_eq!(Bucket::decode(&*le_1s.encode_to_vec()).unwrap(), le_1s);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        #[prost(uint64, tag = "1")]
        pub cumulative_count: u64,
        #[prost(double, tag = "2")]
        pub upper_bound: f64,
        #[prost(message, optional, tag = "3")]
        pub exemplar: Option<Exemplar>,
    }

    /// `io.prometheus.client.BucketSpan`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// // Native buckets 5, 6 and 7 populated: one span starting at index 5.
    /// let span = BucketSpan { offset: 5, length: 3 };
    /// assert_eq!(BucketSpan::decode(&*span.encode_to_vec()).unwrap(), span);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    /// `io.prometheus.client.Histogram`, classic and native parts.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// // Two observations in native bucket 0 and one in bucket 2: spans [0,1] and [+1,1],
    /// // deltas between consecutive populated bucket counts.
    /// let h = Histogram {
    ///     sample_count: 3,
    ///     sample_sum: 4.0,
    ///     schema: 3,
    ///     positive_span: vec![BucketSpan { offset: 0, length: 1 }, BucketSpan { offset: 1, length: 1 }],
    ///     positive_delta: vec![2, -1],
    ///     ..Default::default()
    /// };
    /// assert_eq!(Histogram::decode(&*h.encode_to_vec()).unwrap(), h);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, tag = "1")]
        pub sample_count: u64,
        #[prost(double, tag = "2")]
        pub sample_sum: f64,
        #[prost(message, repeated, tag = "3")]
        pub bucket: Vec<Bucket>,
        #[prost(sint32, tag = "5")]
        pub schema: i32,
        #[prost(double, tag = "6")]
        pub zero_threshold: f64,
        #[prost(uint64, tag = "7")]
        pub zero_count: u64,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
        /// Exemplars of the native histogram (any values).
        #[prost(message, repeated, tag = "16")]
        pub exemplars: Vec<Exemplar>,
    }

    /// `io.prometheus.client.Metric`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let m = Metric {
    ///     label: vec![LabelPair { name: "queue".into(), value: "ingest".into() }],
    ///     gauge: Some(Gauge { value: 3.0 }),
    ///     ..Default::default()
    /// };
    /// assert_eq!(Metric::decode(&*m.encode_to_vec()).unwrap(), m);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "2")]
        pub gauge: Option<Gauge>,
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Counter>,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    /// `io.prometheus.client.MetricType`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::MetricType;
    /// assert_eq!(MetricType::try_from(4), Ok(MetricType::Histogram));
    /// assert_eq!(MetricType::Counter as i32, 0);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Counter = 0,
        Gauge = 1,
        Summary = 2,
        Untyped = 3,
        Histogram = 4,
    }

    /// `io.prometheus.client.MetricFamily`.
    ///
    /// ```
    /// use perf_instrument::protobuf::proto::*;
    /// use prost::Message;
    /// let family = MetricFamily {
    ///     name: "jobs_total".into(),
    ///     help: "Jobs.".into(),
    ///     r#type: MetricType::Counter as i32,
    ///     metric: vec![Metric { counter: Some(Counter { value: 1.0, exemplar: None }), ..Default::default() }],
    ///     unit: String::new(),
    /// };
    /// let bytes = family.encode_length_delimited_to_vec();
    /// assert_eq!(MetricFamily::decode_length_delimited(&*bytes).unwrap(), family);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub help: String,
        #[prost(enumeration = "MetricType", tag = "3")]
        pub r#type: i32,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
        #[prost(string, tag = "5")]
        pub unit: String,
    }
}

/// Appends `family` to `out` as one length-delimited `MetricFamily`.
pub(crate) fn encode_family(
    family: &FamilySnapshot,
    const_labels: &[(String, String)],
    out: &mut Vec<u8>,
) {
    let desc = &family.desc;
    let (name, kind) = match desc.kind() {
        MetricKind::Counter => (format!("{}_total", desc.name()), proto::MetricType::Counter),
        MetricKind::Gauge => (desc.name().to_string(), proto::MetricType::Gauge),
        MetricKind::Histogram => (desc.name().to_string(), proto::MetricType::Histogram),
    };
    let mut message = proto::MetricFamily {
        name,
        help: desc.help().to_string(),
        r#type: kind as i32,
        metric: Vec::with_capacity(family.series.len()),
        unit: desc.unit().suffix().unwrap_or("").to_string(),
    };
    for series in &family.series {
        if series.label_values.len() != desc.label_names().len() {
            continue;
        }
        let label = const_labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(
                desc.label_names()
                    .iter()
                    .map(String::as_str)
                    .zip(series.label_values.iter()),
            )
            .map(|(name, value)| proto::LabelPair {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect();
        let mut metric = proto::Metric {
            label,
            ..proto::Metric::default()
        };
        match (desc.kind(), &series.value) {
            (MetricKind::Counter, SeriesValue::Unsigned(v)) => {
                metric.counter = Some(proto::Counter {
                    value: *v as f64,
                    exemplar: newest(series.exemplars.iter()).map(exemplar),
                });
            }
            (MetricKind::Counter, SeriesValue::Float(v)) => {
                metric.counter = Some(proto::Counter {
                    value: *v,
                    exemplar: newest(series.exemplars.iter()).map(exemplar),
                });
            }
            (MetricKind::Gauge, SeriesValue::Signed(v)) => {
                metric.gauge = Some(proto::Gauge { value: *v as f64 });
            }
            (MetricKind::Gauge, SeriesValue::Unsigned(v)) => {
                metric.gauge = Some(proto::Gauge { value: *v as f64 });
            }
            (MetricKind::Gauge, SeriesValue::Float(v)) => {
                metric.gauge = Some(proto::Gauge { value: *v });
            }
            (MetricKind::Histogram, SeriesValue::Histogram(snap)) => {
                metric.histogram =
                    Some(histogram(snap, desc.buckets().stored(), &series.exemplars));
            }
            // A value of the wrong type for its family: left out.
            _ => continue,
        }
        message.metric.push(metric);
    }
    // Writing into a Vec cannot fail.
    let _ = message.encode_length_delimited(out);
}

/// A histogram message: the classic buckets at `bounds` and every native bucket exactly; each
/// classic bucket with the newest exemplar whose value it holds, and the native part with all
/// of them (lowest value first).
///
/// Classic buckets below the bucket of the newest exemplar carry none: a Prometheus that reads
/// the native histogram but not its `exemplars` field (2.40 to 2.46) takes the first exemplar
/// in bucket order as the native histogram's, and stores it only if it is new. With the
/// newest one first, each scrape offers it the exemplar recorded last. (When the newest lies
/// past the last bound, no classic bucket can carry it, and all carry theirs.)
pub(crate) fn histogram(
    snap: &HistogramSnapshot,
    bounds: &[u64],
    exemplars: &[Exemplar],
) -> proto::Histogram {
    let mut cumulative = Vec::new();
    crate::recorder::ClassicSlots::default().cumulative(bounds, snap, &mut cumulative);
    let last_bound = bounds
        .last()
        .map_or(f64::NEG_INFINITY, |&b| to_base(snap.unit(), b));
    let from = newest(exemplars.iter())
        .map(Exemplar::value)
        .filter(|&v| v <= last_bound)
        .unwrap_or(f64::NEG_INFINITY);
    let mut lower = f64::NEG_INFINITY;
    let bucket = bounds
        .iter()
        .zip(cumulative)
        .map(|(&stored, cumulative_count)| {
            let upper_bound = to_base(snap.unit(), stored);
            let held = (upper_bound >= from)
                .then(|| in_bucket(exemplars, lower, upper_bound).map(exemplar))
                .flatten();
            lower = upper_bound;
            proto::Bucket {
                cumulative_count,
                upper_bound,
                exemplar: held,
            }
        })
        .collect();
    let mut out = proto::Histogram {
        sample_count: snap.count(),
        sample_sum: snap.sum(),
        bucket,
        schema: snap.schema().get(),
        zero_threshold: 0.0,
        zero_count: 0,
        positive_span: Vec::new(),
        positive_delta: Vec::new(),
        exemplars: exemplars.iter().map(exemplar).collect(),
    };
    let sparse = crate::recorder::SparseBuckets::of(snap);
    out.zero_count = sparse.zero_count;
    out.positive_span = sparse
        .spans
        .into_iter()
        .map(|(offset, length)| proto::BucketSpan { offset, length })
        .collect();
    out.positive_delta = sparse.deltas;
    if out.positive_span.is_empty() {
        // A no-op span marks the message as a native histogram even with no observations.
        out.positive_span.push(proto::BucketSpan {
            offset: 0,
            length: 0,
        });
    }
    out
}

/// An exemplar message.
fn exemplar(e: &Exemplar) -> proto::Exemplar {
    proto::Exemplar {
        label: e
            .labels()
            .iter()
            .map(|(name, value)| proto::LabelPair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        value: e.value(),
        timestamp: e.timestamp().map(|t| proto::Timestamp {
            seconds: t.floor() as i64,
            nanos: ((t - t.floor()) * 1e9).min(999_999_999.0) as i32,
        }),
    }
}
