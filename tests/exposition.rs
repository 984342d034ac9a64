//! Exposition correctness: both formats parse strictly, hostile strings round-trip, numbers are
//! exact, and scrapes during heavy recording stay consistent.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use perf_instrument::{
    render_as, Buckets, Format, Opts, Registry, RegistryError, Unit, OVERFLOW_LABEL_VALUE,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn bare() -> Registry {
    Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap()
}

fn both(registry: &Registry) -> [(Dialect, Parsed); 2] {
    let text = |f| String::from_utf8(render_as(registry, f)).unwrap();
    let prom = text(Format::PrometheusText);
    let om = text(Format::OpenMetrics);
    [
        (
            Dialect::Prometheus,
            parse(&prom, Dialect::Prometheus).unwrap_or_else(|e| panic!("{e}\n{prom}")),
        ),
        (
            Dialect::OpenMetrics,
            parse(&om, Dialect::OpenMetrics).unwrap_or_else(|e| panic!("{e}\n{om}")),
        ),
    ]
}

#[test]
fn every_type_renders_with_the_right_names_and_exact_values() {
    let registry = Registry::builder()
        .const_label("service", "orders")
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap();
    let requests = registry
        .register_counter(Opts::new("requests", "Requests.").labels(["method"]))
        .unwrap();
    requests.with_label_values(&["GET"]).inc_by(41);
    requests.with_label_values(&["GET"]).inc();
    registry.gauge("queue_depth", "Depth.").unwrap().set(-7);
    let age = registry
        .register_gauge(Opts::new("oldest_age_seconds", "Age.").unit(Unit::Seconds))
        .unwrap();
    age.with_label_values(&[]).set(1_500_000_000); // nanoseconds
    let latency = registry
        .histogram("latency_seconds", "Latency.", Unit::Seconds)
        .unwrap();
    let values_ns = [
        100_000u64,
        250_000,
        1_000_000,
        1_000_000,
        3_000_000_000,
        500_000_000_000,
    ];
    for v in values_ns {
        latency.record(v);
    }
    let snap = latency.snapshot();

    for (dialect, parsed) in both(&registry) {
        let counter_family = match dialect {
            Dialect::Prometheus => "requests_total",
            Dialect::OpenMetrics => "requests",
        };
        let c = &parsed[counter_family];
        assert_eq!(c.kind, "counter");
        let total = c
            .samples
            .iter()
            .find(|s| s.name == "requests_total")
            .unwrap();
        assert_eq!(total.value, 42.0);
        assert_eq!(
            total.labels,
            [
                ("service".into(), "orders".into()),
                ("method".into(), "GET".into())
            ]
        );
        let created = c.samples.iter().any(|s| s.name == "requests_created");
        assert_eq!(
            created,
            dialect == Dialect::OpenMetrics,
            "_created only in OpenMetrics"
        );

        assert_eq!(parsed["queue_depth"].samples[0].value, -7.0);
        let age = &parsed["oldest_age_seconds"];
        assert_eq!(
            age.samples[0].value, 1.5,
            "gauges in seconds are exported as seconds"
        );
        assert_eq!(
            age.unit.as_deref(),
            (dialect == Dialect::OpenMetrics).then_some("seconds"),
            "# UNIT only in OpenMetrics"
        );

        let h = &parsed["latency_seconds"];
        assert_eq!(h.kind, "histogram");
        let mut bounds = 0;
        for s in h
            .samples
            .iter()
            .filter(|s| s.name == "latency_seconds_bucket")
        {
            let le = s.label("le").unwrap();
            if le == "+Inf" {
                assert_eq!(s.value, 6.0);
                continue;
            }
            bounds += 1;
            let le: f64 = le.parse().unwrap();
            // Every exported bucket counts exactly the observations at or below its le.
            let exact = values_ns
                .iter()
                .filter(|&&ns| ns as f64 / 1e9 <= le)
                .count();
            assert_eq!(s.value, exact as f64, "le={le}");
        }
        assert_eq!(bounds, 53, "the default seconds buckets");
        let count = h
            .samples
            .iter()
            .find(|s| s.name == "latency_seconds_count")
            .unwrap();
        assert_eq!(count.value, 6.0);
        let sum = h
            .samples
            .iter()
            .find(|s| s.name == "latency_seconds_sum")
            .unwrap();
        assert_eq!(sum.value, snap.sum());
    }
}

