//! The perf-instrument command line: compares run records and gates a build on the verdict.
//!
//! ```text
//! perf-instrument compare BASE CAND [--runs N] [--max-p99-regression 5%] [--min-throughput 400]
//!                                   [--decide-by p99] [--gate-tables stages,load]
//!                                   [--markdown FILE] [--json FILE] [--html FILE]
//! ```
//!
//! `BASE` and `CAND` are run record files (`docs/RUN_RECORD.md`), each a record or a JSON array
//! of records; several files per side are joined with commas. Exit status: 0 when every gate
//! passes, 1 when a gate fails, 2 on bad input or usage. `--html` writes one self-contained page:
//! the rows with their judgement, each row's percentile spectra of both sides overlaid, and
//! the timeline of every run (with the `html` feature, on by default).

use perf_instrument::load::{compare_with, CompareOptions, Gate, RunRecord, Statistic};
use std::process::ExitCode;

const USAGE: &str = "usage: perf-instrument compare BASE[,BASE...] CAND[,CAND...] [--runs N] \
[--max-p99-regression PCT] [--max-regression PCT] [--min-throughput PER_SECOND] [--decide-by p50|p95|p99|p99.9|mean] \
[--gate-tables TABLE,...] [--markdown FILE] [--json FILE] [--html FILE]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("perf-instrument: {e}");
            ExitCode::from(2)
        }
    }
}

fn percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (t, 1.0),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * scale)
        .ok_or_else(|| format!("`{text}` is not a percentage (e.g. 5% or 0.05)"))
}

fn number(flag: &str, text: &str) -> Result<f64, String> {
    text.trim()
        .trim_end_matches("/s")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{flag}: `{text}` is not a non-negative number"))
}

fn side(list: &str, name: &str, runs: Option<usize>) -> Result<Vec<RunRecord>, String> {
    let mut out = Vec::new();
    for path in list.split(',').filter(|p| !p.is_empty()) {
        out.extend(RunRecord::read(path).map_err(|e| format!("{name} {path}: {e}"))?);
    }
    if let Some(n) = runs {
        if out.len() != n {
            return Err(format!(
                "--runs {n}: the {name} has {} run record(s)",
                out.len()
            ));
        }
    }
    Ok(out)
}

#[cfg(feature = "html")]
fn write_html(
    path: &str,
    comparison: &perf_instrument::load::Comparison,
    baseline: &[RunRecord],
    candidate: &[RunRecord],
) -> Result<(), String> {
    std::fs::write(path, comparison.to_html(baseline, candidate))
        .map_err(|e| format!("cannot write {path}: {e}"))
}

#[cfg(not(feature = "html"))]
fn write_html(
    _: &str,
    _: &perf_instrument::load::Comparison,
    _: &[RunRecord],
    _: &[RunRecord],
) -> Result<(), String> {
    Err("--html needs the `html` feature".into())
}

fn run(args: &[String]) -> Result<bool, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    if command == "--help" || command == "-h" {
        println!("{USAGE}");
        return Ok(true);
    }
    if command != "compare" {
        return Err(format!("unknown command `{command}`\n{USAGE}"));
    }
    let mut files = Vec::new();
    let mut gate = Gate::default();
    let mut options = CompareOptions::default();
    let (mut runs, mut markdown, mut json, mut html) = (None, None, None, None);
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--runs" => {
                let v = value("--runs")?;
                runs = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--runs: `{v}` is not a positive count"))?,
                );
            }
            "--max-p99-regression" => {
                let v = percent(&value("--max-p99-regression")?)?;
                gate.max_p99_regression = Some(v);
                options.single_run_threshold = v;
            }
            "--max-regression" => {
                let v = percent(&value("--max-regression")?)?;
                gate.max_regression = Some(v);
                options.single_run_threshold = v;
            }
            "--min-throughput" => {
                gate.min_throughput =
                    Some(number("--min-throughput", &value("--min-throughput")?)?);
            }
            "--decide-by" => {
                let v = value("--decide-by")?;
                options.decide_by = match v.as_str() {
                    "p50" => Statistic::P50,
                    "p95" => Statistic::P95,
                    "p99" => Statistic::P99,
                    "p99.9" | "p999" => Statistic::P999,
                    "mean" => Statistic::Mean,
                    _ => return Err(format!("--decide-by: unknown statistic `{v}`")),
                };
            }
            "--gate-tables" => {
                gate.tables = value("--gate-tables")?
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "--markdown" => markdown = Some(value("--markdown")?),
            "--json" => json = Some(value("--json")?),
            "--html" => html = Some(value("--html")?),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}`\n{USAGE}"))
            }
            file => files.push(file.to_string()),
        }
    }
    let [base, cand] = files.as_slice() else {
        return Err(format!(
            "compare needs a baseline and a candidate, got {} file argument(s)\n{USAGE}",
            files.len()
        ));
    };
    let baseline = side(base, "baseline", runs)?;
    let candidate = side(cand, "candidate", runs)?;
    let comparison = compare_with(&baseline, &candidate, &options).map_err(|e| e.to_string())?;
    let failures = comparison.check(&gate);
    print!("{comparison}");
    let write = |path: &str, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
    };
    if let Some(path) = markdown {
        let mut md = comparison.to_markdown();
        if failures.is_empty() {
            md.push_str("\nGate: **passed**.\n");
        } else {
            md.push_str("\nGate: **failed**:\n\n");
            for f in &failures {
                md.push_str(&format!("- {f}\n"));
            }
        }
        write(&path, md)?;
    }
    if let Some(path) = json {
        write(&path, comparison.to_json())?;
    }
    if let Some(path) = html {
        write_html(&path, &comparison, &baseline, &candidate)?;
    }
    if failures.is_empty() {
        println!("gate: passed");
        Ok(true)
    } else {
        for f in &failures {
            println!("gate failed: {f}");
        }
        Ok(false)
    }
}
