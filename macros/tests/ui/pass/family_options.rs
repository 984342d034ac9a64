//! `labels(...)` and `buckets = [...]` describe the families, so every site shares them.
#![deny(warnings, clippy::all, clippy::pedantic)]

use perf_instrument::timed;

#[timed(labels(service = "billing", tier = "gold"), buckets = [0.001, 0.5, 2])]
fn charge(cents: u64) -> u64 {
    cents
}

#[timed(labels(service = "billing", tier = "free"), buckets = [0.001, 0.5, 2], in_flight)]
fn refund(cents: u64) -> u64 {
    cents
}

pub fn main() {
    assert_eq!(charge(5), 5);
    assert_eq!(refund(5), 5);
    let text = String::from_utf8(perf_instrument::render_as(
        perf_instrument::Registry::global(),
        perf_instrument::Format::PrometheusText,
    ))
    .expect("UTF-8");
    assert!(text.contains("function=\"charge\""), "{text}");
    assert!(text.lines().any(
        |l| l.starts_with("function_calls_total{function=\"charge\",")
            && l.ends_with(",service=\"billing\",tier=\"gold\",outcome=\"ok\"} 1")
    ));
    // 0.5 and 2 are layout bounds; 0.001 moves up to the next one.
    assert!(text.contains(",service=\"billing\",tier=\"gold\",le=\"0.5\"} 1"));
    assert!(text.contains(",service=\"billing\",tier=\"gold\",le=\"2.0\"} 1"));
    assert!(
        text.contains(",service=\"billing\",tier=\"free\"} 0"),
        "in flight"
    );
}
