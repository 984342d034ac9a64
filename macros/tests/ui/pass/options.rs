//! `name`, `in_flight`, `error_if`, `pipeline` + `stage`, `crate`.
#![deny(warnings, clippy::all, clippy::pedantic)]

use perf_instrument::timed;

mod reexport {
    pub use perf_instrument as instrumentation;
}

#[timed(name = "lookup_user")]
fn lookup(id: u32) -> u32 {
    id
}

#[timed(in_flight)]
fn busy() -> i64 {
    let text = String::from_utf8(perf_instrument::render_as(
        perf_instrument::Registry::global(),
        perf_instrument::Format::PrometheusText,
    ))
    .expect("UTF-8");
    // While it runs, the call is in flight.
    text.lines()
        .find(|l| l.starts_with("function_calls_in_flight{function=\"busy\","))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(-1, |v| v.parse().expect("a count"))
}

#[timed(error_if = Option::is_none)]
fn find(id: u32) -> Option<u32> {
    id.is_multiple_of(2).then_some(id)
}

#[timed(error_if = |code: &i32| *code != 0)]
fn exit_code(code: i32) -> i32 {
    code
}

#[timed(pipeline = "orders", stage = "enrich")]
fn enrich(order: u32) -> u32 {
    order + 1
}

#[timed(crate = reexport::instrumentation)]
fn through_reexport() -> u8 {
    7
}

pub fn main() {
    assert_eq!(lookup(3), 3);
    assert_eq!(busy(), 1);
    assert_eq!(find(2), Some(2));
    assert_eq!(find(3), None);
    assert_eq!(exit_code(0), 0);
    assert_eq!(exit_code(2), 2);
    assert_eq!(enrich(1), 2);
    assert_eq!(through_reexport(), 7);

    let text = String::from_utf8(perf_instrument::render_as(
        perf_instrument::Registry::global(),
        perf_instrument::Format::PrometheusText,
    ))
    .expect("UTF-8");
    let has = |prefix: &str, rest: &str| {
        text.lines()
            .any(|l| l.starts_with(prefix) && l.ends_with(rest))
    };
    assert!(has(
        "function_calls_total{function=\"lookup_user\",",
        "outcome=\"ok\"} 1"
    ));
    assert!(!text.contains("function=\"lookup\""));
    assert!(has("function_calls_in_flight{function=\"busy\",", "} 0"));
    assert!(has(
        "function_calls_total{function=\"find\",",
        "outcome=\"error\"} 1"
    ));
    assert!(has(
        "function_calls_total{function=\"find\",",
        "outcome=\"ok\"} 1"
    ));
    assert!(has(
        "function_calls_total{function=\"exit_code\",",
        "outcome=\"error\"} 1"
    ));
    assert!(text
        .contains("pipeline_stage_duration_seconds_count{pipeline=\"orders\",stage=\"enrich\"} 1"));
    assert!(!text.contains("function_duration_seconds_count{function=\"enrich\""));
    assert!(has(
        "function_calls_total{function=\"enrich\",",
        "outcome=\"ok\"} 1"
    ));
    assert!(has(
        "function_calls_total{function=\"through_reexport\",",
        "outcome=\"ok\"} 1"
    ));
}