#[test]
fn configured_boundaries_are_snapped_up_and_stay_exact() {
    let registry = bare();
    let h = registry
        .register_histogram(
            Opts::new("wait_seconds", "Wait.")
                .unit(Unit::Seconds)
                .buckets(Buckets::from_values(Unit::Seconds, &[0.005, 0.01, 0.1])),
        )
        .unwrap()
        .with_label_values(&[]);
    let values_ns = [
        4_000_000u64,
        5_000_000,
        5_100_000,
        5_200_000,
        9_000_000,
        99_000_000,
    ];
    for v in values_ns {
        h.record(v);
    }
    for (_, parsed) in both(&registry) {
        for s in parsed["wait_seconds"]
            .samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
        {
            let le = s.label("le").unwrap();
            if le == "+Inf" {
                continue;
            }
            let le: f64 = le.parse().unwrap();
            // Recorded nanoseconds become 2^-30 s units; count what is at or below in units.
            let exact = values_ns
                .iter()
                .filter(|&&ns| {
                    ((u128::from(ns) << 30) / 1_000_000_000) as f64 / (1u64 << 30) as f64 <= le
                })
                .count();
            assert_eq!(s.value, exact as f64, "le={le}");
        }
    }
}

#[test]
fn series_beyond_the_cap_fold_into_a_counted_overflow_series() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let hits = registry
        .register_counter(
            Opts::new("cache_hits", "Hits.")
                .labels(["key"])
                .max_series(3),
        )
        .unwrap();
    for key in ["a", "b", "c", "d", "e"] {
        hits.with_label_values(&[key]).inc();
    }
    hits.with_label_values(&["a"]).inc(); // existing: not an overflow
    assert_eq!(hits.series_count(), 3);
    assert_eq!(hits.overflow_count(), 2);
    for (dialect, parsed) in both(&registry) {
        let name = if dialect == Dialect::Prometheus {
            "cache_hits_total"
        } else {
            "cache_hits"
        };
        let overflow = parsed[name]
            .samples
            .iter()
            .find(|s| s.name == "cache_hits_total" && s.label("key") == Some(OVERFLOW_LABEL_VALUE))
            .unwrap();
        assert_eq!(overflow.value, 2.0);
        let counted_name = if dialect == Dialect::Prometheus {
            "perf_instrument_series_overflow_total"
        } else {
            "perf_instrument_series_overflow"
        };
        let counted = parsed[counted_name]
            .samples
            .iter()
            .find(|s| s.name.ends_with("_total") && s.label("family") == Some("cache_hits"))
            .unwrap();
        assert_eq!(counted.value, 2.0);
    }
}

