//! The protobuf exposition carries every native bucket exactly.
#![cfg(all(not(perf_instrument_loom), feature = "protobuf"))]

use perf_instrument::protobuf::proto::{MetricFamily, MetricType};
use perf_instrument::{render, render_as, Format, HistogramSnapshot, Opts, Registry, Unit};
use prost::Message;

const ACCEPT: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

fn decode_all(mut body: &[u8]) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let family =
            MetricFamily::decode_length_delimited(&mut body).expect("a delimited MetricFamily");
        out.push(family);
    }
    out
}

/// The (native index, count) pairs the spans and deltas describe.
fn native_buckets(h: &perf_instrument::protobuf::proto::Histogram) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    let mut index = 0i32;
    let mut count = 0i64;
    let mut deltas = h.positive_delta.iter();
    for (n, span) in h.positive_span.iter().enumerate() {
        index += span.offset;
        if n > 0 || span.length > 0 {
            for _ in 0..span.length {
                count += deltas.next().expect("a delta per bucket");
                out.push((index, u64::try_from(count).expect("counts are positive")));
                index += 1;
            }
        }
    }
    assert!(deltas.next().is_none(), "no deltas left over");
    out
}

fn expected(snap: &HistogramSnapshot) -> Vec<(i32, u64)> {
    snap.buckets()
        .filter(|b| b.count > 0)
        .filter_map(|b| b.native_index.map(|i| (i, b.count)))
        .collect()
}

#[test]
fn every_native_bucket_matches_the_snapshot() {
    let registry = Registry::builder()
        .const_label("instance", "a")
        .build()
        .unwrap();
    let latency = registry
        .register_histogram(
            Opts::new("op_seconds", "Op latency.")
                .unit(Unit::Seconds)
                .labels(["op"]),
        )
        .unwrap();
    let sizes = registry
        .histogram("payload_bytes", "Payload.", Unit::Bytes)
        .unwrap();
    let empty = registry
        .histogram("never_seconds", "Empty.", Unit::Seconds)
        .unwrap();
    // Gaps between runs of buckets, zeros, huge values, many adjacent buckets.
    let reads = latency.with_label_values(&["read"]);
    for ns in [
        0u64,
        0,
        1,
        900,
        1_000,
        1_100,
        50_000,
        51_000,
        3_000_000_000,
        u64::MAX,
    ] {
        reads.record(ns);
    }
    let writes = latency.with_label_values(&["write"]);
    for i in 0..10_000u64 {
        writes.record(1_000 + i * i * 17);
    }
    for v in [0u64, 1, 2, 3, 64, 1 << 20, 1 << 40] {
        sizes.record(v);
    }

    let (content_type, body) = render(&registry, Some(ACCEPT));
    assert_eq!(
        content_type,
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    let families = decode_all(&body);
    let find = |name: &str| {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };

    for (name, snaps) in [
        (
            "op_seconds",
            vec![("read", reads.snapshot()), ("write", writes.snapshot())],
        ),
        ("payload_bytes", vec![("", sizes.snapshot())]),
        ("never_seconds", vec![("", empty.snapshot())]),
    ] {
        let family = find(name);
        assert_eq!(family.r#type, MetricType::Histogram as i32);
        for (op, snap) in snaps {
            let metric = family
                .metric
                .iter()
                .find(|m| op.is_empty() || m.label.iter().any(|l| l.name == "op" && l.value == op))
                .unwrap();
            assert!(metric
                .label
                .iter()
                .any(|l| l.name == "instance" && l.value == "a"));
            let h = metric.histogram.as_ref().unwrap();
            assert_eq!(h.schema, 3);
            assert_eq!(h.zero_threshold, 0.0);
            assert_eq!(
                h.zero_count,
                snap.buckets().next().unwrap().count,
                "{name}{op}: zero bucket"
            );
            assert_eq!(
                native_buckets(h),
                expected(&snap),
                "{name}{op}: native buckets"
            );
            assert_eq!(h.sample_count, snap.count());
            assert_eq!(h.sample_sum, snap.sum());
            assert!(
                !h.positive_span.is_empty(),
                "a span, even a no-op one, marks it native"
            );
            // The classic buckets ride along, exact at their bounds.
            for b in &h.bucket {
                let below = snap
                    .buckets()
                    .filter(|x| x.upper <= b.upper_bound)
                    .map(|x| x.count)
                    .sum::<u64>();
                assert_eq!(
                    b.cumulative_count, below,
                    "{name}{op}: le={}",
                    b.upper_bound
                );
            }
        }
    }
    // Seconds histograms index buckets in seconds: 1 s is native index 0 at schema 3.
    let one_second = Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap();
    one_second
        .histogram("x_seconds", "X.", Unit::Seconds)
        .unwrap()
        .record(1_000_000_000);
    let families = decode_all(&render_as(&one_second, Format::Protobuf));
    let h = families[0].metric[0].histogram.as_ref().unwrap();
    assert_eq!(native_buckets(h), vec![(0, 1)]);
}

#[test]
fn counters_and_gauges_come_as_usual() {
    let registry = Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap();
    registry.counter("jobs", "Jobs.").unwrap().inc_by(3);
    registry.gauge("depth", "Depth.").unwrap().set(-2);
    let families = decode_all(&render_as(&registry, Format::Protobuf));
    let jobs = families.iter().find(|f| f.name == "jobs_total").unwrap();
    assert_eq!(jobs.r#type, MetricType::Counter as i32);
    assert_eq!(jobs.metric[0].counter.as_ref().unwrap().value, 3.0);
    let depth = families.iter().find(|f| f.name == "depth").unwrap();
    assert_eq!(depth.metric[0].gauge.as_ref().unwrap().value, -2.0);
    // Other scrapers keep getting text.
    let (content_type, _) = render(&registry, Some("text/plain"));
    assert!(content_type.starts_with("text/plain"));
}
