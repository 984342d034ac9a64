//! Comparison of run records: baseline runs against candidate runs, row by row, with a
//! judgement that accounts for run-to-run noise.
//!
//! Which statistic decides: by default each run's p99, interpolated within its bucket
//! ([`HistogramRecord::quantile`]), so a 5% shift moves the estimate by about 5% instead of
//! by 0 or 9% (the bucket width). The runs of each side give a mean and a spread; a row is
//! judged *worse* (or *better*) when the relative change of the means is at least
//! [`CompareOptions::min_effect`] **and** Student's t statistic over the per-run values (pooled
//! variance) exceeds the two-sided 1% critical value at `n + m - 2` degrees of freedom. The test
//! across runs is what makes the verdict honest: a run-to-run spread as large as the change
//! is "no significant change". With a single run on either side there is no spread to test
//! against, and the judgement falls back to [`CompareOptions::single_run_threshold`].

use super::record::{HistogramRecord, RowRecord, RunRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A statistic of a row's histogram, per run.
///
/// ```
/// use perf_instrument::load::Statistic;
/// assert_eq!(Statistic::P99.to_string(), "p99");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Statistic {
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Largest observation.
    Max,
    /// Arithmetic mean (exact: sum over count).
    Mean,
}

impl Statistic {
    /// The statistic of `h`.
    ///
    /// ```
    /// use perf_instrument::load::{HistogramRecord, Statistic};
    /// assert_eq!(Statistic::Mean.of(&HistogramRecord::empty("seconds")), None);
    /// ```
    #[must_use]
    pub fn of(self, h: &HistogramRecord) -> Option<f64> {
        match self {
            Statistic::P50 => h.quantile(0.5),
            Statistic::P95 => h.quantile(0.95),
            Statistic::P99 => h.quantile(0.99),
            Statistic::P999 => h.quantile(0.999),
            Statistic::Max => h.max,
            Statistic::Mean => h.mean(),
        }
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Statistic::P50 => "p50",
            Statistic::P95 => "p95",
            Statistic::P99 => "p99",
            Statistic::P999 => "p99.9",
            Statistic::Max => "max",
            Statistic::Mean => "mean",
        })
    }
}

/// How a comparison judges.
///
/// ```
/// let o = perf_instrument::load::CompareOptions::default();
/// assert_eq!(o.decide_by, perf_instrument::load::Statistic::P99);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompareOptions {
    /// The statistic whose per-run values decide the judgement (default p99).
    pub decide_by: Statistic,
    /// Smallest relative change judged at all (default 1%): a significant change smaller than
    /// this is "no significant change".
    pub min_effect: f64,
    /// With one run on a side, the relative change that is judged (default 5%).
    pub single_run_threshold: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            decide_by: Statistic::P99,
            min_effect: 0.01,
            single_run_threshold: 0.05,
        }
    }
}

/// The verdict on one row.
///
/// ```
/// assert_eq!(perf_instrument::load::Judgement::Worse.to_string(), "worse");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Judgement {
    /// Significantly faster (lower).
    Better,
    /// Significantly slower (higher).
    Worse,
    /// Within the run-to-run noise, or below the minimum effect.
    NoSignificantChange,
    /// Only one side has the row.
    NotCompared,
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Judgement::Better => "better",
            Judgement::Worse => "worse",
            Judgement::NoSignificantChange => "no significant change",
            Judgement::NotCompared => "not compared",
        })
    }
}

/// A row's figures on one side: means over the runs.
///
/// ```
/// let f = perf_instrument::load::Figures::default();
/// assert_eq!(f.runs, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Runs that had the row.
    pub runs: usize,
    /// Median, interpolated, mean over runs.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest observation.
    pub max: Option<f64>,
    /// Observations per second of the measured run.
    pub throughput: Option<f64>,
    /// Errors per completed call (load rows only).
    pub error_rate: Option<f64>,
    /// The deciding statistic of each run.
    pub per_run: Vec<f64>,
}

