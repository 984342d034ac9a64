//! The Prometheus remote write 1.0 target (feature `remote-write`): a `prometheus.WriteRequest`
//! in protobuf, compressed in snappy's block format, POSTed with `Content-Encoding: snappy` and
//! `X-Prometheus-Remote-Write-Version: 0.1.0`. Prometheus (`--web.enable-remote-write-receiver`),
//! VictoriaMetrics, Mimir, Thanos Receive and Cortex take it.
//!
//! Counters go as `<name>_total`, gauges as `<name>`, each series one sample stamped with the
//! push's time. A histogram goes as one native histogram (`prometheus.Histogram`: schema, zero
//! bucket, spans and deltas — our buckets exactly, as in the protobuf exposition) unless native
//! histograms are off or were refused; then as the classic series `<name>_bucket{le}`,
//! `<name>_sum` and `<name>_count`.
//!
//! A receiver without native-histogram support refuses the whole request (Prometheus 2.42
//! without `--enable-feature=native-histograms` answers 500, Mimir and Cortex 400). When a
//! request that holds native histograms is refused with 400–499 (but 429) or 500, the target
//! remembers it, resends the same snapshot as classic series at once, and sends classic series
//! from then on: a refusal costs one extra request, once per target, never a retry loop.
//! VictoriaMetrics before 1.92 accepts native histograms and drops them without an error: give
//! it `native_histograms(false)`.
//!
//! The messages are declared here with `prost` derives, field numbers as in Prometheus's
//! `prompb/remote.proto` and `prompb/types.proto`; no `protoc` at build time.

use super::pusher::{PushBatch, PushError, PushTarget};
use super::transport::{unix_millis, Http, Method, DEFAULT_TIMEOUT};
use crate::expose::number::push_float;
use crate::recorder::HistogramSnapshot;
use crate::registry::{to_base, FamilySnapshot, MetricKind, SeriesValue};
use prost::Message;
use std::time::Duration;

/// `prometheus` remote-write messages, as much of `prompb` as a sender needs.
pub mod proto {
    #![allow(missing_docs)]

    /// `prometheus.WriteRequest`.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// use prost::Message;
    /// let request = WriteRequest {
    ///     timeseries: vec![TimeSeries {
    ///         labels: vec![Label { name: "__name__".into(), value: "up".into() }],
    ///         samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
    ///         histograms: vec![],
    ///     }],
    ///     metadata: vec![],
    /// };
    /// assert_eq!(WriteRequest::decode(&*request.encode_to_vec()).unwrap(), request);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    /// `prometheus.MetricMetadata`.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// use prost::Message;
    /// let m = MetricMetadata { r#type: MetricType::Counter as i32, metric_family_name: "jobs_total".into(), help: "Jobs.".into(), unit: String::new() };
    /// assert_eq!(MetricMetadata::decode(&*m.encode_to_vec()).unwrap(), m);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        #[prost(enumeration = "MetricType", tag = "1")]
        pub r#type: i32,
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        #[prost(string, tag = "4")]
        pub help: String,
        #[prost(string, tag = "5")]
        pub unit: String,
    }

    /// `prometheus.MetricMetadata.MetricType`.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::MetricType;
    /// assert_eq!(MetricType::Histogram as i32, 3);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Unknown = 0,
        Counter = 1,
        Gauge = 2,
        Histogram = 3,
    }

    /// `prometheus.TimeSeries` (without exemplars).
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// let series = TimeSeries::default();
    /// assert!(series.labels.is_empty() && series.samples.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<Histogram>,
    }

    /// `prometheus.Label`.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// use prost::Message;
    /// let l = Label { name: "job".into(), value: "batch".into() };
    /// assert_eq!(Label::decode(&*l.encode_to_vec()).unwrap(), l);
    /// ```
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`: a value at a time in milliseconds since the Unix epoch.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// use prost::Message;
    /// let s = Sample { value: 0.5, timestamp: 42 };
    /// assert_eq!(Sample::decode(&*s.encode_to_vec()).unwrap(), s);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// `prometheus.BucketSpan`.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// use prost::Message;
    /// let s = BucketSpan { offset: -3, length: 2 };
    /// assert_eq!(BucketSpan::decode(&*s.encode_to_vec()).unwrap(), s);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    /// `prometheus.Histogram`, integer counts (the `count_int` and `zero_count_int` arms of
    /// its oneofs), positive buckets only.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::proto::*;
    /// use prost::Message;
    /// let h = Histogram {
    ///     count_int: Some(3),
    ///     sum: 0.75,
    ///     schema: 3,
    ///     positive_spans: vec![BucketSpan { offset: -16, length: 1 }],
    ///     positive_deltas: vec![3],
    ///     timestamp: 42,
    ///     ..Default::default()
    /// };
    /// assert_eq!(Histogram::decode(&*h.encode_to_vec()).unwrap(), h);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub count_int: Option<u64>,
        #[prost(double, tag = "3")]
        pub sum: f64,
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        #[prost(double, tag = "5")]
        pub zero_threshold: f64,
        #[prost(uint64, optional, tag = "6")]
        pub zero_count_int: Option<u64>,
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        #[prost(int32, tag = "14")]
        pub reset_hint: i32,
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }
}

/// Pushes the registry with Prometheus remote write 1.0. Build it with
/// [`RemoteWrite::builder`] and give it to a [`Pusher`](crate::export::Pusher).
///
/// ```
/// use perf_instrument::export::remote_write::RemoteWrite;
/// let target = RemoteWrite::builder("http://127.0.0.1:9090/api/v1/write").build().unwrap();
/// assert!(!target.native_refused());
/// ```
#[derive(Debug)]
pub struct RemoteWrite {
    http: Http,
    url: String,
    native: bool,
    refused: bool,
}