#[test]
fn registration_refuses_what_would_render_badly() {
    let registry = bare();
    let err = |r: Result<(), RegistryError>| r.unwrap_err();
    assert!(matches!(
        err(registry.counter("2fast", "x").map(drop)),
        RegistryError::InvalidMetricName { .. }
    ));
    assert!(matches!(
        err(registry
            .register_gauge(Opts::new("g", "x").labels(["__id"]))
            .map(drop)),
        RegistryError::InvalidLabelName { .. }
    ));
    assert!(matches!(
        err(registry
            .register_histogram(Opts::new("h", "x").labels(["le"]))
            .map(drop)),
        RegistryError::InvalidLabelName { .. }
    ));
    assert!(matches!(
        err(registry.histogram("latency", "x", Unit::Seconds).map(drop)),
        RegistryError::MissingUnitSuffix { .. }
    ));
    // A histogram `rpc` exposes `rpc_count`; a histogram of that name would collide.
    registry.histogram("rpc", "x", Unit::Count).unwrap();
    assert!(matches!(
        err(registry.histogram("rpc_count", "x", Unit::Count).map(drop)),
        RegistryError::NameCollision { .. }
    ));
    // A gauge may not end with a histogram's sample suffix at all.
    assert!(matches!(
        err(registry.gauge("rpc_count", "x").map(drop)),
        RegistryError::ReservedSuffix { .. }
    ));
    // Nor with a counter's: `_total` is for counters only.
    registry.counter("jobs", "x").unwrap();
    assert!(matches!(
        err(registry.gauge("jobs_total", "x").map(drop)),
        RegistryError::ReservedSuffix { .. }
    ));
    // `jobs_total` as a counter is `jobs` again: the same family.
    registry.counter("jobs_total", "x").unwrap().inc();
    assert_eq!(registry.counter("jobs", "x").unwrap().get(), 1);
    assert!(matches!(
        err(registry
            .register_counter(Opts::new("jobs", "x").labels(["k"]))
            .map(drop)),
        RegistryError::ShapeMismatch { .. }
    ));
    let labelled = registry
        .register_gauge(Opts::new("depth", "x").labels(["queue"]))
        .unwrap();
    assert!(matches!(
        labelled.get(&[]),
        Err(RegistryError::LabelCount { .. })
    ));
    assert!(Registry::builder()
        .const_label("1bad", "x")
        .build()
        .is_err());
    assert!(Registry::builder()
        .const_label("a", "x")
        .const_label("a", "y")
        .build()
        .is_err());
    // Nothing that was refused shows up.
    for (_, parsed) in both(&registry) {
        assert!(!parsed.contains_key("2fast") && !parsed.contains_key("g"));
    }
}

#[test]
fn names_ending_with_another_types_sample_suffix_are_refused() {
    let registry = bare();
    let refused = |r: Result<(), RegistryError>, name: &str| match r {
        Err(e @ RegistryError::ReservedSuffix { .. }) => {
            assert!(e.to_string().contains(name), "{e}");
        }
        other => panic!("{name}: {other:?}"),
    };
    refused(registry.gauge("queue_total", "x").map(drop), "queue_total");
    refused(
        registry
            .register_fn_gauge(Opts::new("queue_total", "x"))
            .map(drop),
        "queue_total",
    );
    refused(
        registry.histogram("wait_total", "x", Unit::Count).map(drop),
        "wait_total",
    );
    for suffix in ["_bucket", "_count", "_sum", "_created"] {
        let name = format!("rpc{suffix}");
        refused(registry.gauge(&name, "x").map(drop), &name);
    }
    refused(
        registry
            .histogram("batch_created", "x", Unit::Count)
            .map(drop),
        "batch_created",
    );
    // Counters keep their `_total` (and export every name as `<name>_total`), histograms may
    // end like their own samples.
    registry.counter("requests_total", "x").unwrap().inc();
    registry.counter("orders_created", "x").unwrap().inc();
    registry.counter("retries_count", "x").unwrap().inc();
    registry.histogram("rows_count", "x", Unit::Count).unwrap();
    for (_, parsed) in both(&registry) {
        assert_eq!(parsed.len(), 4, "{:?}", parsed.keys());
    }
    // Collectors' descriptors go through the same validation.
    assert!(matches!(
        perf_instrument::Descriptor::new(
            perf_instrument::MetricKind::Gauge,
            Opts::new("open_total", "x")
        ),
        Err(RegistryError::ReservedSuffix { .. })
    ));
}

