//! The OTLP/HTTP metrics target (feature `otlp`): an
//! `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest` in binary protobuf,
//! POSTed to `<endpoint>/v1/metrics` (an OpenTelemetry Collector's `otlphttp` receiver listens
//! on port 4318; Prometheus 2.47+ takes OTLP at `/api/v1/otlp/v1/metrics`).
//!
//! Every point is cumulative, starting when the pusher started. Counters are monotonic `Sum`s,
//! gauges `Gauge`s, histograms `ExponentialHistogram`s: OTLP's exponential buckets are
//! Prometheus native buckets numbered one lower, so ours go across exactly: `scale` = schema;
//! native bucket `i` covers `(base^(i-1), base^i]` and OTLP bucket `k` covers
//! `(base^k, base^(k+1)]`, so OTLP index = native index - 1; dense counts from the lowest
//! populated bucket (`positive.offset`) to the highest, the zero bucket as
//! `zero_count` (threshold 0), `sum`, and `max` when it is an exact observation. `min` is left
//! out: the histograms do not track their minimum exactly (only within the relative error).
//! Names stay as registered (`rpc_seconds`), units become UCUM (`s`, `By`); the registry's
//! constant labels and each series' labels become point attributes, and the resource carries
//! `service.name` plus what [`OtlpBuilder::resource_attribute`] adds.
//!
//! The messages are declared here with `prost` derives, field numbers as in
//! `opentelemetry-proto`; no `protoc` at build time.

use super::pusher::{PushBatch, PushError, PushTarget};
use super::transport::{unix_nanos, Http, Method, DEFAULT_TIMEOUT};
use crate::recorder::{HistogramSnapshot, Unit};
use crate::registry::{FamilySnapshot, LabelValues, MetricKind, SeriesValue};
use prost::Message;
use std::time::Duration;

/// OTLP messages, as much of `opentelemetry-proto` as a metrics exporter needs.
pub mod proto {
    #![allow(missing_docs)]

