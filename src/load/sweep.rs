//! Saturation sweep: steps of rising rate, and the knee — the highest rate at which the service
//! keeps up.

use super::plan::{Phase, Plan};
use super::{Call, LoadDriver};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// One step of a sweep.
///
/// ```
/// let s = perf_instrument::load::SweepStep { offered: 100.0, achieved: 99.5, p99: Some(0.01), dropped: 0, keeps_up: true };
/// assert!(s.keeps_up);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepStep {
    /// Planned calls per second.
    pub offered: f64,
    /// Completed calls per second, over the step's intervals but the first (short of the calls
    /// still in service) and the last (which also takes the calls that end after the step).
    pub achieved: f64,
    /// p99 latency from the intended start, seconds.
    pub p99: Option<f64>,
    /// Calls dropped because the queue was full.
    pub dropped: u64,
    /// Achieved at least 99% of offered, nothing dropped, and p99 within the bound.
    pub keeps_up: bool,
}

/// The result of [`LoadDriver::sweep`].
///
/// ```
/// let s = perf_instrument::load::Sweep { steps: vec![], knee: None };
/// assert!(s.knee.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// The steps, in the order run.
    pub steps: Vec<SweepStep>,
    /// The highest offered rate of the steps that kept up, before the first that did not
    /// (`None` when the first step already failed).
    pub knee: Option<f64>,
}

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            writeln!(
                f,
                "offered {:>8.1}/s achieved {:>8.1}/s p99 {:>9.3} ms dropped {:>5} {}",
                s.offered,
                s.achieved,
                s.p99.map_or(f64::NAN, |p| p * 1e3),
                s.dropped,
                if s.keeps_up { "keeps up" } else { "saturated" }
            )?;
        }
        match self.knee {
            Some(k) => writeln!(f, "knee: {k:.1}/s"),
            None => writeln!(f, "knee: below the first step"),
        }
    }
}

impl LoadDriver {
    /// Runs each of `rates` for `hold` (a separate run per step, so a saturated step does not
    /// spill into the next) and finds the knee: the highest rate at which achieved ≥ 99% of
    /// offered, nothing was dropped and p99 ≤ `p99_bound`. Steps stop after the first that does
    /// not keep up. Each step is measured over ten intervals.
    ///
    /// ```
    /// use perf_instrument::load::{LoadDriver, Rate};
    /// use std::time::Duration;
    /// let sweep = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
    ///     .sweep(&[100.0, 200.0], Duration::from_millis(100), Duration::from_secs(1), |_| Ok::<(), String>(()));
    /// assert!(!sweep.steps.is_empty());
    /// ```
    pub fn sweep<F, T, E>(
        &self,
        rates: &[f64],
        hold: Duration,
        p99_bound: Duration,
        call: F,
    ) -> Sweep
    where
        F: Fn(Call) -> Result<T, E> + Sync,
        E: fmt::Display,
    {
        let mut steps = Vec::new();
        let mut knee = None;
        for &rate in rates {
            let Ok(plan) = Plan::new(vec![Phase::constant("step", rate, hold)])
                .and_then(|p| p.with_interval(hold / 10))
            else {
                break;
            };
            let result = self.run_plan(&plan, &call);
            let Some(phase) = result.phases.first() else {
                break;
            };
            let n = phase.intervals.len();
            let inner = &phase.intervals[1.min(n)..n.saturating_sub(1).max(1.min(n))];
            let seconds: f64 = inner.iter().map(|i| i.seconds).sum();
            let completed: u64 = inner.iter().map(|i| i.completed).sum();
            let achieved = if seconds > 0.0 {
                completed as f64 / seconds
            } else {
                0.0
            };
            let p99 = phase.latency.quantile(0.99);
            let keeps_up = achieved >= 0.99 * rate
                && phase.dropped == 0
                && p99.is_some_and(|p| p <= p99_bound.as_secs_f64());
            steps.push(SweepStep {
                offered: rate,
                achieved,
                p99,
                dropped: phase.dropped,
                keeps_up,
            });
            if !keeps_up {
                break;
            }
            knee = Some(rate);
        }
        Sweep { steps, knee }
    }
}
