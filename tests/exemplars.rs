//! Exemplars through the registry and every format: OpenMetrics carries them on the bucket
//! that holds their value and on `_total`, protobuf on classic buckets, counters and the native
//! histogram, Prometheus text 0.0.4 not at all.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::quiet_registry as registry;

use perf_instrument::{render_as, Buckets, Format, Opts, Registry, Unit};

/// `rpc_seconds`, classic bounds 1 ms and 100 ms, unlabelled.
fn rpc_seconds(registry: &Registry) -> perf_instrument::Histogram {
    registry
        .register_histogram(
            Opts::new("rpc_seconds", "RPC.")
                .unit(Unit::Seconds)
                .buckets(Buckets::from_values(Unit::Seconds, &[0.001, 0.1])),
        )
        .unwrap()
        .with_label_values(&[])
}

#[test]
fn openmetrics_puts_each_exemplar_on_the_bucket_holding_its_value() {
    let registry = registry();
    let latency = rpc_seconds(&registry);
    latency
        .record_with_exemplar(500_000, &[("trace_id", "fast")])
        .unwrap();
    latency
        .record_with_exemplar(50_000_000, &[("trace_id", "q\"uote\\d")])
        .unwrap();
    latency
        .record_with_exemplar(2_000_000_000, &[("trace_id", "slow")])
        .unwrap();
    let jobs = registry.counter("jobs", "Jobs.").unwrap();
    jobs.inc_by_with_exemplar(3, &[("job_id", "j-7")]).unwrap();

    let text = String::from_utf8(render_as(&registry, Format::OpenMetrics)).unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_string()
    };
    let buckets: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rpc_seconds_bucket"))
        .collect();
    // The bounds are moved up to native bucket bounds (0.001 s → 0.00106… s).
    assert_eq!(buckets.len(), 3, "{text}");
    assert!(
        buckets[0].contains("} 1 # {trace_id=\"fast\"} 0.000"),
        "{text}"
    );
    assert!(
        buckets[1].contains("} 2 # {trace_id=\"q\\\"uote\\\\d\"} 0.05"),
        "{text}"
    );
    let inf = buckets[2];
    assert!(inf.starts_with("rpc_seconds_bucket{le=\"+Inf\"} 3 # {trace_id=\"slow\"} "));
    assert!(inf.contains("} 2.0 ") || inf.contains("} 1.99"), "{inf}");
    // Each exemplar carries its timestamp, seconds since the epoch.
    let ts: f64 = inf.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(ts > 1.6e9, "{inf}");
    assert!(!line("rpc_seconds_count").contains('#'));
    assert!(line("jobs_total").starts_with("jobs_total 3 # {job_id=\"j-7\"} 3.0 "));

    let plain = String::from_utf8(render_as(&registry, Format::PrometheusText)).unwrap();
    assert!(
        !plain.contains("trace_id") && !plain.contains("job_id"),
        "{plain}"
    );
}

#[test]
fn a_seconds_counter_exports_its_exemplar_in_seconds() {
    let registry = registry();
    let busy = registry
        .register_counter(Opts::new("busy_seconds", "Busy.").unit(Unit::Seconds))
        .unwrap()
        .with_label_values(&[]);
    busy.inc_by_with_exemplar(1_500_000_000, &[("trace_id", "t")])
        .unwrap();
    let text = String::from_utf8(render_as(&registry, Format::OpenMetrics)).unwrap();
    assert!(
        text.contains("busy_seconds_total 1.5 # {trace_id=\"t\"} 1.5 "),
        "{text}"
    );
}

#[test]
fn refused_exemplars_are_counted_by_family() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let h = registry
        .histogram("rpc_seconds", "RPC.", Unit::Seconds)
        .unwrap();
    let long = "0".repeat(129);
    assert!(h
        .record_with_exemplar(1_000, &[("trace_id", &long)])
        .is_err());
    assert!(h.record_with_exemplar(1_000, &[("1x", "a")]).is_err());
    assert!(h.record_with_exemplar(1_000, &[("ok", "a")]).is_ok());
    let text = String::from_utf8(render_as(&registry, Format::OpenMetrics)).unwrap();
    assert!(
        text.contains("perf_instrument_exemplars_refused_total{family=\"rpc_seconds\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("rpc_seconds_count 3\n"));
}

#[cfg(feature = "protobuf")]
#[test]
fn protobuf_carries_exemplars_on_classic_buckets_counters_and_the_native_histogram() {
    use perf_instrument::protobuf::proto::MetricFamily;
    use prost::Message;

    let registry = registry();
    let latency = rpc_seconds(&registry);
    latency
        .record_with_exemplar(500_000, &[("trace_id", "fast")])
        .unwrap();
    latency
        .record_with_exemplar(2_000_000_000, &[("trace_id", "slow")])
        .unwrap();
    registry
        .counter("jobs", "Jobs.")
        .unwrap()
        .inc_by_with_exemplar(2, &[("job_id", "j")])
        .unwrap();

    let body = render_as(&registry, Format::Protobuf);
    let mut rest = &body[..];
    let histogram = MetricFamily::decode_length_delimited(&mut rest).unwrap();
    let counter = MetricFamily::decode_length_delimited(&mut rest).unwrap();
    let h = histogram.metric[0].histogram.as_ref().unwrap();
    let id = |e: &perf_instrument::protobuf::proto::Exemplar| e.label[0].value.clone();
    assert_eq!(id(h.bucket[0].exemplar.as_ref().unwrap()), "fast");
    assert!(h.bucket[1].exemplar.is_none());
    let native: Vec<_> = h.exemplars.iter().map(id).collect();
    assert_eq!(native, ["fast", "slow"]);
    let slow = &h.exemplars[1];
    assert!((slow.value - 2.0).abs() < 1e-6);
    assert!(slow.timestamp.as_ref().unwrap().seconds > 1_600_000_000);
    let c = counter.metric[0].counter.as_ref().unwrap();
    assert_eq!(c.exemplar.as_ref().map(|e| e.value), Some(2.0));

    // A newer exemplar in the second bucket: the first bucket no longer offers its older one,
    // so the first exemplar in bucket order is the newest (what Prometheus 2.40-2.46 stores as
    // the native histogram's); the native field still has all three.
    std::thread::sleep(std::time::Duration::from_millis(2));
    latency
        .record_with_exemplar(50_000_000, &[("trace_id", "newest")])
        .unwrap();
    let body = render_as(&registry, Format::Protobuf);
    let histogram = MetricFamily::decode_length_delimited(&body[..]).unwrap();
    let h = histogram.metric[0].histogram.as_ref().unwrap();
    assert!(h.bucket[0].exemplar.is_none());
    assert_eq!(id(h.bucket[1].exemplar.as_ref().unwrap()), "newest");
    assert_eq!(h.exemplars.len(), 3);
}
