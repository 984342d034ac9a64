//! The exposition checked by real validators: `promtool check metrics` (Prometheus text 0.0.4)
//! and `prometheus_client`'s OpenMetrics parser (Python).
//!
//! These need the tools, so they are `#[ignore]`d here and run by `scripts/check-exposition.sh`,
//! which installs them and sets `PROMTOOL` and `OPENMETRICS_PYTHON` (part of `scripts/test.sh`).
#![cfg(not(perf_instrument_loom))]

use perf_instrument::{render_as, Buckets, Format, Opts, Registry, Unit};
use std::io::Write;
use std::process::{Command, Stdio};

/// Label values the validators must see, each in a series of its own.
const HOSTILE: [&str; 12] = [
    "",
    "plain",
    "quote\"d",
    "back\\slash",
    "new\nline",
    "carriage\rreturn",
    "tab\tbed",
    "brace}",
    "#hash",
    "nul\0byte",
    "emoji 😀",
    "\\n literal",
];

/// Every metric type, labels, constant labels, hostile label values and help, histograms of
/// every unit, empty series, the overflow series, self and process metrics.
fn fixture() -> Registry {
    let registry = Registry::builder()
        .const_label("service", "orders \"eu\" \\ west\n")
        .build()
        .unwrap();
    let requests = registry
        .register_counter(
            Opts::new(
                "http_requests",
                "Requests \"served\"\\ by route,\nper method.",
            )
            .labels(["route", "method"])
            // Room for every hostile value (so none folds into the overflow series unseen)...
            .max_series(HOSTILE.len() + 1),
        )
        .unwrap();
    for (i, value) in HOSTILE.iter().enumerate() {
        requests.with_label_values(&[value, "GET"]).inc_by(i as u64);
    }
    // ...and then one more label set past the cap, so the overflow series is there too.
    requests.with_label_values(&["extra", "GET"]).inc();
    requests.with_label_values(&["past the cap", "GET"]).inc();
    // Exemplars, with hostile label values of their own: on a counter... (no `"`:
    // prometheus_client 0.26's parser toggles quoting on every `"` of an exemplar, escaped or
    // not, and refuses the line; Prometheus reads it, and the unit tests check its escaping)
    requests
        .with_label_values(&["plain", "GET"])
        .inc_by_with_exemplar(1, &[("trace_id", "back\\slash\nnew line 😀")])
        .unwrap();
    registry
        .gauge("queue_depth", "Items waiting.")
        .unwrap()
        .set(-3);
    registry
        .register_gauge(Opts::new("oldest_pending_age_seconds", "Age.").unit(Unit::Seconds))
        .unwrap()
        .with_label_values(&[])
        .set(2_500_000_000);
    let stages = registry
        .register_histogram(
            Opts::new("pipeline_stage_duration_seconds", "Stage time.")
                .unit(Unit::Seconds)
                .labels(["pipeline", "stage"]),
        )
        .unwrap();
    for (i, stage) in ["enrich", "persist", "view_update"].iter().enumerate() {
        let h = stages.with_label_values(&["orders", stage]);
        for v in 0..500u64 {
            h.record((v + 1) * 37_000 * (i as u64 + 1));
        }
    }
    let _empty = stages.with_label_values(&["orders", "never"]);
    // ...on classic buckets, on `+Inf` (a value past the last bound) and on a clamped value.
    let enrich = stages.with_label_values(&["orders", "enrich"]);
    for (i, nanos) in [50_000u64, 3_000_000, 200_000_000, 60_000_000_000]
        .iter()
        .enumerate()
    {
        enrich
            .record_with_exemplar(*nanos, &[("trace_id", &format!("{i:032x}")), ("span", "a")])
            .unwrap();
    }
    registry
        .register_histogram(Opts::new("batch_size", "Items per batch.").labels(["batch"]))
        .unwrap()
        .with_label_values(&["wal"])
        .record_n(17, 4);
    registry
        .register_histogram(
            Opts::new("payload_bytes", "Payload size.")
                .unit(Unit::Bytes)
                .buckets(Buckets::from_values(Unit::Bytes, &[100.0, 1e3, 1e4, 1e6])),
        )
        .unwrap()
        .with_label_values(&[])
        .record(5_000);
    registry
        .histogram("huge_seconds", "Clamped values.", Unit::Seconds)
        .unwrap()
        .record_with_exemplar(u64::MAX, &[("trace_id", "clamped")])
        .unwrap();
    // Render once so the self metrics have values.
    let _ = render_as(&registry, Format::OpenMetrics);
    registry
}

/// Asserts that every hostile value is in `body` as its own series, escaped as both text formats
/// escape label values (`\\`, `\"`, `\n`), and that the overflow series is there too.
fn assert_every_hostile_value_is_exposed(body: &[u8]) {
    let text = String::from_utf8(body.to_vec()).unwrap();
    for value in HOSTILE {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let series = format!("route=\"{escaped}\",method=\"GET\"");
        assert!(
            text.contains(&series),
            "{value:?} is not exposed as {series:?}:\n{text}"
        );
    }
    assert!(
        text.contains("route=\"__overflow__\",method=\"__overflow__\""),
        "{text}"
    );
}

#[test]
fn the_fixture_exposes_every_hostile_value_to_the_validators() {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        assert_every_hostile_value_is_exposed(&render_as(&fixture(), format));
    }
}

fn run(program: &str, args: &[&str], input: &[u8]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    // A validator that stops reading early fails by its exit status, not by our write.
    let _ = child.stdin.take().unwrap().write_all(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tool(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run scripts/check-exposition.sh, which installs the validators")
    })
}

#[test]
#[ignore = "needs promtool: run scripts/check-exposition.sh"]
fn promtool_finds_nothing_in_the_text_format() {
    let body = render_as(&fixture(), Format::PrometheusText);
    assert_every_hostile_value_is_exposed(&body);
    let (ok, output) = run(&tool("PROMTOOL"), &["check", "metrics"], &body);
    assert!(
        ok,
        "promtool failed:\n{output}\n---\n{}",
        String::from_utf8_lossy(&body)
    );
    assert!(output.trim().is_empty(), "promtool reported:\n{output}");
}

#[test]
#[ignore = "needs Python prometheus_client: run scripts/check-exposition.sh"]
fn prometheus_client_parses_the_openmetrics_format() {
    let body = render_as(&fixture(), Format::OpenMetrics);
    assert_every_hostile_value_is_exposed(&body);
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        families = list(parse(sys.stdin.buffer.read().decode('utf-8')))\n\
        samples = [s for f in families for s in f.samples]\n\
        print(len(families), len(samples), sum(1 for s in samples if s.exemplar))\n";
    let (ok, output) = run(&tool("OPENMETRICS_PYTHON"), &["-c", script], &body);
    assert!(ok, "the OpenMetrics parser refused the output:\n{output}");
    let counts: Vec<usize> = output
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(counts[0] >= 14, "{output}");
    // One counter exemplar, four on the enrich stage's buckets, one on the clamped value.
    assert_eq!(counts[2], 6, "{output}");
}