/// One row of a comparison.
///
/// ```
/// use perf_instrument::load::{compare, Judgement};
/// let c = compare(&[], &[]).unwrap_err();
/// assert!(c.to_string().contains("baseline"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparedRow {
    /// Table of the row (`stages`, `load`, ...).
    pub table: String,
    /// Name of the row.
    pub name: String,
    /// `seconds`, `bytes` or `items`.
    pub unit: String,
    /// Baseline.
    pub old: Figures,
    /// Candidate.
    pub new: Figures,
    /// Relative change of the deciding statistic (`new / old - 1`).
    pub change: Option<f64>,
    /// Student's t (pooled variance) of the deciding statistic (`None` with fewer than two runs on a side).
    pub t: Option<f64>,
    /// The verdict.
    pub judgement: Judgement,
}

impl ComparedRow {
    /// Relative change of any statistic of the means (`None` when either is missing or zero).
    ///
    /// ```
    /// use perf_instrument::load::{ComparedRow, Figures, Judgement, Statistic};
    /// let row = ComparedRow { table: "t".into(), name: "n".into(), unit: "seconds".into(),
    ///     old: Figures { p50: Some(1.0), ..Figures::default() }, new: Figures { p50: Some(1.1), ..Figures::default() },
    ///     change: None, t: None, judgement: Judgement::NotCompared };
    /// assert!((row.change_of(Statistic::P50).unwrap() - 0.1).abs() < 1e-9);
    /// ```
    #[must_use]
    pub fn change_of(&self, statistic: Statistic) -> Option<f64> {
        let pick = |f: &Figures| match statistic {
            Statistic::P50 => f.p50,
            Statistic::P95 => f.p95,
            Statistic::P99 => f.p99,
            Statistic::P999 => f.p999,
            Statistic::Max => f.max,
            Statistic::Mean => None,
        };
        relative(pick(&self.old)?, pick(&self.new)?)
    }
}

fn relative(old: f64, new: f64) -> Option<f64> {
    (old.is_finite() && new.is_finite() && old != 0.0).then(|| new / old - 1.0)
}

/// The result of [`compare`].
///
/// ```
/// use perf_instrument::load::{compare, RunRecord};
/// let c = compare(&[RunRecord::new()], &[RunRecord::new()]).unwrap();
/// assert!(c.rows.is_empty() && c.worse().count() == 0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The statistic that decided.
    pub decide_by: Statistic,
    /// Baseline runs.
    pub baseline_runs: usize,
    /// Candidate runs.
    pub candidate_runs: usize,
    /// The rows, in the baseline's order, then the candidate's new rows.
    pub rows: Vec<ComparedRow>,
}

impl Comparison {
    /// The rows judged worse.
    ///
    /// ```
    /// use perf_instrument::load::{compare, RunRecord};
    /// assert_eq!(compare(&[RunRecord::new()], &[RunRecord::new()]).unwrap().worse().count(), 0);
    /// ```
    pub fn worse(&self) -> impl Iterator<Item = &ComparedRow> {
        self.rows.iter().filter(|r| r.judgement == Judgement::Worse)
    }

    /// The row `table: name`.
    ///
    /// ```
    /// use perf_instrument::load::{compare, RunRecord};
    /// assert!(compare(&[RunRecord::new()], &[RunRecord::new()]).unwrap().row("load", "latency").is_none());
    /// ```
    #[must_use]
    pub fn row(&self, table: &str, name: &str) -> Option<&ComparedRow> {
        self.rows
            .iter()
            .find(|r| r.table == table && r.name == name)
    }
}

/// Why records could not be compared.
///
/// ```
/// use perf_instrument::load::{compare, CompareError, RunRecord};
/// assert!(matches!(compare(&[], &[RunRecord::new()]), Err(CompareError::NoRuns { .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    /// A side has no run.
    #[error("the {side} has no run record; give at least one per side")]
    NoRuns {
        /// `baseline` or `candidate`.
        side: &'static str,
    },
    /// The runs of one side do not have the same rows.
    #[error("the {side} runs do not have the same rows: run {run} {problem} `{row}`; repeated runs of one side must run the same configuration")]
    MismatchedRows {
        /// `baseline` or `candidate`.
        side: &'static str,
        /// Index of the run (from 0).
        run: usize,
        /// `lacks` or `has an extra`.
        problem: &'static str,
        /// The row.
        row: String,
    },
    /// A phase of zero length in the verdict.
    #[error("the {side} run {run} has a phase `{phase}` of zero length; a phase in the verdict must last and complete calls")]
    EmptyPhase {
        /// `baseline` or `candidate`.
        side: &'static str,
        /// Index of the run.
        run: usize,
        /// The phase.
        phase: String,
    },
}

