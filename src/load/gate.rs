//! Gates on a comparison, and its renderings: a text table, Markdown for a pull-request comment,
//! and JSON.

use super::compare::{ComparedRow, Comparison, Judgement};
use serde::Serialize;
use std::fmt::{self, Write as _};

/// Limits a comparison must keep for a CI gate to pass.
///
/// ```
/// use perf_instrument::load::Gate;
/// let gate = Gate { max_p99_regression: Some(0.05), min_throughput: Some(400.0), tables: vec!["stages".into()], ..Gate::default() };
/// assert_eq!(Gate::default().max_p99_regression, None);
/// # let _ = gate;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Gate {
    /// Largest p99 regression allowed (0.05 = 5%) on any row judged worse.
    pub max_p99_regression: Option<f64>,
    /// Largest regression allowed (0.05 = 5%) of the comparison's deciding statistic
    /// ([`CompareOptions::decide_by`](super::CompareOptions::decide_by)) on any row judged
    /// worse: with `decide_by` p50, a gate on the typical latency, steadier than p99 on a busy
    /// machine.
    pub max_regression: Option<f64>,
    /// Smallest candidate throughput allowed, calls per second, of the `load: latency` row.
    pub min_throughput: Option<f64>,
    /// Tables whose rows the p99 limit applies to (empty: every table).
    pub tables: Vec<String>,
}

/// One broken limit.
///
/// ```
/// use perf_instrument::load::GateFailure;
/// let f = GateFailure { row: "stages: orders/persist".into(), reason: "p99 +9.0% > 5.0%".into() };
/// assert!(f.to_string().contains("orders/persist"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateFailure {
    /// The row (`table: name`).
    pub row: String,
    /// What it broke, with the figures.
    pub reason: String,
}

impl fmt::Display for GateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.row, self.reason)
    }
}

fn key(row: &ComparedRow) -> String {
    format!("{}: {}", row.table, row.name)
}

impl Comparison {
    /// The limits of `gate` this comparison breaks (empty: the gate passes). A p99 regression
    /// (or one of the deciding statistic) fails only on a row judged worse, so run-to-run noise does not fail a build; a
    /// throughput floor applies to the candidate's `load: latency` row, and fails when there is
    /// none.
    ///
    /// ```
    /// use perf_instrument::load::{compare, Gate, RunRecord};
    /// let c = compare(&[RunRecord::new()], &[RunRecord::new()]).unwrap();
    /// assert!(c.check(&Gate { max_p99_regression: Some(0.05), ..Gate::default() }).is_empty());
    /// assert!(c.check(&Gate { max_regression: Some(0.05), ..Gate::default() }).is_empty());
    /// assert_eq!(c.check(&Gate { min_throughput: Some(1.0), ..Gate::default() }).len(), 1);
    /// ```
    #[must_use]
    pub fn check(&self, gate: &Gate) -> Vec<GateFailure> {
        let mut out = Vec::new();
        let limits = [
            (super::Statistic::P99, gate.max_p99_regression),
            (self.decide_by, gate.max_regression),
        ];
        let gated = |t: &str| gate.tables.is_empty() || gate.tables.iter().any(|g| g == t);
        for (statistic, max) in limits {
            let Some(max) = max else { continue };
            for row in self.worse().filter(|r| gated(&r.table)) {
                let change = row.change_of(statistic).unwrap_or(0.0);
                if change > max {
                    out.push(GateFailure {
                        row: key(row),
                        reason: format!(
                            "{statistic} {:+.1}% is worse than the allowed {:+.1}% ({} judged worse)",
                            change * 100.0,
                            max * 100.0,
                            self.decide_by
                        ),
                    });
                }
            }
        }
        if let Some(min) = gate.min_throughput {
            match self.row("load", "latency") {
                Some(row) => {
                    let tput = row.new.throughput.unwrap_or(0.0);
                    if tput < min {
                        out.push(GateFailure {
                            row: key(row),
                            reason: format!(
                                "throughput {tput:.1}/s is below the required {min:.1}/s"
                            ),
                        });
                    }
                }
                None => out.push(GateFailure {
                    row: "load: latency".into(),
                    reason: format!(
                        "no load row to check the throughput floor of {min:.1}/s against (the records have no phases)"
                    ),
                }),
            }
        }
        out
    }

    /// The comparison as a Markdown table, for a pull-request comment.
    ///
    /// ```
    /// use perf_instrument::load::{compare, RunRecord};
    /// let md = compare(&[RunRecord::new()], &[RunRecord::new()]).unwrap().to_markdown();
    /// assert!(md.contains("| row |"));
    /// ```
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "**Comparison** of {} baseline and {} candidate run(s); judged by per-run {} (Student's t across runs at 1%, at least a 1% change).\n",
            self.baseline_runs, self.candidate_runs, self.decide_by
        );
        let _ = writeln!(
            s,
            "| row | p50 old → new | p95 old → new | p99 old → new | p99.9 old → new | max old → new | throughput old → new | errors | change | verdict |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
        for row in &self.rows {
            let cell = |o: Option<f64>, n: Option<f64>| {
                format!("{} → {}", value(o, &row.unit), value(n, &row.unit))
            };
            let verdict = match row.judgement {
                Judgement::Worse => "**worse**".to_string(),
                Judgement::Better => "better".to_string(),
                j => j.to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} → {} | {} → {} | {} | {} |",
                key(row),
                cell(row.old.p50, row.new.p50),
                cell(row.old.p95, row.new.p95),
                cell(row.old.p99, row.new.p99),
                cell(row.old.p999, row.new.p999),
                cell(row.old.max, row.new.max),
                rate(row.old.throughput),
                rate(row.new.throughput),
                pct(row.old.error_rate),
                pct(row.new.error_rate),
                row.change
                    .map_or("–".into(), |c| format!("{:+.1}%", c * 100.0)),
                verdict
            );
        }
        s
    }

    /// The comparison as JSON.
    ///
    /// ```
    /// use perf_instrument::load::{compare, RunRecord};
    /// let json = compare(&[RunRecord::new()], &[RunRecord::new()]).unwrap().to_json();
    /// assert!(json.contains("\"decide_by\""));
    /// ```
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "–".into(),
        Some(v) if unit == "seconds" => {
            if v >= 1.0 {
                format!("{v:.3} s")
            } else if v >= 1e-3 {
                format!("{:.3} ms", v * 1e3)
            } else {
                format!("{:.1} µs", v * 1e6)
            }
        }
        Some(v) => format!("{v:.1}"),
    }
}

fn rate(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1}/s"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.2}%", v * 100.0))
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} baseline vs {} candidate run(s), judged by per-run {}",
            self.baseline_runs, self.candidate_runs, self.decide_by
        )?;
        writeln!(
            f,
            "{:<40} {:>23} {:>23} {:>21} {:>8}  verdict",
            "row", "p50 old -> new", "p99 old -> new", "throughput", "change"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:<40} {:>23} {:>23} {:>21} {:>8}  {}",
                key(row),
                format!(
                    "{} -> {}",
                    value(row.old.p50, &row.unit),
                    value(row.new.p50, &row.unit)
                ),
                format!(
                    "{} -> {}",
                    value(row.old.p99, &row.unit),
                    value(row.new.p99, &row.unit)
                ),
                format!(
                    "{} -> {}",
                    rate(row.old.throughput),
                    rate(row.new.throughput)
                ),
                row.change
                    .map_or("-".into(), |c| format!("{:+.1}%", c * 100.0)),
                row.judgement
            )?;
        }
        Ok(())
    }
}
