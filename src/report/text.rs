//! The plain-text layout of a report.

use super::{Report, Row};
use std::fmt;

/// A duration in seconds, with a unit a reader takes in at a glance.
pub(crate) fn duration(seconds: f64) -> String {
    let s = seconds.abs();
    if s == 0.0 {
        "0".to_string()
    } else if s < 1e-6 {
        format!("{:.0}ns", seconds * 1e9)
    } else if s < 1e-3 {
        format!("{:.1}µs", seconds * 1e6)
    } else if s < 1.0 {
        format!("{:.2}ms", seconds * 1e3)
    } else {
        format!("{seconds:.2}s")
    }
}

/// A fraction as a percentage.
pub(crate) fn ratio(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

fn cell(row: &Row, value: Option<f64>) -> String {
    match (value, row.unit) {
        (None, _) => "-".to_string(),
        (Some(v), "seconds") => duration(v),
        (Some(v), _) => format!("{v:.0}"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(f, "perf-instrument {} report", m.version)?;
        match self.window_seconds {
            Some(s) => writeln!(f, "window: {s:.1} s")?,
            None => writeln!(f, "window: since start (cumulative)")?,
        }
        writeln!(
            f,
            "machine: {} cores, {}, clock {}, {}, {} recorder lanes, {} build",
            m.cores, m.cpu_model, m.clock_source, m.os, m.lanes, m.profile
        )?;
        if !self.config.is_empty() {
            let config: Vec<String> = self
                .config
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(f, "config: {}", config.join(", "))?;
        }
        for table in &self.tables {
            let width = table
                .rows
                .iter()
                .map(|r| r.name.chars().count())
                .max()
                .unwrap_or(0)
                .max(table.title.len());
            writeln!(f)?;
            writeln!(
                f,
                "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                table.title, "count", "rate/s", "p50", "p95", "p99", "p99.9", "max"
            )?;
            for row in &table.rows {
                let rate = row
                    .rate_per_second
                    .map_or_else(|| "-".to_string(), |r| format!("{r:.1}"));
                writeln!(
                    f,
                    "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                    row.name,
                    row.count,
                    rate,
                    cell(row, row.p50),
                    cell(row, row.p95),
                    cell(row, row.p99),
                    cell(row, row.p999),
                    cell(row, row.max),
                )?;
            }
        }
        writeln!(f)?;
        if self.findings.is_empty() {
            writeln!(f, "findings: none")?;
        } else {
            writeln!(f, "findings:")?;
            for (i, finding) in self.findings.iter().enumerate() {
                writeln!(
                    f,
                    "{:>3}. [{}] {}",
                    i + 1,
                    finding.kind.name(),
                    finding.summary
                )?;
                for line in &finding.evidence {
                    writeln!(f, "       - {line}")?;
                }
            }
        }
        Ok(())
    }
}