#[test]
fn a_family_label_may_not_repeat_a_constant_label() {
    use perf_instrument::{Collector, Descriptor, FamilySnapshot, MetricKind};
    use std::sync::Arc;
    // The self metrics label overflows by `family`: a constant label of that name is refused.
    let clash = Registry::builder().const_label("family", "orders").build();
    assert!(
        matches!(clash, Err(RegistryError::InvalidLabelName { ref label, .. }) if label == "family"),
        "{clash:?}"
    );
    let registry = Registry::builder()
        .const_label("queue", "eu")
        .process_metrics(false)
        .build()
        .unwrap();
    let refused = registry.register_gauge(Opts::new("depth", "x").labels(["name", "queue"]));
    assert!(
        matches!(refused, Err(RegistryError::InvalidLabelName { ref label, .. }) if label == "queue"),
        "{refused:?}"
    );
    struct Queues(Arc<Descriptor>);
    impl Collector for Queues {
        fn describe(&self) -> Vec<Arc<Descriptor>> {
            vec![self.0.clone()]
        }
        fn collect(&self, _: &mut Vec<FamilySnapshot>) {}
    }
    let desc = Descriptor::new(
        MetricKind::Gauge,
        Opts::new("queue_age_seconds", "x")
            .unit(Unit::Seconds)
            .labels(["queue"]),
    )
    .unwrap();
    assert!(matches!(
        registry.register_collector(Arc::new(Queues(Arc::new(desc)))),
        Err(RegistryError::InvalidLabelName { .. })
    ));
    // Other labels are fine, and every series carries `queue` once (the parser refuses twice).
    let depth = registry
        .register_gauge(Opts::new("depth", "x").labels(["name"]))
        .unwrap();
    depth.with_label_values(&["ingest"]).set(3);
    let overflowed = registry
        .register_counter(Opts::new("drops", "x").labels(["k"]).max_series(1))
        .unwrap();
    overflowed.with_label_values(&["a"]).inc();
    overflowed.with_label_values(&["b"]).inc();
    for (_, parsed) in both(&registry) {
        assert!(parsed.contains_key("depth"));
        assert!(!parsed.contains_key("queue_age_seconds"));
    }
}

#[test]
fn a_lookup_never_produces_a_second_series_with_the_same_labels() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    // Wrong number of values on a family without labels: recorded, counted, not exported.
    let jobs = registry
        .register_counter(Opts::new("jobs", "Jobs."))
        .unwrap();
    jobs.with_label_values(&[]).inc();
    jobs.with_label_values(&["stray"]).inc_by(5);
    assert_eq!(jobs.overflow_count(), 1);
    // The overflow series' own label set, asked for by hand: it is the overflow series.
    let users = registry
        .register_counter(
            Opts::new("logins", "Logins.")
                .labels(["user"])
                .max_series(1),
        )
        .unwrap();
    users.with_label_values(&[OVERFLOW_LABEL_VALUE]).inc(); // below the cap
    assert_eq!(users.series_count(), 0);
    users.with_label_values(&["ada"]).inc();
    users.with_label_values(&["grace"]).inc(); // past the cap
    users.with_label_values(&[OVERFLOW_LABEL_VALUE]).inc();
    users.with_label_values(&["ada", "extra"]).inc(); // detached
    assert_eq!(users.series_count(), 1);
    assert_eq!(users.overflow_count(), 4);
    let pairs = registry
        .register_gauge(Opts::new("pairs", "x").labels(["a", "b"]).max_series(1))
        .unwrap();
    pairs.with_label_values(&["x", "y"]).set(1);
    pairs.with_label_values(&["x", "z"]).set(2); // past the cap
    pairs
        .with_label_values(&[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE])
        .add(1);
    for (dialect, parsed) in both(&registry) {
        let (jobs_family, logins_family) = match dialect {
            Dialect::Prometheus => ("jobs_total", "logins_total"),
            Dialect::OpenMetrics => ("jobs", "logins"),
        };
        let totals: Vec<f64> = parsed[jobs_family]
            .samples
            .iter()
            .filter(|s| s.name == "jobs_total")
            .map(|s| s.value)
            .collect();
        assert_eq!(totals, [1.0]);
        let logins: Vec<(Option<&str>, f64)> = parsed[logins_family]
            .samples
            .iter()
            .filter(|s| s.name == "logins_total")
            .map(|s| (s.label("user"), s.value))
            .collect();
        assert_eq!(
            logins,
            [(Some("ada"), 1.0), (Some(OVERFLOW_LABEL_VALUE), 3.0)]
        );
        let overflow_pairs = parsed["pairs"]
            .samples
            .iter()
            .find(|s| s.label("a") == Some(OVERFLOW_LABEL_VALUE))
            .unwrap();
        assert_eq!(overflow_pairs.value, 3.0);
    }
}

