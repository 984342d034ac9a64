//! A `#[timed]` function whose families clash with those already registered neither panics nor
//! corrupts the exposition: it records into detached recorders, and the clash is counted.
//!
//! In a process of its own, because the first `#[timed]` function to run fixes the label keys
//! of the shared families.
#![cfg(all(feature = "macros", not(perf_instrument_loom)))]

mod common;

use common::exposition::{parse, Dialect};
use perf_instrument::{render_as, timed, Format, Registry};

#[timed(labels(tier = "gold"), in_flight)]
fn registers_first(n: u32) -> u32 {
    n
}

#[timed(in_flight)]
fn clashes(n: u32) -> Result<u32, String> {
    Ok(n)
}

#[test]
fn a_site_with_other_label_keys_records_detached_and_is_counted() {
    assert_eq!(registers_first(1), 1);
    assert_eq!(clashes(2), Ok(2));
    assert_eq!(clashes(3), Ok(3), "keeps working");

    let text = String::from_utf8(render_as(Registry::global(), Format::PrometheusText)).unwrap();
    let parsed = parse(&text, Dialect::Prometheus).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let calls = &parsed["function_calls_total"].samples;
    assert!(calls
        .iter()
        .any(|s| s.label("function") == Some("registers_first")
            && s.label("tier") == Some("gold")
            && s.label("outcome") == Some("ok")
            && s.value == 1.0));
    assert!(
        !text.contains("function=\"clashes\""),
        "a clashing site is not exported:\n{text}"
    );
    // Three families clash (duration, calls, in flight), each counted once, when the site
    // resolved its handles on its first call.
    let errors = parsed["perf_instrument_integration_errors_total"]
        .samples
        .iter()
        .find(|s| {
            s.label("integration") == Some("timed") && s.label("reason") == Some("registration")
        })
        .map(|s| s.value);
    assert_eq!(errors, Some(3.0), "{text}");
}
