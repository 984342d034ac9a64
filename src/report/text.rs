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
        if !self.utilisation.is_empty() {
            writeln!(f)?;
            writeln!(f, "utilisation (busy time / wall time x workers):")?;
            for u in &self.utilisation {
                writeln!(f, "  {}", utilisation_line(u))?;
            }
        }
        let lines = resource_lines(&self.resources);
        if !lines.is_empty() {
            writeln!(f)?;
            writeln!(f, "resources:")?;
            for line in lines {
                writeln!(f, "  {line}")?;
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
                    "{:>3}. {} [{}] {}",
                    i + 1,
                    finding.severity.name().to_uppercase(),
                    finding.kind.name(),
                    finding.summary
                )?;
                writeln!(f, "       threshold: {}", finding.threshold)?;
                for line in &finding.evidence {
                    writeln!(f, "       - {line}")?;
                }
                writeln!(f, "       next: {}", finding.next_step)?;
            }
        }
        Ok(())
    }
}

fn resource_lines(r: &super::ResourceUse) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = r.machine_cpu {
        out.push(format!("machine CPU {} busy", ratio(c)));
    }
    if let Some(c) = r.process_cpu {
        let cores = r
            .process_cores
            .map_or_else(String::new, |n| format!(" of {n:.2} core(s)"));
        out.push(format!("process CPU {}{cores}", ratio(c)));
    }
    if let Some(t) = r.throttled_share {
        out.push(format!("cgroup CPU throttled in {} of periods", ratio(t)));
    }
    for m in &r.memory {
        let mib = |b: f64| format!("{:.1} MiB", b / 1_048_576.0);
        match (m.limit_bytes, m.share()) {
            (Some(l), Some(s)) => out.push(format!(
                "{} memory {} of {} ({})",
                m.scope,
                mib(m.used_bytes),
                mib(l),
                ratio(s)
            )),
            _ => out.push(format!("{} memory {}", m.scope, mib(m.used_bytes))),
        }
    }
    for (device, busy) in &r.disks {
        out.push(format!("disk {device} busy {}", ratio(*busy)));
    }
    if let Some((rx, tx)) = r.network_per_second {
        out.push(format!("network {rx:.0} B/s in, {tx:.0} B/s out"));
    }
    if let Some((read, write)) = r.process_io_per_second {
        out.push(format!(
            "process storage {read:.0} B/s read, {write:.0} B/s written"
        ));
    }
    if let Some((v, i)) = r.context_switches_per_second {
        out.push(format!(
            "context switches {v:.0}/s voluntary, {i:.0}/s involuntary"
        ));
    }
    out
}

fn utilisation_line(u: &super::Utilisation) -> String {
    let busy = u.utilisation.map_or_else(|| "-".to_string(), ratio);
    let mut line = format!(
        "{}: {busy} of {} worker(s), busy {}",
        u.subject,
        u.workers,
        duration(u.busy_seconds)
    );
    if let (Some(q), Some((start, end))) = (&u.input_queue, u.queue_depth) {
        line.push_str(&format!(", input queue {q} depth {start} -> {end}"));
    }
    line
}

/// Escapes the characters that would break a Markdown table cell.
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown: the machine, the tables, and the findings by severity.
pub(crate) fn markdown(report: &Report) -> String {
    use std::fmt::Write as _;
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(out, "## perf-instrument {} report\n", m.version);
    let _ = match report.window_seconds {
        Some(s) => writeln!(out, "- window: {s:.1} s"),
        None => writeln!(out, "- window: since start (cumulative)"),
    };
    let _ = writeln!(
        out,
        "- machine: {} cores, {}, clock {}, {}, {} build",
        m.cores,
        md(&m.cpu_model),
        m.clock_source,
        m.os,
        m.profile
    );
    for (k, v) in &report.config {
        let _ = writeln!(out, "- {}: {}", md(k), md(v));
    }
    for table in &report.tables {
        let _ = writeln!(out, "\n### {}\n", md(table.title));
        let _ = writeln!(
            out,
            "| name | count | rate/s | p50 | p95 | p99 | p99.9 | max |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for row in &table.rows {
            let rate = row
                .rate_per_second
                .map_or_else(|| "-".to_string(), |r| format!("{r:.1}"));
            let _ = writeln!(
                out,
                "| {} | {} | {rate} | {} | {} | {} | {} | {} |",
                md(&row.name),
                row.count,
                cell(row, row.p50),
                cell(row, row.p95),
                cell(row, row.p99),
                cell(row, row.p999),
                cell(row, row.max),
            );
        }
    }
    if !report.utilisation.is_empty() {
        let _ = writeln!(out, "\n### Utilisation\n");
        for u in &report.utilisation {
            let _ = writeln!(out, "- {}", md(&utilisation_line(u)));
        }
    }
    let lines = resource_lines(&report.resources);
    if !lines.is_empty() {
        let _ = writeln!(out, "\n### Resources\n");
        for line in lines {
            let _ = writeln!(out, "- {}", md(&line));
        }
    }
    let _ = writeln!(out, "\n### Findings\n");
    if report.findings.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for (i, f) in report.findings.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. **{}** `{}` {}",
            i + 1,
            f.severity.name(),
            f.kind.name(),
            md(&f.summary)
        );
        let _ = writeln!(out, "   - threshold: {}", md(&f.threshold.to_string()));
        for line in &f.evidence {
            let _ = writeln!(out, "   - {}", md(line));
        }
        let _ = writeln!(out, "   - next: {}", md(&f.next_step));
    }
    out
}