    /// `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// use prost::Message;
    /// let request = ExportMetricsServiceRequest { resource_metrics: vec![ResourceMetrics::default()] };
    /// assert_eq!(ExportMetricsServiceRequest::decode(&*request.encode_to_vec()).unwrap(), request);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_metrics: Vec<ResourceMetrics>,
    }

    /// `opentelemetry.proto.metrics.v1.ResourceMetrics`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// assert!(ResourceMetrics::default().scope_metrics.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceMetrics {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_metrics: Vec<ScopeMetrics>,
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }

    /// `opentelemetry.proto.resource.v1.Resource`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// assert!(Resource::default().attributes.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "2")]
        pub dropped_attributes_count: u32,
    }

    /// `opentelemetry.proto.common.v1.KeyValue`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// let kv = KeyValue::string("service.name", "checkout");
    /// assert_eq!(kv.value.unwrap().value, Some(any_value::Value::StringValue("checkout".into())));
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    impl KeyValue {
        /// A string attribute.
        ///
        /// ```
        /// use perf_instrument::export::otlp::proto::KeyValue;
        /// assert_eq!(KeyValue::string("k", "v").key, "k");
        /// ```
        #[must_use]
        pub fn string(key: &str, value: &str) -> Self {
            Self {
                key: key.to_string(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(value.to_string())),
                }),
            }
        }
    }

    /// `opentelemetry.proto.common.v1.AnyValue` (scalar arms).
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// use prost::Message;
    /// let v = AnyValue { value: Some(any_value::Value::IntValue(3)) };
    /// assert_eq!(AnyValue::decode(&*v.encode_to_vec()).unwrap(), v);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
        pub value: Option<any_value::Value>,
    }

    /// The arms of [`AnyValue`].
    pub mod any_value {
        /// `AnyValue.value`.
        ///
        /// ```
        /// use perf_instrument::export::otlp::proto::any_value::Value;
        /// assert_eq!(Value::BoolValue(true), Value::BoolValue(true));
        /// ```
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
        }
    }

    /// `opentelemetry.proto.common.v1.InstrumentationScope`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// assert!(InstrumentationScope::default().name.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

    /// `opentelemetry.proto.metrics.v1.ScopeMetrics`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// assert!(ScopeMetrics::default().metrics.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeMetrics {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub metrics: Vec<Metric>,
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }

    /// `opentelemetry.proto.metrics.v1.Metric`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// use prost::Message;
    /// let m = Metric { name: "up".into(), data: Some(metric::Data::Gauge(Gauge::default())), ..Default::default() };
    /// assert_eq!(Metric::decode(&*m.encode_to_vec()).unwrap(), m);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub description: String,
        #[prost(string, tag = "3")]
        pub unit: String,
        #[prost(oneof = "metric::Data", tags = "5, 7, 10")]
        pub data: Option<metric::Data>,
    }

    /// The arms of [`Metric`].
    pub mod metric {
        /// `Metric.data`.
        ///
        /// ```
        /// use perf_instrument::export::otlp::proto::{metric::Data, Gauge};
        /// assert!(matches!(Data::Gauge(Gauge::default()), Data::Gauge(_)));
        /// ```
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Data {
            #[prost(message, tag = "5")]
            Gauge(super::Gauge),
            #[prost(message, tag = "7")]
            Sum(super::Sum),
            #[prost(message, tag = "10")]
            ExponentialHistogram(super::ExponentialHistogram),
        }
    }

    /// `opentelemetry.proto.metrics.v1.Gauge`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// assert!(Gauge::default().data_points.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
    }

    /// `opentelemetry.proto.metrics.v1.Sum`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// let s = Sum { data_points: vec![], aggregation_temporality: CUMULATIVE, is_monotonic: true };
    /// assert!(s.is_monotonic);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sum {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
        #[prost(bool, tag = "3")]
        pub is_monotonic: bool,
    }

    /// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
    pub const CUMULATIVE: i32 = 2;

    /// `opentelemetry.proto.metrics.v1.NumberDataPoint`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// use prost::Message;
    /// let p = NumberDataPoint { value: Some(number_data_point::Value::AsInt(3)), time_unix_nano: 1, ..Default::default() };
    /// assert_eq!(NumberDataPoint::decode(&*p.encode_to_vec()).unwrap(), p);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NumberDataPoint {
        #[prost(message, repeated, tag = "7")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
        pub value: Option<number_data_point::Value>,
    }

    /// The arms of [`NumberDataPoint`].
    pub mod number_data_point {
        /// `NumberDataPoint.value`.
        ///
        /// ```
        /// use perf_instrument::export::otlp::proto::number_data_point::Value;
        /// assert_ne!(Value::AsInt(1), Value::AsDouble(1.0));
        /// ```
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(double, tag = "4")]
            AsDouble(f64),
            #[prost(sfixed64, tag = "6")]
            AsInt(i64),
        }
    }

    /// `opentelemetry.proto.metrics.v1.ExponentialHistogram`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// assert!(ExponentialHistogram::default().data_points.is_empty());
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExponentialHistogram {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<ExponentialHistogramDataPoint>,
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
    }

    /// `opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint` (without exemplars).
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// use prost::Message;
    /// let p = ExponentialHistogramDataPoint {
    ///     count: 2,
    ///     sum: Some(3.0),
    ///     scale: 3,
    ///     positive: Some(Buckets { offset: 7, bucket_counts: vec![1, 0, 1] }),
    ///     max: Some(2.0),
    ///     ..Default::default()
    /// };
    /// assert_eq!(ExponentialHistogramDataPoint::decode(&*p.encode_to_vec()).unwrap(), p);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExponentialHistogramDataPoint {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(fixed64, tag = "4")]
        pub count: u64,
        #[prost(double, optional, tag = "5")]
        pub sum: Option<f64>,
        #[prost(sint32, tag = "6")]
        pub scale: i32,
        #[prost(fixed64, tag = "7")]
        pub zero_count: u64,
        #[prost(message, optional, tag = "8")]
        pub positive: Option<Buckets>,
        #[prost(message, optional, tag = "9")]
        pub negative: Option<Buckets>,
        #[prost(uint32, tag = "10")]
        pub flags: u32,
        #[prost(double, optional, tag = "12")]
        pub min: Option<f64>,
        #[prost(double, optional, tag = "13")]
        pub max: Option<f64>,
        #[prost(double, tag = "14")]
        pub zero_threshold: f64,
    }

    /// `ExponentialHistogramDataPoint.Buckets`: counts of consecutive buckets from `offset`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::proto::*;
    /// use prost::Message;
    /// let b = Buckets { offset: -2, bucket_counts: vec![4, 0, 1] };
    /// assert_eq!(Buckets::decode(&*b.encode_to_vec()).unwrap(), b);
    /// ```
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Buckets {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint64, repeated, tag = "2")]
        pub bucket_counts: Vec<u64>,
    }
}