/// The rows of a run that a comparison looks at: its registry rows, and the load driver's
/// latency (over the steady part of each phase in the verdict where one was found, the whole
/// phase otherwise) and service time (whole phases), with errors.
///
/// Registry rows cover the whole run, warm-up included, so their throughput is over all phases
/// (or the record's `seconds` when it has none); load rows are over the phases in the verdict.
fn rows_of(record: &RunRecord) -> Vec<RunRow> {
    let whole = if record.phases.is_empty() {
        record.seconds
    } else {
        record.phases.iter().map(|p| p.seconds).sum()
    };
    let mut rows: Vec<RunRow> = record
        .rows
        .iter()
        .map(|r| (r.clone(), None, whole))
        .collect();
    let verdict: Vec<_> = record.phases.iter().filter(|p| p.in_verdict).collect();
    if !verdict.is_empty() {
        let mut latency = HistogramRecord::empty("seconds");
        let mut service = HistogramRecord::empty("seconds");
        let (mut completed, mut errors) = (0, 0);
        for p in &verdict {
            // The steady part of a phase when one was found, otherwise all of it.
            match p.steady_from {
                Some(k) if k > 0 && k < p.intervals.len() => {
                    for i in &p.intervals[k..] {
                        latency.merge(&i.latency);
                    }
                }
                _ => {
                    latency.merge(&p.latency);
                }
            }
            service.merge(&p.service_time);
            completed += p.completed;
            errors += p.error_count();
        }
        let load = |name: &str, h: HistogramRecord| RowRecord {
            table: "load".into(),
            name: name.into(),
            histogram: h,
        };
        rows.push((
            load("latency", latency),
            Some((completed, errors)),
            record.seconds,
        ));
        rows.push((
            load("service time", service),
            Some((completed, errors)),
            record.seconds,
        ));
        // Per operation of the mix, over the whole phases in the verdict.
        let mut operations: BTreeMap<&str, (HistogramRecord, HistogramRecord, u64, u64)> =
            BTreeMap::new();
        for p in &verdict {
            for (name, op) in &p.operations {
                let entry = operations.entry(name).or_insert_with(|| {
                    (
                        HistogramRecord::empty("seconds"),
                        HistogramRecord::empty("seconds"),
                        0,
                        0,
                    )
                });
                entry.0.merge(&op.latency);
                entry.1.merge(&op.service_time);
                entry.2 += op.completed;
                entry.3 += op.errors;
            }
        }
        for (name, (latency, service, completed, errors)) in operations {
            rows.push((
                load(&format!("{name} latency"), latency),
                Some((completed, errors)),
                record.seconds,
            ));
            rows.push((
                load(&format!("{name} service time"), service),
                Some((completed, errors)),
                record.seconds,
            ));
        }
    }
    rows
}

/// One run's row: the row, `(completed, errors)` for load rows, the run's seconds.
type RunRow = (RowRecord, Option<(u64, u64)>, f64);

struct Side {
    runs: usize,
    /// key → per-run (row, errors)
    rows: BTreeMap<String, Vec<RunRow>>,
    order: Vec<String>,
}

