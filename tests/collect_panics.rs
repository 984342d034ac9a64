//! A panicking `FnGauge` callback or collector costs its own family in a scrape, counted;
//! the rest of the scrape, the report and the endpoint go on.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::{registry, scrape};
use perf_instrument::{
    render_as, Collector, Descriptor, FamilySnapshot, Format, Opts, Registry, Report,
};
use std::sync::Arc;

struct Exploding(Arc<Descriptor>);

impl Collector for Exploding {
    fn describe(&self) -> Vec<Arc<Descriptor>> {
        vec![self.0.clone()]
    }
    fn collect(&self, _: &mut Vec<FamilySnapshot>) {
        panic!("collector failed");
    }
}

fn hostile_registry() -> Registry {
    let registry = registry();
    registry.counter("jobs", "Jobs.").unwrap().inc_by(3);
    let gauges = registry
        .register_fn_gauge(Opts::new("temperature", "Sensor.").labels(["sensor"]))
        .unwrap();
    gauges.with_label_values(&["ok"]).set_fn(|| Some(21.5));
    gauges
        .with_label_values(&["broken"])
        .set_fn(|| panic!("sensor unplugged"));
    let desc = Descriptor::new(
        perf_instrument::MetricKind::Gauge,
        Opts::new("exploding", "Never collects."),
    )
    .unwrap();
    registry
        .register_collector(Arc::new(Exploding(Arc::new(desc))))
        .unwrap();
    registry
        .gauge("after", "Registered after the bad ones.")
        .unwrap()
        .set(7);
    registry
}

#[test]
fn a_scrape_succeeds_without_the_panicking_families_and_counts_them() {
    let registry = hostile_registry();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = String::from_utf8(render_as(&registry, format)).unwrap();
        assert!(text.contains("jobs_total 3"), "{text}");
        assert!(text.contains("after 7"), "{text}");
        let lines_of = |family: &str| {
            text.lines()
                .filter(|l| l.starts_with(family) || l.contains(&format!(" {family} ")))
                .count()
        };
        assert_eq!(
            lines_of("temperature"),
            0,
            "the panicking family is left out: {text}"
        );
        assert_eq!(lines_of("exploding"), 0, "{text}");
    }
    // Two renders above; the snapshot collects the counter before it meets the bad families.
    let snapshot = registry.snapshot();
    let panics =
        |family: &str| snapshot.value("perf_instrument_collect_panics", &[("family", family)]);
    assert_eq!(panics("temperature"), Some(2.0));
    assert_eq!(panics("exploding"), Some(2.0));
    let parsed = scrape(&registry);
    assert!(parsed.contains_key("jobs_total"));
    assert_eq!(
        common::value(
            &parsed,
            "perf_instrument_collect_panics_total",
            "perf_instrument_collect_panics_total",
            &[("family", "exploding")]
        ),
        Some(3.0)
    );
}

#[test]
fn reports_and_snapshots_do_not_panic_either() {
    let registry = hostile_registry();
    let snapshot = registry.snapshot();
    assert!(snapshot.family("temperature").is_none());
    assert_eq!(snapshot.value("after", &[]), Some(7.0));
    let report = Report::from_registry(&registry);
    let _ = report.to_string();
}