/// Pushes the registry as OTLP/HTTP metrics. Build it with [`Otlp::builder`] and give it to a
/// [`Pusher`](crate::export::Pusher).
///
/// ```
/// use perf_instrument::export::otlp::Otlp;
/// let target = Otlp::builder("http://127.0.0.1:4318", "checkout").build().unwrap();
/// assert_eq!(target.url(), "http://127.0.0.1:4318/v1/metrics");
/// ```
#[derive(Debug)]
pub struct Otlp {
    http: Http,
    url: String,
    resource: proto::Resource,
}

impl Otlp {
    /// A target for the OTLP/HTTP endpoint `endpoint` (`http://collector:4318`; `/v1/metrics`
    /// is appended unless the URL already ends with it), resource `service.name` = `service`.
    ///
    /// ```
    /// use perf_instrument::export::otlp::Otlp;
    /// let target = Otlp::builder("http://prom:9090/api/v1/otlp/v1/metrics", "batch").build().unwrap();
    /// assert_eq!(target.url(), "http://prom:9090/api/v1/otlp/v1/metrics");
    /// ```
    pub fn builder(endpoint: &str, service: &str) -> OtlpBuilder {
        OtlpBuilder {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            attributes: vec![
                ("service.name".to_string(), service.to_string()),
                (
                    "telemetry.sdk.name".to_string(),
                    "perf-instrument".to_string(),
                ),
                ("telemetry.sdk.language".to_string(), "rust".to_string()),
                (
                    "telemetry.sdk.version".to_string(),
                    env!("CARGO_PKG_VERSION").to_string(),
                ),
            ],
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Where requests go.
    ///
    /// ```
    /// use perf_instrument::export::otlp::Otlp;
    /// assert_eq!(Otlp::builder("http://c:4318/", "s").build().unwrap().url(), "http://c:4318/v1/metrics");
    /// ```
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request this target sends for `batch`.
    ///
    /// ```
    /// use perf_instrument::export::{otlp::Otlp, PushBatch};
    /// use perf_instrument::Registry;
    /// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
    /// registry.counter("jobs", "Jobs.").unwrap().inc_by(2);
    /// let families = registry.collect();
    /// let now = std::time::SystemTime::now();
    /// let batch = PushBatch { families: &families, const_labels: &[], time: now, start_time: now };
    /// let request = Otlp::builder("http://c:4318", "svc").build().unwrap().request(&batch);
    /// let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    /// assert_eq!(metrics[0].name, "jobs");
    /// ```
    #[must_use]
    pub fn request(&self, batch: &PushBatch<'_>) -> proto::ExportMetricsServiceRequest {
        let start = unix_nanos(batch.start_time);
        let time = unix_nanos(batch.time);
        let metrics = batch
            .families
            .iter()
            .filter_map(|family| metric(family, batch.const_labels, start, time))
            .collect();
        proto::ExportMetricsServiceRequest {
            resource_metrics: vec![proto::ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![proto::ScopeMetrics {
                    scope: Some(proto::InstrumentationScope {
                        name: "perf-instrument".to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

impl PushTarget for Otlp {
    fn name(&self) -> &str {
        "otlp"
    }

    fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError> {
        let body = self.request(batch).encode_to_vec();
        self.http.send(
            Method::Post,
            &self.url,
            &[("Content-Type", "application/x-protobuf")],
            &body,
        )
    }
}

/// Sets up an [`Otlp`] target.
///
/// ```
/// use perf_instrument::export::otlp::Otlp;
/// let target = Otlp::builder("http://127.0.0.1:4318", "checkout")
///     .resource_attribute("deployment.environment", "ci")
///     .timeout(std::time::Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert!(target.url().ends_with("/v1/metrics"));
/// ```
#[derive(Debug)]
#[must_use]
pub struct OtlpBuilder {
    endpoint: String,
    attributes: Vec<(String, String)>,
    timeout: Duration,
}

impl OtlpBuilder {
    /// Adds (or replaces) a resource attribute (`service.version`, `service.instance.id`,
    /// `deployment.environment`…).
    ///
    /// ```
    /// use perf_instrument::export::{otlp::Otlp, PushBatch};
    /// let target = Otlp::builder("http://c:4318", "a").resource_attribute("service.name", "b").build().unwrap();
    /// let now = std::time::SystemTime::now();
    /// let request = target.request(&PushBatch { families: &[], const_labels: &[], time: now, start_time: now });
    /// let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    /// let names: Vec<_> = resource.attributes.iter().filter(|kv| kv.key == "service.name").collect();
    /// assert_eq!(names.len(), 1);
    /// ```
    pub fn resource_attribute(mut self, key: &str, value: &str) -> Self {
        match self.attributes.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.attributes.push((key.to_string(), value.to_string())),
        }
        self
    }

    /// Time one request may take, connect to last byte (default 10 s).
    ///
    /// ```
    /// use perf_instrument::export::otlp::Otlp;
    /// assert!(Otlp::builder("http://c:4318", "s").timeout(std::time::Duration::from_secs(1)).build().is_ok());
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
    /// use perf_instrument::export::otlp::Otlp;
    /// assert!(Otlp::builder("grpc://c:4317", "s").build().is_err());
    /// ```
    pub fn build(self) -> Result<Otlp, PushError> {
        if !self.endpoint.starts_with("http://") {
            return Err(PushError::Config(format!(
                "OTLP endpoint {:?} must start with http:// (OTLP/HTTP without TLS)",
                self.endpoint
            )));
        }
        let url = if self.endpoint.ends_with("/v1/metrics") {
            self.endpoint
        } else {
            format!("{}/v1/metrics", self.endpoint)
        };
        Ok(Otlp {
            http: Http::new(self.timeout),
            url,
            resource: proto::Resource {
                attributes: self
                    .attributes
                    .iter()
                    .map(|(k, v)| proto::KeyValue::string(k, v))
                    .collect(),
                dropped_attributes_count: 0,
            },
        })
    }
}

/// UCUM for our units.
fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "s",
        Unit::Bytes => "By",
        Unit::Count => "",
    }
}

fn metric(
    family: &FamilySnapshot,
    const_labels: &[(String, String)],
    start: u64,
    time: u64,
) -> Option<proto::Metric> {
    use proto::number_data_point::Value;
    let desc = &family.desc;
    let attributes = |values: &LabelValues| -> Vec<proto::KeyValue> {
        const_labels
            .iter()
            .map(|(k, v)| proto::KeyValue::string(k, v))
            .chain(
                desc.label_names()
                    .iter()
                    .zip(values)
                    .map(|(k, v)| proto::KeyValue::string(k, v)),
            )
            .collect()
    };
    let series = family
        .series
        .iter()
        .filter(|s| s.label_values.len() == desc.label_names().len());
    let number = |s: &crate::registry::SeriesSnapshot| {
        let value = match s.value {
            SeriesValue::Unsigned(v) => match i64::try_from(v) {
                Ok(v) => Value::AsInt(v),
                Err(_) => Value::AsDouble(v as f64),
            },
            SeriesValue::Signed(v) => Value::AsInt(v),
            SeriesValue::Float(v) => Value::AsDouble(v),
            SeriesValue::Histogram(_) => return None,
        };
        Some(proto::NumberDataPoint {
            attributes: attributes(&s.label_values),
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(value),
        })
    };
    let data = match desc.kind() {
        MetricKind::Counter => proto::metric::Data::Sum(proto::Sum {
            data_points: series.filter_map(number).collect(),
            aggregation_temporality: proto::CUMULATIVE,
            is_monotonic: true,
        }),
        MetricKind::Gauge => proto::metric::Data::Gauge(proto::Gauge {
            data_points: series.filter_map(number).collect(),
        }),
        MetricKind::Histogram => {
            proto::metric::Data::ExponentialHistogram(proto::ExponentialHistogram {
                data_points: series
                    .filter_map(|s| match &s.value {
                        SeriesValue::Histogram(snap) => {
                            Some(exponential(snap, attributes(&s.label_values), start, time))
                        }
                        _ => None,
                    })
                    .collect(),
                aggregation_temporality: proto::CUMULATIVE,
            })
        }
    };
    Some(proto::Metric {
        name: desc.name().to_string(),
        description: desc.help().to_string(),
        unit: ucum(desc.unit()).to_string(),
        data: Some(data),
    })
}

/// A snapshot as an exponential-histogram point: native bucket `i` is OTLP bucket `i - 1`.
fn exponential(
    snap: &HistogramSnapshot,
    attributes: Vec<proto::KeyValue>,
    start: u64,
    time: u64,
) -> proto::ExponentialHistogramDataPoint {
    let mut zero_count = 0;
    let mut positive: Option<proto::Buckets> = None;
    for b in snap.buckets() {
        let Some(index) = b.native_index else {
            zero_count += b.count;
            continue;
        };
        if b.count == 0 {
            continue;
        }
        let otlp = index - 1;
        let buckets = positive.get_or_insert_with(|| proto::Buckets {
            offset: otlp,
            bucket_counts: Vec::new(),
        });
        let at = usize::try_from(otlp - buckets.offset).unwrap_or(0);
        if buckets.bucket_counts.len() <= at {
            buckets.bucket_counts.resize(at + 1, 0);
        }
        buckets.bucket_counts[at] += b.count;
    }
    proto::ExponentialHistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: snap.count(),
        sum: Some(snap.sum()),
        scale: snap.schema().get(),
        zero_count,
        positive,
        negative: None,
        flags: 0,
        min: None,
        max: if snap.max_is_exact() {
            snap.max()
        } else {
            None
        },
        zero_threshold: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use std::time::SystemTime;

    #[test]
    fn buckets_shift_by_one_and_counts_match() {
        let registry = Registry::builder()
            .self_metrics(false)
            .process_metrics(false)
            .build()
            .unwrap();
        let h = registry.histogram("size", "Sizes.", Unit::Count).unwrap();
        for v in [0u64, 1, 3, 3, 100] {
            h.record(v);
        }
        let families = registry.collect();
        let now = SystemTime::now();
        let target = Otlp::builder("http://c:4318", "svc").build().unwrap();
        let request = target.request(&PushBatch {
            families: &families,
            const_labels: &[],
            time: now,
            start_time: now,
        });
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(proto::metric::Data::ExponentialHistogram(e)) = &metric.data else {
            panic!("not an exponential histogram: {metric:?}");
        };
        assert_eq!(e.aggregation_temporality, proto::CUMULATIVE);
        let p = &e.data_points[0];
        assert_eq!((p.count, p.zero_count, p.scale), (5, 1, 3));
        assert_eq!((p.sum, p.max, p.min), (Some(107.0), Some(100.0), None));
        let positive = p.positive.as_ref().unwrap();
        // 1 is native bucket 0 (upper bound 2^0), so OTLP bucket -1.
        assert_eq!(positive.offset, -1);
        assert_eq!(positive.bucket_counts.iter().sum::<u64>(), 4);
        // 3 is native bucket ceil(8 log2 3) = 13: OTLP 12, 13 slots after the first.
        assert_eq!(positive.bucket_counts[13], 2);
        // Every populated native bucket lands at OTLP index native - 1.
        let snap = h.snapshot();
        for b in snap
            .buckets()
            .filter(|b| b.count > 0 && b.native_index.is_some())
        {
            let at = (b.native_index.unwrap() - 1 - positive.offset) as usize;
            assert_eq!(positive.bucket_counts[at], b.count);
        }
    }
}