impl RemoteWrite {
    /// A target for the remote-write endpoint `url` (Prometheus: `http://host:9090/api/v1/write`;
    /// VictoriaMetrics: `http://host:8428/api/v1/write`).
    ///
    /// ```
    /// use perf_instrument::export::remote_write::RemoteWrite;
    /// assert!(RemoteWrite::builder("http://vm:8428/api/v1/write").native_histograms(false).build().is_ok());
    /// ```
    pub fn builder(url: &str) -> RemoteWriteBuilder {
        RemoteWriteBuilder {
            url: url.to_string(),
            native: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Whether the receiver refused native histograms, so this target now sends classic
    /// series.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::RemoteWrite;
    /// let target = RemoteWrite::builder("http://127.0.0.1:9090/api/v1/write").build().unwrap();
    /// assert!(!target.native_refused());
    /// ```
    #[must_use]
    pub fn native_refused(&self) -> bool {
        self.refused
    }

    fn send(&self, request: &proto::WriteRequest) -> Result<(), PushError> {
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .map_err(|e| PushError::Config(format!("snappy: {e}")))?;
        self.http.send(
            Method::Post,
            &self.url,
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            &body,
        )
    }
}

impl PushTarget for RemoteWrite {
    fn name(&self) -> &str {
        "remote_write"
    }

    fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError> {
        let native = self.native && !self.refused;
        let request = write_request(batch, native);
        let has_native = request.timeseries.iter().any(|s| !s.histograms.is_empty());
        match self.send(&request) {
            Err(PushError::Refused { status, url, body })
                if has_native
                    && (status == 500 || ((400..500).contains(&status) && status != 429)) =>
            {
                tracing::warn!(
                    %url, status, %body,
                    "remote write receiver refused native histograms; sending classic series from now on"
                );
                self.refused = true;
                self.send(&write_request(batch, false))
            }
            other => other,
        }
    }
}

/// Sets up a [`RemoteWrite`] target.
///
/// ```
/// use perf_instrument::export::remote_write::RemoteWrite;
/// let target = RemoteWrite::builder("http://127.0.0.1:9090/api/v1/write")
///     .timeout(std::time::Duration::from_secs(3))
///     .build()
///     .unwrap();
/// assert!(!target.native_refused());
/// ```
#[derive(Debug)]
#[must_use]
pub struct RemoteWriteBuilder {
    url: String,
    native: bool,
    timeout: Duration,
}

impl RemoteWriteBuilder {
    /// Send histograms as native histograms (default) or always as classic series.
    ///
    /// ```
    /// use perf_instrument::export::remote_write::RemoteWrite;
    /// assert!(RemoteWrite::builder("http://vm:8428/api/v1/write").native_histograms(false).build().is_ok());
    /// ```
    pub fn native_histograms(mut self, native: bool) -> Self {
        self.native = native;
        self
    }

    /// Time one request may take, connect to last byte (default 10 s).
    ///
    /// ```
    /// use perf_instrument::export::remote_write::RemoteWrite;
    /// let b = RemoteWrite::builder("http://p:9090/api/v1/write").timeout(std::time::Duration::from_secs(1));
    /// assert!(b.build().is_ok());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The target.
    ///
    /// # Errors
    ///
    /// [`PushError::Config`] for a URL that is not `http://…` (the client has no TLS).
    ///
    /// ```
    /// use perf_instrument::export::remote_write::RemoteWrite;
    /// assert!(RemoteWrite::builder("localhost:9090").build().is_err());
    /// ```
    pub fn build(self) -> Result<RemoteWrite, PushError> {
        if !self.url.starts_with("http://") {
            return Err(PushError::Config(format!(
                "remote write URL {:?} must start with http:// (no TLS client is built in)",
                self.url
            )));
        }
        Ok(RemoteWrite {
            http: Http::new(self.timeout),
            url: self.url,
            native: self.native,
            refused: false,
        })
    }
}

/// The request for `batch`: histograms native or classic.
pub(crate) fn write_request(batch: &PushBatch<'_>, native: bool) -> proto::WriteRequest {
    let timestamp = unix_millis(batch.time);
    let mut out = proto::WriteRequest::default();
    for family in batch.families {
        encode_family(family, batch.const_labels, timestamp, native, &mut out);
    }
    out
}

fn encode_family(
    family: &FamilySnapshot,
    const_labels: &[(String, String)],
    timestamp: i64,
    native: bool,
    out: &mut proto::WriteRequest,
) {
    let desc = &family.desc;
    let (name, kind) = match desc.kind() {
        MetricKind::Counter => (format!("{}_total", desc.name()), proto::MetricType::Counter),
        MetricKind::Gauge => (desc.name().to_string(), proto::MetricType::Gauge),
        MetricKind::Histogram => (desc.name().to_string(), proto::MetricType::Histogram),
    };
    out.metadata.push(proto::MetricMetadata {
        r#type: kind as i32,
        metric_family_name: name.clone(),
        help: desc.help().to_string(),
        unit: desc.unit().suffix().unwrap_or("").to_string(),
    });
    for series in &family.series {
        if series.label_values.len() != desc.label_names().len() {
            continue;
        }
        let labels = |metric: &str, extra: Option<(&str, String)>| {
            let mut labels: Vec<proto::Label> = const_labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .chain(
                    desc.label_names()
                        .iter()
                        .map(String::as_str)
                        .zip(series.label_values.iter()),
                )
                .map(|(name, value)| proto::Label {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .chain(extra.map(|(name, value)| proto::Label {
                    name: name.to_string(),
                    value,
                }))
                .chain(std::iter::once(proto::Label {
                    name: "__name__".to_string(),
                    value: metric.to_string(),
                }))
                .collect();
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            labels
        };
        let sample = |metric: &str, extra: Option<(&str, String)>, value: f64| proto::TimeSeries {
            labels: labels(metric, extra),
            samples: vec![proto::Sample { value, timestamp }],
            histograms: Vec::new(),
        };
        let value = match (desc.kind(), &series.value) {
            (MetricKind::Histogram, SeriesValue::Histogram(snap)) => {
                if native {
                    out.timeseries.push(proto::TimeSeries {
                        labels: labels(&name, None),
                        samples: Vec::new(),
                        histograms: vec![native_histogram(snap, timestamp)],
                    });
                } else {
                    let mut cumulative = Vec::new();
                    let bounds = desc.buckets().stored();
                    crate::recorder::ClassicSlots::default().cumulative(
                        bounds,
                        snap,
                        &mut cumulative,
                    );
                    let bucket = format!("{name}_bucket");
                    for (&stored, count) in bounds.iter().zip(cumulative) {
                        let mut le = Vec::new();
                        push_float(&mut le, to_base(snap.unit(), stored));
                        let le = String::from_utf8_lossy(&le).into_owned();
                        out.timeseries
                            .push(sample(&bucket, Some(("le", le)), count as f64));
                    }
                    let count = snap.count() as f64;
                    out.timeseries
                        .push(sample(&bucket, Some(("le", "+Inf".to_string())), count));
                    out.timeseries
                        .push(sample(&format!("{name}_sum"), None, snap.sum()));
                    out.timeseries
                        .push(sample(&format!("{name}_count"), None, count));
                }
                continue;
            }
            (MetricKind::Counter | MetricKind::Gauge, SeriesValue::Unsigned(v)) => *v as f64,
            (MetricKind::Counter | MetricKind::Gauge, SeriesValue::Float(v)) => *v,
            (MetricKind::Gauge, SeriesValue::Signed(v)) => *v as f64,
            // A value of the wrong type for its family: left out.
            _ => continue,
        };
        out.timeseries.push(sample(&name, None, value));
    }
}

/// Our buckets as a native histogram: the zero bucket, then spans of populated buckets with
/// the deltas between consecutive counts.
fn native_histogram(snap: &HistogramSnapshot, timestamp: i64) -> proto::Histogram {
    let sparse = crate::recorder::SparseBuckets::of(snap);
    proto::Histogram {
        count_int: Some(snap.count()),
        sum: snap.sum(),
        schema: snap.schema().get(),
        zero_threshold: 0.0,
        zero_count_int: Some(sparse.zero_count),
        timestamp,
        positive_spans: sparse
            .spans
            .into_iter()
            .map(|(offset, length)| proto::BucketSpan { offset, length })
            .collect(),
        positive_deltas: sparse.deltas,
        ..proto::Histogram::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Unit;
    use crate::registry::Registry;
    use std::time::SystemTime;

    fn registry() -> Registry {
        let registry = Registry::builder()
            .self_metrics(false)
            .process_metrics(false)
            .const_label("region", "eu")
            .build()
            .unwrap();
        let h = registry
            .histogram("rpc_seconds", "RPC latency.", Unit::Seconds)
            .unwrap();
        for ns in [1_000_000u64, 1_000_000, 3_000_000, 250_000_000] {
            h.record(ns);
        }
        registry.counter("jobs", "Jobs.").unwrap().inc_by(7);
        registry
    }

    fn request(registry: &Registry, native: bool) -> proto::WriteRequest {
        let families = registry.collect();
        let now = SystemTime::now();
        write_request(
            &PushBatch {
                families: &families,
                const_labels: registry.const_labels(),
                time: now,
                start_time: now,
            },
            native,
        )
    }

    fn label<'a>(series: &'a proto::TimeSeries, name: &str) -> Option<&'a str> {
        series
            .labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn native_histogram_carries_every_bucket_and_labels_are_sorted() {
        let registry = registry();
        let request = request(&registry, true);
        let series = request
            .timeseries
            .iter()
            .find(|s| label(s, "__name__") == Some("rpc_seconds"))
            .unwrap();
        let names: Vec<_> = series.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "region"]);
        let h = &series.histograms[0];
        assert_eq!((h.count_int, h.schema), (Some(4), 3));
        assert!((h.sum - 0.255).abs() < 1e-9);
        // Absolute counts from the deltas add up to the count.
        let mut running = 0i64;
        let total: i64 = h
            .positive_deltas
            .iter()
            .map(|d| {
                running += d;
                running
            })
            .sum();
        assert_eq!(total, 4);
        let buckets: u32 = h.positive_spans.iter().map(|s| s.length).sum();
        assert_eq!(buckets as usize, h.positive_deltas.len());
        let jobs = request
            .timeseries
            .iter()
            .find(|s| label(s, "__name__") == Some("jobs_total"))
            .unwrap();
        assert_eq!(jobs.samples[0].value, 7.0);
    }

    #[test]
    fn classic_series_end_with_inf_sum_and_count() {
        let registry = registry();
        let request = request(&registry, false);
        assert!(request.timeseries.iter().all(|s| s.histograms.is_empty()));
        let value = |name: &str, le: Option<&str>| {
            request
                .timeseries
                .iter()
                .find(|s| label(s, "__name__") == Some(name) && label(s, "le") == le)
                .map(|s| s.samples[0].value)
        };
        assert_eq!(value("rpc_seconds_bucket", Some("+Inf")), Some(4.0));
        assert_eq!(value("rpc_seconds_count", None), Some(4.0));
        assert!((value("rpc_seconds_sum", None).unwrap() - 0.255).abs() < 1e-9);
        let buckets: Vec<f64> = request
            .timeseries
            .iter()
            .filter(|s| label(s, "__name__") == Some("rpc_seconds_bucket"))
            .map(|s| s.samples[0].value)
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }
}
