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

#[test]
fn each_family_exports_its_own_schema_exactly() {
    use perf_instrument::{Buckets, Schema};
    let registry = Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap();
    let bounds = [0.000_1, 0.001, 0.005, 0.01, 0.1, 1.0];
    let family = |name: &str, schema: i32| {
        registry
            .register_histogram(
                Opts::new(name, "Latency.")
                    .unit(Unit::Seconds)
                    .schema(schema)
                    .buckets(Buckets::from_values(Unit::Seconds, &bounds)),
            )
            .unwrap()
            .with_label_values(&[])
    };
    let fine = family("fine_seconds", 8);
    let coarse = family("coarse_seconds", 0);
    let default = family("default_seconds", 3);
    for i in 0..20_000u64 {
        // 1 µs to about 1.7 s, spread in log scale.
        let ns = (1_000.0 * 1.000_75f64.powi(i as i32)) as u64;
        for h in [&fine, &coarse, &default] {
            h.record(ns);
        }
    }
    let families = decode_all(&render_as(&registry, Format::Protobuf));
    for (name, h, schema) in [
        ("fine_seconds", &fine, 8),
        ("coarse_seconds", &coarse, 0),
        ("default_seconds", &default, 3),
    ] {
        let snap = h.snapshot();
        assert_eq!(snap.schema(), Schema::new(schema).unwrap());
        let f = families.iter().find(|f| f.name == name).unwrap();
        let proto = f.metric[0].histogram.as_ref().unwrap();
        assert_eq!(proto.schema, schema, "{name}");
        let native = native_buckets(proto);
        assert_eq!(native, expected(&snap), "{name}");
        // Bucket i at schema s holds (2^((i-1)/2^s), 2^(i/2^s)] seconds: at schema 8 about 5,500
        // buckets over these 21.6 octaves, at schema 0 twenty-two or so.
        let per_octave = f64::from(1u32 << schema);
        for &(i, _) in &native {
            let upper = 2f64.powf(f64::from(i) / per_octave);
            assert!(upper > 0.9e-6 && upper <= 4.0, "{name}: bucket {i}");
        }
        let expected_buckets = (20_000.0 * 1.000_75f64.log2() * per_octave) as usize;
        assert!(
            native.len() + 2 >= expected_buckets && native.len() <= expected_buckets + 2,
            "{name}: {} buckets",
            native.len()
        );
        // Classic buckets exact at their bounds, which are bounds of the family's schema.
        assert_eq!(proto.bucket.len(), bounds.len(), "{name}");
        for b in &proto.bucket {
            let below = snap
                .buckets()
                .filter(|x| x.upper <= b.upper_bound)
                .map(|x| x.count)
                .sum::<u64>();
            assert_eq!(b.cumulative_count, below, "{name}: le={}", b.upper_bound);
            assert!(
                snap.buckets().any(|x| x.upper == b.upper_bound),
                "{name}: le={}",
                b.upper_bound
            );
        }
        // Quantiles within the schema's bound (plus a storage unit).
        let p50 = snap.quantile(0.5).unwrap();
        let exact = 1e-6 * 1.000_75f64.powi(9_999);
        assert!(
            (p50 - exact).abs() <= exact * snap.relative_error() + 1e-9,
            "{name}: p50 {p50} vs {exact}"
        );
    }
    // At schema 0 the classic bounds were moved up to powers of two.
    let f = families
        .iter()
        .find(|f| f.name == "coarse_seconds")
        .unwrap();
    let le: Vec<f64> = f.metric[0]
        .histogram
        .as_ref()
        .unwrap()
        .bucket
        .iter()
        .map(|b| b.upper_bound)
        .collect();
    for b in le {
        assert_eq!(b.log2().fract(), 0.0, "{b}");
    }
    // Merged, the three give the coarsest schema's buckets.
    let mut merged = fine.snapshot();
    assert!(merged.merge(&default.snapshot()));
    assert_eq!(merged.schema(), Schema::DEFAULT);
    assert!(merged.merge(&coarse.snapshot()));
    assert_eq!(merged.schema(), Schema::MIN);
    let mut thrice = coarse.snapshot();
    thrice.merge(&coarse.snapshot());
    thrice.merge(&coarse.snapshot());
    assert_eq!(merged, thrice);
}