fn side(records: &[RunRecord], name: &'static str) -> Result<Side, CompareError> {
    if records.is_empty() {
        return Err(CompareError::NoRuns { side: name });
    }
    let mut out = Side {
        runs: records.len(),
        rows: BTreeMap::new(),
        order: Vec::new(),
    };
    let mut first_keys: Vec<String> = Vec::new();
    for (run, record) in records.iter().enumerate() {
        if let Some(p) = record
            .phases
            .iter()
            .find(|p| p.in_verdict && (p.seconds <= 0.0 || !p.seconds.is_finite()))
        {
            return Err(CompareError::EmptyPhase {
                side: name,
                run,
                phase: p.name.clone(),
            });
        }
        let rows = rows_of(record);
        let keys: Vec<String> = rows.iter().map(|(r, _, _)| r.key()).collect();
        if run == 0 {
            first_keys.clone_from(&keys);
            out.order.clone_from(&keys);
        } else {
            if let Some(k) = first_keys.iter().find(|k| !keys.contains(k)) {
                return Err(CompareError::MismatchedRows {
                    side: name,
                    run,
                    problem: "lacks",
                    row: k.clone(),
                });
            }
            if let Some(k) = keys.iter().find(|k| !first_keys.contains(k)) {
                return Err(CompareError::MismatchedRows {
                    side: name,
                    run,
                    problem: "has an extra",
                    row: k.clone(),
                });
            }
        }
        for row in rows {
            out.rows.entry(row.0.key()).or_default().push(row);
        }
    }
    Ok(out)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn variance(values: &[f64]) -> f64 {
    let Some(m) = mean(values) else { return 0.0 };
    if values.len() < 2 {
        return 0.0;
    }
    values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (values.len() - 1) as f64
}

/// Two-sided 1% critical value of Student's t (`t_0.995`) at `df` degrees of freedom (rounded
/// down to a tabled value, which errs on the side of "no significant change").
fn t_critical(df: f64) -> f64 {
    const TABLE: [(f64, f64); 16] = [
        (1.0, 63.657),
        (2.0, 9.925),
        (3.0, 5.841),
        (4.0, 4.604),
        (5.0, 4.032),
        (6.0, 3.707),
        (7.0, 3.499),
        (8.0, 3.355),
        (9.0, 3.250),
        (10.0, 3.169),
        (12.0, 3.055),
        (15.0, 2.947),
        (20.0, 2.845),
        (30.0, 2.750),
        (60.0, 2.660),
        (120.0, 2.617),
    ];
    TABLE
        .iter()
        .rev()
        .find(|(d, _)| df >= *d)
        .map_or(TABLE[0].1, |(_, t)| *t)
}

fn figures(runs: &[RunRow], decide_by: Statistic) -> Figures {
    let avg = |s: Statistic| {
        let v: Vec<f64> = runs
            .iter()
            .filter_map(|(r, _, _)| s.of(&r.histogram))
            .collect();
        mean(&v)
    };
    let tput: Vec<f64> = runs
        .iter()
        .filter(|(_, _, s)| *s > 0.0)
        .map(|(r, e, s)| e.map_or(r.histogram.count, |(completed, _)| completed) as f64 / s)
        .collect();
    let errors: Vec<f64> = runs
        .iter()
        .filter_map(|(_, e, _)| e.filter(|(c, _)| *c > 0).map(|(c, e)| e as f64 / c as f64))
        .collect();
    Figures {
        runs: runs.len(),
        p50: avg(Statistic::P50),
        p95: avg(Statistic::P95),
        p99: avg(Statistic::P99),
        p999: avg(Statistic::P999),
        max: avg(Statistic::Max),
        throughput: mean(&tput),
        error_rate: mean(&errors),
        per_run: runs
            .iter()
            .filter_map(|(r, _, _)| decide_by.of(&r.histogram))
            .collect(),
    }
}

fn judge(
    old: &[f64],
    new: &[f64],
    options: &CompareOptions,
) -> (Option<f64>, Option<f64>, Judgement) {
    let (Some(mo), Some(mn)) = (mean(old), mean(new)) else {
        return (None, None, Judgement::NotCompared);
    };
    let Some(change) = relative(mo, mn) else {
        return (None, None, Judgement::NoSignificantChange);
    };
    let direction = if change > 0.0 {
        Judgement::Worse
    } else {
        Judgement::Better
    };
    if old.len() < 2 || new.len() < 2 {
        let j = if change.abs() >= options.single_run_threshold {
            direction
        } else {
            Judgement::NoSignificantChange
        };
        return (Some(change), None, j);
    }
    // Student's t with the pooled variance: repeated runs of one configuration on one machine
    // spread alike, and the pooled estimate keeps `n + m - 2` degrees of freedom where Welch's
    // would fall towards 2 whenever one side's three runs happen to agree closely.
    let (n, m) = (old.len() as f64, new.len() as f64);
    let pooled = ((n - 1.0) * variance(old) + (m - 1.0) * variance(new)) / (n + m - 2.0);
    let se = (pooled * (1.0 / n + 1.0 / m)).sqrt();
    let t = if se > 0.0 {
        (mn - mo) / se
    } else if mn == mo {
        0.0
    } else {
        f64::INFINITY.copysign(mn - mo)
    };
    let df = n + m - 2.0;
    let significant = t.abs() > t_critical(df) && change.abs() >= options.min_effect;
    let j = if significant {
        direction
    } else {
        Judgement::NoSignificantChange
    };
    (Some(change), Some(t), j)
}

/// Compares baseline runs with candidate runs using [`CompareOptions::default`]: p99 per run,
/// Student's t across runs at 1%, at least a 1% change.
///
/// # Errors
///
/// [`CompareError`]: a side without runs, runs of one side with different rows, a phase of
/// zero length in the verdict.
///
/// ```
/// use perf_instrument::load::{compare, HistogramRecord, Judgement, RowRecord, RunRecord};
/// use perf_instrument::{Histogram, Unit};
/// let run = |scale: u64, seed: u64| {
///     let h = Histogram::new(Unit::Seconds);
///     for i in 0..10_000u64 {
///         h.record((1_000_000 + (i * 7919 + seed) % 1_000_000) * scale / 100);
///     }
///     let mut r = RunRecord::new();
///     r.seconds = 10.0;
///     r.rows.push(RowRecord { table: "stages".into(), name: "orders/persist".into(),
///         histogram: HistogramRecord::from_snapshot(&h.snapshot()) });
///     r
/// };
/// let base = [run(100, 1), run(100, 2), run(100, 3)];
/// let slower = [run(110, 4), run(110, 5), run(110, 6)];
/// let c = compare(&base, &slower).unwrap();
/// assert_eq!(c.row("stages", "orders/persist").unwrap().judgement, Judgement::Worse);
/// ```
pub fn compare(
    baseline: &[RunRecord],
    candidate: &[RunRecord],
) -> Result<Comparison, CompareError> {
    compare_with(baseline, candidate, &CompareOptions::default())
}

/// [`compare`] with explicit options.
///
/// # Errors
///
/// As [`compare`].
///
/// ```
/// use perf_instrument::load::{compare_with, CompareOptions, RunRecord, Statistic};
/// let o = CompareOptions { decide_by: Statistic::Mean, ..CompareOptions::default() };
/// let c = compare_with(&[RunRecord::new()], &[RunRecord::new()], &o).unwrap();
/// assert_eq!(c.decide_by, Statistic::Mean);
/// ```
pub fn compare_with(
    baseline: &[RunRecord],
    candidate: &[RunRecord],
    options: &CompareOptions,
) -> Result<Comparison, CompareError> {
    let base = side(baseline, "baseline")?;
    let cand = side(candidate, "candidate")?;
    let mut keys = base.order.clone();
    keys.extend(
        cand.order
            .iter()
            .filter(|k| !base.rows.contains_key(*k))
            .cloned(),
    );
    let mut rows = Vec::new();
    for key in keys {
        let (b, c) = (base.rows.get(&key), cand.rows.get(&key));
        let any = b.or(c).and_then(|v| v.first()).map(|(r, _, _)| r);
        let Some(first) = any else { continue };
        let old = b.map(|v| figures(v, options.decide_by)).unwrap_or_default();
        let new = c.map(|v| figures(v, options.decide_by)).unwrap_or_default();
        let (change, t, judgement) = if b.is_some() && c.is_some() {
            judge(&old.per_run, &new.per_run, options)
        } else {
            (None, None, Judgement::NotCompared)
        };
        rows.push(ComparedRow {
            table: first.table.clone(),
            name: first.name.clone(),
            unit: first.histogram.unit.clone(),
            old,
            new,
            change,
            t,
            judgement,
        });
    }
    Ok(Comparison {
        decide_by: options.decide_by,
        baseline_runs: base.runs,
        candidate_runs: cand.runs,
        rows,
    })
}
