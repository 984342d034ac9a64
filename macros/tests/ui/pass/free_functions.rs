//! Free functions: plain, fallible, unit, generic, early `return` and `?`.
#![deny(warnings, clippy::all, clippy::pedantic)]

use perf_instrument::timed;
use std::num::ParseIntError;

#[timed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[timed]
fn parse(input: &str) -> Result<u64, ParseIntError> {
    let value: u64 = input.trim().parse()?;
    if value == 0 {
        return Ok(1);
    }
    Ok(value)
}

#[timed]
fn log_line(line: &str) {
    assert!(!line.is_empty());
}

#[timed]
fn largest<T: PartialOrd + Copy>(items: &[T]) -> Option<T> {
    let mut best = *items.first()?;
    for &item in items {
        if item > best {
            best = item;
        }
    }
    Some(best)
}

#[timed]
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}

#[timed]
fn r#type(value: u8) -> u8 {
    value
}

/// Names the expansion uses for itself stay the user's own.
#[timed]
#[allow(clippy::used_underscore_binding)]
fn hygiene(__perf_instrument_output: u8, __perf_instrument_call: u8) -> u8 {
    static __PERF_INSTRUMENT_SITE: u8 = 100;
    __perf_instrument_output + __perf_instrument_call + __PERF_INSTRUMENT_SITE
}

/// An item outside the function with the name of the expansion's static.
static __PERF_INSTRUMENT_SITE: u8 = 7;

/// The body sees the outer item, not the expansion's static.
#[timed]
#[allow(clippy::used_underscore_binding)]
fn outer_hygiene(__perf_instrument_site: u8) -> u8 {
    __PERF_INSTRUMENT_SITE + __perf_instrument_site
}

/// The rendered process-wide registry.
fn scrape() -> String {
    String::from_utf8(perf_instrument::render_as(
        perf_instrument::Registry::global(),
        perf_instrument::Format::PrometheusText,
    ))
    .expect("the exposition is UTF-8")
}

fn calls(text: &str, function: &str, outcome: &str) -> u64 {
    let needle = format!("function_calls_total{{function=\"{function}\",");
    text.lines()
        .find(|line| line.starts_with(&needle) && line.contains(&format!("outcome=\"{outcome}\"")))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |v| v.parse().expect("a count"))
}

pub fn main() {
    assert_eq!(add(2, 3), 5);
    assert_eq!(parse("0"), Ok(1));
    assert_eq!(parse(" 7 "), Ok(7));
    assert!(parse("seven").is_err());
    log_line("hello");
    assert_eq!(largest(&[3, 9, 4]), Some(9));
    assert_eq!(largest(&[1.5, 0.5]), Some(1.5));
    assert_eq!(largest::<u8>(&[]), None);
    assert_eq!(first_word("hello world"), "hello");
    assert_eq!(r#type(4), 4);
    assert_eq!(hygiene(1, 2), 103);
    assert_eq!(outer_hygiene(1), 8);

    let text = scrape();
    assert_eq!(calls(&text, "add", "ok"), 1);
    assert_eq!(calls(&text, "parse", "ok"), 2);
    assert_eq!(calls(&text, "parse", "error"), 1);
    assert_eq!(calls(&text, "log_line", "ok"), 1);
    // One call site, whatever the type parameters: three calls.
    assert_eq!(calls(&text, "largest", "ok"), 3);
    assert_eq!(calls(&text, "first_word", "ok"), 1);
    assert_eq!(calls(&text, "type", "ok"), 1);
    assert_eq!(calls(&text, "hygiene", "ok"), 1);
    assert!(text.contains("function_duration_seconds_count{function=\"parse\","));
}
