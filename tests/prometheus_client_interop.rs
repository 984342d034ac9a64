//! This crate's families inside a `prometheus_client` registry: every sample the
//! prometheus-client endpoint serves for them equals what this crate's own OpenMetrics
//! exposition serves.
#![cfg(all(feature = "prometheus-client", not(perf_instrument_loom)))]

mod common;

use common::exposition::{parse, Dialect};
use perf_instrument::{
    render_as, Format, Opts, PrometheusClientCollector, QueueProbe, Registry, Unit,
};
use prometheus_client::metrics::counter::Counter as PcCounter;

#[test]
fn the_prometheus_client_endpoint_serves_our_families_sample_for_sample() {
    let ours = Registry::builder()
        .const_label("service", "billing")
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap();
    let jobs = ours
        .register_counter(Opts::new("jobs", "Jobs done.").labels(["kind"]))
        .unwrap();
    jobs.with_label_values(&["import"]).inc_by(3);
    let depth = ours
        .register_gauge(Opts::new("backlog", "Backlog.").labels(["queue"]))
        .unwrap();
    depth.with_label_values(&["a"]).set(-2);
    let latency = ours
        .register_histogram(
            Opts::new("latency_seconds", "Latency.")
                .labels(["route"])
                .unit(Unit::Seconds),
        )
        .unwrap();
    for ms in [1u64, 2, 3, 40, 500] {
        latency
            .with_label_values(&["/pay"])
            .record_duration(std::time::Duration::from_millis(ms));
    }
    let probe = QueueProbe::new(&ours, "jobs").unwrap();
    let _ = probe.pickup(probe.submit());

    let mut theirs = prometheus_client::registry::Registry::default();
    let own = PcCounter::<u64>::default();
    own.inc();
    theirs.register("their_requests", "Their requests.", own);
    theirs.register_collector(Box::new(PrometheusClientCollector::new(&ours)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &theirs).unwrap();
    let served = parse(&text, Dialect::OpenMetrics).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let reference = String::from_utf8(render_as(&ours, Format::OpenMetrics)).unwrap();
    let expected = parse(&reference, Dialect::OpenMetrics).unwrap();

    assert!(served.contains_key("their_requests"), "{text}");
    let mut compared = 0;
    for (name, family) in &expected {
        let got = served
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        assert_eq!(got.kind, family.kind, "{name}");
        for sample in family
            .samples
            .iter()
            .filter(|s| !s.name.ends_with("_created"))
        {
            let found = got.samples.iter().find(|s| {
                s.name == sample.name && {
                    // `le` compares as a number: the two encoders print small floats
                    // differently (`9.5367431640625e-07` and `0.00000095367431640625`).
                    let normal = |labels: &Vec<(String, String)>| {
                        let mut labels: Vec<(String, String)> = labels
                            .iter()
                            .map(|(k, v)| match (k.as_str(), v.parse::<f64>()) {
                                ("le", Ok(le)) => (k.clone(), le.to_string()),
                                _ => (k.clone(), v.clone()),
                            })
                            .collect();
                        labels.sort();
                        labels
                    };
                    normal(&s.labels) == normal(&sample.labels)
                }
            });
            let found = found
                .unwrap_or_else(|| panic!("{} {:?} missing:\n{text}", sample.name, sample.labels));
            assert!(
                (found.value - sample.value).abs() <= 1e-9 * sample.value.abs().max(1.0),
                "{} {:?}: {} vs {}",
                sample.name,
                sample.labels,
                found.value,
                sample.value
            );
            compared += 1;
        }
    }
    assert!(compared > 20, "compared {compared} samples");
    assert!(text.contains(r#"service="billing""#));
}
