//! The exposition checked by real validators: `promtool check metrics` (Prometheus text 0.0.4)
//! and `prometheus_client`'s OpenMetrics parser (Python).
//!
//! These need the tools, so they are `#[ignore]`d here and run by `scripts/check-exposition.sh`,
//! which installs them and sets `PROMTOOL` and `OPENMETRICS_PYTHON` (part of `scripts/test.sh`).
#![cfg(not(perf_instrument_loom))]

use perf_instrument::{render_as, Buckets, Format, Opts, Registry, Unit};
use std::io::Write;
use std::process::{Command, Stdio};

/// Every metric type, labels, constant labels, hostile label values and help, histograms of
/// every unit, empty series, the overflow series, self and process metrics.
fn fixture() -> Registry {
    let registry = Registry::builder()
        .const_label("service", "orders \"eu\" \\ west\n")
        .build()
        .unwrap();
    let hostile = [
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
    let requests = registry
        .register_counter(
            Opts::new(
                "http_requests",
                "Requests \"served\"\\ by route,\nper method.",
            )
            .labels(["route", "method"])
            .max_series(8),
        )
        .unwrap();
    for (i, value) in hostile.iter().enumerate() {
        requests.with_label_values(&[value, "GET"]).inc_by(i as u64);
    }
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
        .record(u64::MAX);
    // Render once so the self metrics have values.
    let _ = render_as(&registry, Format::OpenMetrics);
    registry
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
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        families = list(parse(sys.stdin.buffer.read().decode('utf-8')))\n\
        print(len(families), sum(len(f.samples) for f in families))\n";
    let (ok, output) = run(&tool("OPENMETRICS_PYTHON"), &["-c", script], &body);
    assert!(ok, "the OpenMetrics parser refused the output:\n{output}");
    let families: usize = output.split_whitespace().next().unwrap().parse().unwrap();
    assert!(families >= 14, "{output}");
}