#[test]
fn the_strict_parser_refuses_a_series_twice() {
    let text = "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 1\njobs_total 2\n";
    let err = parse(text, Dialect::Prometheus).unwrap_err();
    assert!(err.contains("duplicate series"), "{err}");
    let text = "# TYPE q gauge\nq{a=\"1\",b=\"2\"} 1\nq{b=\"2\",a=\"1\"} 2\n";
    assert!(parse(text, Dialect::Prometheus).is_err());
    let text = "# TYPE q gauge\nq{a=\"1\"} 1\nq{a=\"2\"} 2\n";
    assert!(parse(text, Dialect::Prometheus).is_ok());
}

#[test]
fn a_64_kib_label_value_and_help_round_trip() {
    let big: String = "ab\"\\\n}#😀".repeat(64 * 1024 / 14 + 1);
    let registry = bare();
    registry
        .register_counter(
            Opts::new("big", big.clone())
                .labels(["v"])
                .max_label_value_bytes(big.len()),
        )
        .unwrap()
        .with_label_values(&[&big])
        .inc();
    for (_, parsed) in both(&registry) {
        let family = parsed.values().next().unwrap();
        assert_eq!(family.help.as_deref(), Some(big.as_str()));
        assert_eq!(family.samples[0].label("v"), Some(big.as_str()));
    }
}

fn hostile() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        "\"", "\\", "\n", "\r", "\t", "}", "{", "#", "\0", "😀", "=", ",", " ", "\\n", "\\\"", "",
    ]);
    prop_oneof![
        any::<String>(),
        prop::collection::vec(special, 0..12).prop_map(|parts| parts.concat()),
        (any::<String>(), prop::collection::vec(any::<char>(), 0..4))
            .prop_map(|(s, cs)| format!("{s}\\\"{}\n", cs.into_iter().collect::<String>())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn hostile_label_values_and_help_round_trip_both_formats(
        constant in hostile(),
        value in hostile(),
        help in hostile(),
    ) {
        let registry = Registry::builder()
            .const_label("service", constant.clone())
            .self_metrics(false)
            .process_metrics(false)
            .build()
            .unwrap();
        registry
            .register_counter(Opts::new("events", help.clone()).labels(["kind"]))
            .unwrap()
            .with_label_values(&[&value])
            .inc();
        registry
            .register_histogram(Opts::new("sizes", help.clone()).labels(["kind"]).buckets(Buckets::none()))
            .unwrap()
            .with_label_values(&[&value])
            .record(3);
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let dialect = if format == Format::OpenMetrics { Dialect::OpenMetrics } else { Dialect::Prometheus };
            let text = String::from_utf8(render_as(&registry, format)).unwrap();
            let parsed = parse(&text, dialect).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(parsed.len(), 2);
            for family in parsed.values() {
                prop_assert_eq!(family.help.as_deref(), Some(help.as_str()));
                for sample in &family.samples {
                    prop_assert_eq!(sample.label("service"), Some(constant.as_str()));
                    prop_assert_eq!(sample.label("kind"), Some(value.as_str()));
                }
            }
        }
    }
}

