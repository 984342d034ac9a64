//! Utilisation and saturation: per pipeline stage with declared workers, busy time over wall
//! time, the growth of its input queue, and the throughput-bottleneck finding (a stage near
//! full utilisation whose input queue grows) — distinct from the latency-share finding.

use super::finding::{Finding, FindingKind, Threshold, FIXED};
use super::text::{duration, ratio};
use super::window::{label, Window};
use crate::instrument::families::{pipeline, queue};
use serde::Serialize;
use std::collections::BTreeMap;

/// Utilisation at or above which a stage counts as saturated.
pub const SATURATED_UTILISATION: f64 = 0.9;
/// Growth of the input queue's depth over the window, in items, that counts as growing.
pub const MIN_QUEUE_GROWTH: f64 = 5.0;

/// How busy one stage's worker pool was over a report's window.
///
/// ```
/// use perf_instrument::{Pipeline, Registry, Report};
/// let registry = Registry::new();
/// let p = Pipeline::builder("ingest").stages(["parse"]).workers("parse", 4)
///     .build(&registry).unwrap();
/// let before = registry.snapshot();
/// let mut event = p.begin();
/// p.time_stage(&mut event, p.stage("parse").unwrap(), || ());
/// p.finish(event);
/// let report = Report::between(&before, &registry.snapshot());
/// let u = &report.utilisation()[0];
/// assert_eq!((u.subject.as_str(), u.workers), ("ingest/parse", 4));
/// assert!(u.utilisation.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Utilisation {
    /// `pipeline/stage`.
    pub subject: String,
    /// Workers the stage runs on, as declared (`PipelineBuilder::workers`).
    pub workers: u32,
    /// Time spent in the stage over the window (the sum of its durations), in seconds.
    pub busy_seconds: f64,
    /// Busy time over wall time × workers (`None` for a cumulative report, which has no window).
    pub utilisation: Option<f64>,
    /// Stage completions per second over the window.
    pub completions_per_second: Option<f64>,
    /// The queue that feeds the stage, as declared (`PipelineBuilder::input_queue`).
    pub input_queue: Option<String>,
    /// Its depth at the start and the end of the window.
    pub queue_depth: Option<(f64, f64)>,
}

impl Utilisation {
    /// The input queue's growth over the window, in items.
    ///
    /// ```
    /// # let u = perf_instrument::Utilisation { subject: "p/s".into(), workers: 1, busy_seconds: 0.0,
    /// #     utilisation: None, completions_per_second: None, input_queue: Some("q".into()),
    /// #     queue_depth: Some((2.0, 12.0)) };
    /// assert_eq!(u.queue_growth(), Some(10.0));
    /// ```
    #[must_use]
    pub fn queue_growth(&self) -> Option<f64> {
        self.queue_depth.map(|(start, end)| end - start)
    }
}

/// The utilisation of every stage with declared workers.
pub(crate) fn utilisation(w: &Window<'_>) -> Vec<Utilisation> {
    let busy: BTreeMap<(String, String), (f64, u64)> = w
        .histograms(&pipeline::STAGE_DURATION)
        .into_iter()
        .map(|(l, s)| {
            let key = (
                label(&l, "pipeline").to_string(),
                label(&l, "stage").to_string(),
            );
            (key, (s.sum(), s.count()))
        })
        .collect();
    let depths: BTreeMap<String, (f64, Option<f64>)> = w
        .gauges(&queue::DEPTH)
        .into_iter()
        .map(|(l, end, start)| (label(&l, "queue").to_string(), (end, start)))
        .collect();
    let seconds = w.seconds.filter(|s| *s > 0.0);
    let mut out = Vec::new();
    for (labels, workers, _) in w.gauges(&pipeline::STAGE_WORKERS) {
        let (p, stage, queue) = (
            label(&labels, "pipeline"),
            label(&labels, "stage"),
            label(&labels, "input_queue"),
        );
        let workers = workers.max(1.0) as u32;
        let (busy_seconds, count) = busy
            .get(&(p.to_string(), stage.to_string()))
            .copied()
            .unwrap_or((0.0, 0));
        let input_queue = (!queue.is_empty()).then(|| queue.to_string());
        let queue_depth = input_queue
            .as_ref()
            .and_then(|q| depths.get(q))
            .map(|&(end, start)| (start.unwrap_or(0.0), end));
        out.push(Utilisation {
            subject: format!("{p}/{stage}"),
            workers,
            busy_seconds,
            utilisation: seconds.map(|s| busy_seconds / (s * f64::from(workers))),
            completions_per_second: seconds.map(|s| count as f64 / s),
            input_queue,
            queue_depth,
        });
    }
    out
}

/// The throughput bottleneck: a stage at or above [`SATURATED_UTILISATION`] whose input queue
/// grew by at least [`MIN_QUEUE_GROWTH`] items over the window.
pub(crate) fn throughput_bottlenecks(pools: &[Utilisation], out: &mut Vec<Finding>) {
    for u in pools {
        let (Some(busy), Some(growth), Some(queue)) =
            (u.utilisation, u.queue_growth(), u.input_queue.as_ref())
        else {
            continue;
        };
        if busy < SATURATED_UTILISATION || growth < MIN_QUEUE_GROWTH {
            continue;
        }
        let (start, end) = u.queue_depth.unwrap_or_default();
        let mut evidence = vec![
            format!(
                "utilisation {} of {} worker(s): busy {} over the window",
                ratio(busy),
                u.workers,
                duration(u.busy_seconds)
            ),
            format!("input queue {queue}: depth {start} -> {end} (+{growth})"),
        ];
        if let Some(rate) = u.completions_per_second {
            evidence.push(format!("completes {rate:.1}/s: that is its capacity"));
        }
        out.push(Finding::new(
            FindingKind::ThroughputBottleneck,
            u.subject.clone(),
            format!(
                "{} limits throughput: its {} worker(s) are saturated and its input queue {queue} grows",
                u.subject, u.workers
            ),
            Threshold::new(
                format!(
                    "utilisation >= {} and input queue +{MIN_QUEUE_GROWTH} items over the window",
                    ratio(SATURATED_UTILISATION)
                ),
                FIXED,
            ),
            evidence,
            format!(
                "add workers to {} (and declare them) or make each item cheaper; until then its queue and latency grow without bound",
                u.subject
            ),
        ));
    }
}
