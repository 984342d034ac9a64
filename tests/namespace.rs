//! A registry namespace prefixes every family, the instruments' included, except the exporter's
//! own and the standard process families; the report still finds the instruments' families.
#![cfg(not(perf_instrument_loom))]

use perf_instrument::{Opts, Pipeline, QueueProbe, Registry, Report};

#[test]
fn every_family_but_the_exporters_own_is_exported_under_the_namespace() {
    let registry = Registry::builder().namespace("billing").build().unwrap();
    let orders = Pipeline::builder("orders")
        .stages(["persist"])
        .build(&registry)
        .unwrap();
    let persist = orders.stage("persist").unwrap();
    let mut event = orders.begin();
    orders.time_stage(&mut event, persist, || ());
    orders.finish(event);
    let probe = QueueProbe::new(&registry, "jobs").unwrap();
    let _ = probe.pickup(probe.submit());
    registry
        .register_counter(Opts::new("invoices", "Invoices."))
        .unwrap()
        .with_label_values(&[])
        .inc();

    let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    let names: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    assert!(names.contains("billing_invoices_total"), "{text}");
    assert!(names.contains("billing_queue_depth"), "{text}");
    assert!(names.contains("billing_pipeline_end_to_end_duration_seconds_count"));
    for name in &names {
        assert!(
            name.starts_with("billing_")
                || name.starts_with("perf_instrument_")
                || name.starts_with("process_"),
            "{name} is outside the namespace"
        );
    }
    // Lookups take the exported name.
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.value("billing_invoices", &[]), Some(1.0));
    assert!(snapshot.family("invoices").is_none());
    // The report finds the instruments' families under the namespace.
    let report = Report::from_registry(&registry);
    let stages = report
        .tables()
        .iter()
        .find(|t| t.title == "stages")
        .expect("a stages table");
    assert!(stages.rows.iter().any(|r| r.name == "orders/persist"));
    let queues = report
        .tables()
        .iter()
        .find(|t| t.title == "queues")
        .unwrap();
    assert_eq!(queues.rows[0].count, 1);
}

#[test]
fn an_invalid_namespace_is_an_error_at_build() {
    for bad in ["", "9lives", "has space", "dash-ed"] {
        assert!(
            Registry::builder().namespace(bad).build().is_err(),
            "{bad:?} was accepted"
        );
    }
    assert!(Registry::builder().namespace("ok_name").build().is_ok());
}