#[test]
fn scrapes_during_heavy_recording_are_consistent_and_lose_nothing() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let ops = registry
        .register_counter(Opts::new("ops", "Operations.").labels(["writer"]))
        .unwrap();
    let latency = registry
        .register_histogram(
            Opts::new("op_seconds", "Op latency.")
                .unit(Unit::Seconds)
                .labels(["writer"]),
        )
        .unwrap();
    let writers = 8usize;
    let per_writer = 200_000u64;
    let scraper_threads = 4usize;
    let done = AtomicBool::new(false);
    // Writers that finished, and scrapers that finished their first scrape: writers wait half-way
    // until every scraper has scraped, so each scraper's first scrape overlaps the writing.
    let writers_done = AtomicUsize::new(0);
    let scraped_once = AtomicUsize::new(0);
    let per_scraper = std::thread::scope(|s| {
        for w in 0..writers {
            let (ops, latency) = (&ops, &latency);
            let (writers_done, scraped_once) = (&writers_done, &scraped_once);
            s.spawn(move || {
                let label = w.to_string();
                let c = ops.with_label_values(&[&label]);
                let h = latency.with_label_values(&[&label]);
                for i in 0..per_writer {
                    if i == per_writer / 2 {
                        let patience = std::time::Instant::now();
                        while scraped_once.load(Ordering::Acquire) < scraper_threads
                            && patience.elapsed() < std::time::Duration::from_secs(120)
                        {
                            std::thread::yield_now();
                        }
                    }
                    c.inc();
                    h.record(1_000 + (i * 7_919) % 50_000_000);
                }
                writers_done.fetch_add(1, Ordering::AcqRel);
            });
        }
        let scrapers: Vec<_> = (0..scraper_threads)
            .map(|k| {
                let (registry, done) = (&registry, &done);
                let (writers_done, scraped_once) = (&writers_done, &scraped_once);
                s.spawn(move || {
                    let format = if k % 2 == 0 {
                        Format::OpenMetrics
                    } else {
                        Format::PrometheusText
                    };
                    let dialect = if k % 2 == 0 {
                        Dialect::OpenMetrics
                    } else {
                        Dialect::Prometheus
                    };
                    let name = if k % 2 == 0 { "ops" } else { "ops_total" };
                    let mut previous: std::collections::BTreeMap<String, f64> = Default::default();
                    let mut n = 0;
                    // Scrapes that ended while a writer was still writing.
                    let mut during_writes = 0;
                    // Bounded: until the writers finish, and at most 2,000 scrapes.
                    while !done.load(Ordering::Acquire) && n < 2_000 {
                        let text = String::from_utf8(render_as(registry, format)).unwrap();
                        // Cumulative buckets and `_count == +Inf` are checked by the parser.
                        let parsed = parse(&text, dialect).unwrap_or_else(|e| panic!("{e}"));
                        for sample in parsed
                            .get(name)
                            .map(|f| f.samples.as_slice())
                            .unwrap_or(&[])
                        {
                            if sample.name != "ops_total" {
                                continue;
                            }
                            let key = sample.label("writer").unwrap().to_string();
                            let before = previous.insert(key, sample.value).unwrap_or(0.0);
                            assert!(sample.value >= before, "a counter went backwards");
                        }
                        n += 1;
                        if writers_done.load(Ordering::Acquire) < writers {
                            during_writes += 1;
                        }
                        if n == 1 {
                            scraped_once.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    during_writes
                })
            })
            .collect();
        // Writers are joined at the end of the scope; signal the scrapers once they finish.
        while ops.series_count() < writers
            || (0..writers)
                .map(|w| ops.with_label_values(&[&w.to_string()]).get())
                .sum::<u64>()
                < writers as u64 * per_writer
        {
            std::thread::yield_now();
        }
        done.store(true, Ordering::Release);
        scrapers
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<usize>>()
    });
    assert!(
        per_scraper.iter().all(|&n| n >= 1),
        "every scraper completes a scrape while the writers run: {per_scraper:?}"
    );
    for (dialect, parsed) in both(&registry) {
        let name = if dialect == Dialect::Prometheus {
            "ops_total"
        } else {
            "ops"
        };
        let total: f64 = parsed[name]
            .samples
            .iter()
            .filter(|s| s.name == "ops_total")
            .map(|s| s.value)
            .sum();
        assert_eq!(total, (writers as u64 * per_writer) as f64);
        let count: f64 = parsed["op_seconds"]
            .samples
            .iter()
            .filter(|s| s.name == "op_seconds_count")
            .map(|s| s.value)
            .sum();
        assert_eq!(count, (writers as u64 * per_writer) as f64);
    }
}
