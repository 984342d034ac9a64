//! The `perf-instrument compare` command line: gates pass and fail with the right exit status,
//! bad input gives a clear error and status 2, never a panic.
#![cfg(feature = "load")]

use perf_instrument::load::{HistogramRecord, PhaseRecord, RowRecord, RunRecord};
use perf_instrument::{Histogram, Unit};
use std::path::PathBuf;
use std::process::Command;

/// A run whose persist latencies spread over 2–4 ms, scaled by `scale` percent.
fn run(seed: u64, scale: u64) -> RunRecord {
    let h = Histogram::new(Unit::Seconds);
    for i in 0..20_000u64 {
        let base = 2_000_000 + (i.wrapping_mul(7919) + seed * 104_729) % 2_000_000;
        h.record(base * scale / 100);
    }
    let histogram = HistogramRecord::from_snapshot(&h.snapshot());
    let mut r = RunRecord::new();
    r.seconds = 40.0;
    r.rows.push(RowRecord {
        table: "stages".into(),
        name: "orders/persist".into(),
        histogram: histogram.clone(),
    });
    let mut phase = PhaseRecord::empty("steady", "constant 500/s", 0.0);
    phase.seconds = 40.0;
    phase.completed = histogram.count;
    phase.latency = histogram.clone();
    phase.service_time = histogram;
    r.phases.push(phase);
    r
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("perf-instrument-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_side(name: &str, runs: &[RunRecord]) -> String {
    let path = dir().join(name);
    std::fs::write(&path, serde_json::to_string(runs).unwrap()).unwrap();
    path.display().to_string()
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_perf-instrument"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_a_passes_and_a_slowdown_fails_the_gate() {
    let base = write_side("base.json", &[run(1, 100), run(2, 100), run(3, 100)]);
    let same = write_side("same.json", &[run(4, 100), run(5, 100), run(6, 100)]);
    let slow = write_side("slow.json", &[run(7, 110), run(8, 110), run(9, 110)]);
    let md = dir().join("cmp.md").display().to_string();
    let json = dir().join("cmp.json").display().to_string();
    let gate = ["--max-p99-regression", "5%", "--min-throughput", "400"];

    let mut args = vec!["compare", &base, &same, "--runs", "3"];
    args.extend(gate);
    let (code, stdout, stderr) = cli(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("gate: passed"));

    let mut args = vec!["compare", &base, &slow, "--markdown", &md, "--json", &json];
    args.extend(gate);
    let (code, stdout, stderr) = cli(&args);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("gate failed: stages: orders/persist"),
        "{stdout}"
    );
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("**worse**") && markdown.contains("Gate: **failed**"));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["candidate_runs"], 3);

    let mut args = vec!["compare", &base, &same, "--min-throughput", "600"];
    args.extend(["--max-p99-regression", "5%"]);
    let (code, stdout, _) = cli(&args);
    assert_eq!(code, 1);
    assert!(stdout.contains("below the required 600.0/s"), "{stdout}");
}

#[test]
fn a_median_gate_fails_a_median_slowdown_and_passes_a_a() {
    let base = write_side("mbase.json", &[run(1, 100), run(2, 100), run(3, 100)]);
    let same = write_side("msame.json", &[run(4, 100), run(5, 100), run(6, 100)]);
    let slow = write_side("mslow.json", &[run(7, 108), run(8, 108), run(9, 108)]);
    let gate = [
        "--runs",
        "3",
        "--decide-by",
        "p50",
        "--max-regression",
        "5%",
    ];
    let (code, stdout, stderr) = cli(&[&["compare", &base, &same][..], &gate].concat());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = cli(&[&["compare", &base, &slow][..], &gate].concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("gate failed: stages: orders/persist: p50 +"),
        "{stdout}"
    );
    // Under the limit: judged worse, but the gate passes.
    let gate = [
        "--runs",
        "3",
        "--decide-by",
        "p50",
        "--max-regression",
        "10%",
    ];
    let (code, stdout, _) = cli(&[&["compare", &base, &slow][..], &gate].concat());
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("worse"), "{stdout}");
}

#[test]
fn bad_input_is_a_clear_error_with_status_2() {
    let good = write_side("good.json", &[run(1, 100)]);
    let text = run(1, 100).to_json();
    let files = [
        ("empty.json", String::new(), "empty"),
        ("cut.json", text[..text.len() / 3].to_string(), "truncated"),
        (
            "foreign.json",
            r#"{"name":"x","dependencies":{}}"#.to_string(),
            "not a perf-instrument run record",
        ),
        (
            "v9.json",
            text.replace("\"schema_version\": 1", "\"schema_version\": 9"),
            "schema version 9 is not supported",
        ),
    ];
    for (name, content, expect) in files {
        let path = dir().join(name);
        std::fs::write(&path, content).unwrap();
        let (code, _, stderr) = cli(&["compare", &good, &path.display().to_string()]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(expect), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    for (args, expect) in [
        (
            vec!["compare", good.as_str()],
            "needs a baseline and a candidate",
        ),
        (
            vec!["compare", good.as_str(), "/nonexistent.json"],
            "/nonexistent.json",
        ),
        (
            vec![
                "compare",
                good.as_str(),
                good.as_str(),
                "--max-p99-regression",
                "lots",
            ],
            "not a percentage",
        ),
        (
            vec!["compare", good.as_str(), good.as_str(), "--runs", "3"],
            "--runs 3",
        ),
        (vec!["frobnicate"], "unknown command"),
        (vec![], "usage"),
    ] {
        let (code, _, stderr) = cli(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    let mut short = run(2, 100);
    short.rows.clear();
    let mismatched = write_side("mismatched.json", &[run(1, 100), short]);
    let (code, _, stderr) = cli(&["compare", &mismatched, &good]);
    assert_eq!(code, 2);
    assert!(stderr.contains("do not have the same rows"), "{stderr}");
}
