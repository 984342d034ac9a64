//! Findings: the bottlenecks a report names, each with its evidence.

use super::finding::{Finding, FindingKind, Threshold, FIXED};
use super::saturation::{throughput_bottlenecks, Utilisation};
use super::text::{duration, ratio};
use super::window::{label, Labels, Window};
use crate::instrument::families::{lock, pending, pipeline, queue, saga, stall};
use crate::recorder::HistogramSnapshot;
use crate::registry::background::families as background;
use crate::registry::FamilyDef;
use std::collections::BTreeMap;

const SAGA_COMPLETION_THRESHOLD: f64 = 0.95;
/// Fewest finished sagas for a completion finding.
const MIN_FINISHED_SAGAS: f64 = 20.0;

pub(crate) fn find(w: &Window<'_>, pools: &[Utilisation]) -> Vec<Finding> {
    let mut out = Vec::new();
    throughput_bottlenecks(pools, &mut out);
    stuck_sagas(w, &mut out);
    saga_completion(w, &mut out);
    growing_queues(w, &mut out);
    bottleneck_stages(w, &mut out);
    contended_lock(w, &mut out);
    long_lock_holds(w, &mut out);
    lock_order_cycles(w, &mut out);
    runtime_stalls(w, &mut out);
    orphans(w, &mut out);
    panics(w, &mut out);
    out
}

fn per_second(w: &Window<'_>, count: f64) -> String {
    match w.seconds {
        Some(s) if s > 0.0 => format!(" ({:.1}/s)", count / s),
        _ => String::new(),
    }
}

fn stuck_sagas(w: &Window<'_>, out: &mut Vec<Finding>) {
    let active = w.gauge_by(&saga::ACTIVE, "saga");
    let oldest = w.gauge_by(&saga::OLDEST_ACTIVE_AGE, "saga");
    for (labels, stuck, _) in w.gauges(&saga::STUCK) {
        if stuck < 1.0 {
            continue;
        }
        let saga = label(&labels, "saga").to_string();
        let mut evidence = vec![format!("{} = {stuck}", saga::STUCK.name())];
        if let Some(a) = active.get(&saga) {
            evidence.push(format!("{} = {a}", saga::ACTIVE.name()));
        }
        if let Some(age) = oldest.get(&saga) {
            evidence.push(format!("oldest active saga is {}", duration(*age)));
        }
        out.push(Finding::new(
            FindingKind::StuckSagas,
            saga.clone(),
            format!("{stuck} {saga} saga(s) stuck with no progress past the threshold"),
            Threshold::new(
                "no progress for the saga's stuck threshold",
                "SagaTracker::builder(..).stuck_after(..)",
            ),
            evidence,
            format!("look up the oldest {saga} sagas (SagaTracker::view or report) and the step they wait on"),
        ));
    }
}

fn saga_completion(w: &Window<'_>, out: &mut Vec<Finding>) {
    let mut by_saga: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (labels, n) in w.counters(&saga::FINISHED) {
        *by_saga
            .entry(label(&labels, "saga").to_string())
            .or_default()
            .entry(label(&labels, "outcome").to_string())
            .or_default() += n;
    }
    for (saga, outcomes) in by_saga {
        let total: f64 = outcomes.values().sum();
        let completed = outcomes.get("completed").copied().unwrap_or(0.0);
        if total < MIN_FINISHED_SAGAS || completed / total >= SAGA_COMPLETION_THRESHOLD {
            continue;
        }
        let evidence = outcomes
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(o, n)| format!("{o}: {n} ({})", ratio(*n / total)))
            .collect();
        out.push(Finding::new(
            FindingKind::LowSagaCompletion,
            saga.clone(),
            format!(
                "only {} of {saga} sagas completed ({completed} of {total} finished)",
                ratio(completed / total)
            ),
            Threshold::new(
                format!(
                    "{} completed, of at least {MIN_FINISHED_SAGAS} finished",
                    ratio(SAGA_COMPLETION_THRESHOLD)
                ),
                FIXED,
            ),
            evidence,
            "see which outcome dominates, then the failure reasons and compensations of that saga",
        ));
    }
}

/// Fewest waits on each side of the window for a wait-growth finding.
const MIN_WAITS: u64 = 20;
/// Smallest growth of the p99 wait that counts, in seconds.
const MIN_WAIT_GROWTH: f64 = 0.001;

fn growing_queues(w: &Window<'_>, out: &mut Vec<Finding>) {
    let before: BTreeMap<String, HistogramSnapshot> = w
        .histograms_before(&queue::WAIT)
        .into_iter()
        .map(|(l, s)| (label(&l, "queue").to_string(), s))
        .collect();
    let waits: BTreeMap<String, HistogramSnapshot> = w
        .histograms(&queue::WAIT)
        .into_iter()
        .map(|(l, s)| (label(&l, "queue").to_string(), s))
        .collect();
    let depths: BTreeMap<String, (f64, Option<f64>)> = w
        .gauges(&queue::DEPTH)
        .into_iter()
        .map(|(l, depth, start)| (label(&l, "queue").to_string(), (depth, start)))
        .collect();
    let enqueued = w.counter_by(&queue::ENQUEUED, "queue");
    let dequeued = w.counter_by(&queue::DEQUEUED, "queue");
    let queues: std::collections::BTreeSet<&String> = depths.keys().chain(waits.keys()).collect();
    for queue in queues {
        let depth_growth = depths.get(queue).and_then(|&(depth, start)| {
            let start = start?;
            let growth = depth - start;
            (growth >= 10.0 && growth >= start * 0.5).then_some((start, depth, growth))
        });
        let p99 = |s: &HistogramSnapshot| s.quantile(0.99).filter(|_| s.count() >= MIN_WAITS);
        let wait_growth = match (
            before.get(queue).and_then(p99),
            waits.get(queue).and_then(p99),
        ) {
            (Some(was), Some(now)) if now >= 2.0 * was && now - was >= MIN_WAIT_GROWTH => {
                Some((was, now))
            }
            _ => None,
        };
        if depth_growth.is_none() && wait_growth.is_none() {
            continue;
        }
        let mut evidence = Vec::new();
        if let Some((start, depth, growth)) = depth_growth {
            evidence.push(format!(
                "depth {start} -> {depth} (+{growth}{})",
                per_second(w, growth)
            ));
        }
        if let Some((was, now)) = wait_growth {
            evidence.push(format!(
                "wait p99 {} before the window -> {} in it",
                duration(was),
                duration(now)
            ));
        } else if let Some(now) = waits.get(queue).and_then(|s| s.quantile(0.99)) {
            evidence.push(format!("wait p99 {}", duration(now)));
        }
        if let (Some(i), Some(o)) = (enqueued.get(queue), dequeued.get(queue)) {
            evidence.push(format!(
                "enqueued {i}{}, dequeued {o}{}",
                per_second(w, *i),
                per_second(w, *o)
            ));
        }
        let summary = if depth_growth.is_some() {
            format!("queue {queue} is growing: items arrive faster than they leave")
        } else {
            format!("queue {queue}: items wait longer and longer")
        };
        out.push(Finding::new(
            FindingKind::GrowingQueue,
            queue.clone(),
            summary,
            Threshold::new(
                format!(
                    "depth +10 and +50% over the window, or p99 wait x2 and +{} (>= {MIN_WAITS} waits)",
                    duration(MIN_WAIT_GROWTH)
                ),
                FIXED,
            ),
            evidence,
            format!("find the consumer of {queue}: add workers or speed it up, or bound the producers"),
        ));
    }
}

/// Smallest share of end-to-end time for a latency-bottleneck finding.
const MIN_STAGE_SHARE: f64 = 0.25;

fn bottleneck_stages(w: &Window<'_>, out: &mut Vec<Finding>) {
    let sums = |family: &FamilyDef| -> BTreeMap<(String, String), (f64, u64, Option<f64>)> {
        w.histograms(family)
            .into_iter()
            .map(|(l, s)| {
                let key = (
                    label(&l, "pipeline").to_string(),
                    label(&l, "stage").to_string(),
                );
                (key, (s.sum(), s.count(), s.quantile(0.99)))
            })
            .collect()
    };
    let (stages, gaps) = (sums(&pipeline::STAGE_DURATION), sums(&pipeline::STAGE_GAP));
    for (labels, e2e) in w.histograms(&pipeline::END_TO_END) {
        if e2e.count() == 0 || e2e.sum() <= 0.0 {
            continue;
        }
        let pipeline = label(&labels, "pipeline").to_string();
        let mut parts: Vec<(String, f64, u64, Option<f64>)> = Vec::new();
        for ((p, stage), (sum, count, p99)) in &stages {
            if *p == pipeline {
                parts.push((stage.clone(), *sum, *count, *p99));
            }
        }
        for ((p, stage), (sum, count, p99)) in &gaps {
            if *p == pipeline {
                parts.push((format!("waiting before {stage}"), *sum, *count, *p99));
            }
        }
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        let Some((name, sum, count, p99)) = parts.first().cloned() else {
            continue;
        };
        let share = sum / e2e.sum();
        if share < MIN_STAGE_SHARE {
            continue;
        }
        let mean = |sum: f64, count: u64| duration(sum / count.max(1) as f64);
        let mut evidence = vec![
            format!(
                "mean {} of {} end to end over {} events",
                mean(sum, count),
                mean(e2e.sum(), e2e.count()),
                e2e.count()
            ),
            format!("p99 {}", p99.map_or_else(|| "-".into(), duration)),
        ];
        if let Some((next, next_sum, _, _)) = parts.get(1) {
            evidence.push(format!(
                "next largest: {next} at {}",
                ratio(next_sum / e2e.sum())
            ));
        }
        out.push(Finding::new(
            FindingKind::BottleneckStage,
            format!("{pipeline}/{name}"),
            format!(
                "{name} takes {} of the end-to-end time of pipeline {pipeline}",
                ratio(share)
            ),
            Threshold::new(
                format!("{} of end-to-end time", ratio(MIN_STAGE_SHARE)),
                FIXED,
            ),
            evidence,
            format!("profile {name} first: shortening it shortens every event of {pipeline}"),
        ));
    }
}

/// The call site, in `role`, that accounts for the most waiting on `lock`: (site, seconds
/// waited, contended acquisitions).
fn top_site(w: &Window<'_>, lock: &str, role: &str) -> Option<(String, f64, f64)> {
    let ours = |l: &Labels| label(l, "lock") == lock && label(l, "role") == role;
    let counts: BTreeMap<String, f64> = w
        .counters(&lock::CONTENDED_BY_SITE)
        .into_iter()
        .filter(|(l, _)| ours(l))
        .map(|(l, n)| (label(&l, "site").to_string(), n))
        .collect();
    w.counters(&lock::WAIT_BY_SITE)
        .into_iter()
        .filter(|(l, s)| ours(l) && *s > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(l, seconds)| {
            let site = label(&l, "site").to_string();
            let n = counts.get(&site).copied().unwrap_or(0.0);
            (site, seconds, n)
        })
}

/// Fewest contended acquisitions for a contended-lock finding.
const MIN_CONTENDED: f64 = 10.0;

fn contended_lock(w: &Window<'_>, out: &mut Vec<Finding>) {
    let Some((labels, contended)) = w
        .counters(&lock::CONTENDED)
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
    else {
        return;
    };
    if contended < MIN_CONTENDED {
        return;
    }
    let lock = label(&labels, "lock").to_string();
    let mut evidence = vec![format!(
        "{contended} contended acquisitions{}",
        per_second(w, contended)
    )];
    if let Some((_, wait)) = w
        .histograms(&lock::WAIT)
        .into_iter()
        .find(|(l, _)| label(l, "lock") == lock)
    {
        if let (Some(p99), Some(max)) = (wait.quantile(0.99), wait.max()) {
            evidence.push(format!("wait p99 {}, max {}", duration(p99), duration(max)));
        }
    }
    if let Some((site, seconds, n)) = top_site(w, &lock, "waiter") {
        evidence.push(format!(
            "most waiting done at {site}: {} over {n} waits",
            duration(seconds)
        ));
    }
    if let Some((site, seconds, n)) = top_site(w, &lock, "holder") {
        evidence.push(format!(
            "most waiting caused by the holder at {site}: {} over {n} waits",
            duration(seconds)
        ));
    }
    out.push(Finding::new(
        FindingKind::ContendedLock,
        lock.clone(),
        format!("lock {lock} is the most contended"),
        Threshold::new(format!("{MIN_CONTENDED} contended acquisitions"), FIXED),
        evidence,
        format!("shorten what the holder does under {lock} (move work out of the critical section) or split the lock"),
    ));
}

fn long_lock_holds(w: &Window<'_>, out: &mut Vec<Finding>) {
    let longest = w.gauge_by(&lock::CURRENT_LONGEST_HOLD, "lock");
    let thresholds = w.gauge_by(&lock::WATCHDOG_THRESHOLD, "lock");
    let mut sites: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (labels, n) in w.counters(&lock::HELD_TOO_LONG_BY_SITE) {
        if n >= 1.0 {
            sites
                .entry(label(&labels, "lock").to_string())
                .or_default()
                .push((label(&labels, "site").to_string(), n));
        }
    }
    for (labels, n) in w.counters(&lock::HELD_TOO_LONG) {
        if n < 1.0 {
            continue;
        }
        let lock = label(&labels, "lock").to_string();
        let mut evidence = vec![format!("{n} hold(s) past the watchdog threshold")];
        let mut holders = sites.remove(&lock).unwrap_or_default();
        holders.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (site, count) in &holders {
            evidence.push(format!("held by {site}: {count} time(s)"));
        }
        if let Some(current) = longest.get(&lock).filter(|v| **v > 0.0) {
            evidence.push(format!("held right now for {}", duration(*current)));
        }
        let summary = match holders.first() {
            Some((site, _)) => {
                format!("lock {lock} was held longer than its threshold, by {site}")
            }
            None => format!("lock {lock} was held longer than its threshold"),
        };
        let value = thresholds.get(&lock).map_or_else(
            || "the lock's watchdog threshold".to_string(),
            |t| duration(*t),
        );
        out.push(Finding::new(
            FindingKind::LongLockHold,
            lock.clone(),
            summary,
            Threshold::new(value, "the lock builder's watchdog(..)"),
            evidence,
            format!("look at what the holder does under {lock}: move slow work (I/O, snapshots) out of the critical section"),
        ));
    }
}

/// Cycles are latent deadlocks: reported from the cumulative count, whenever they were first
/// seen, not only when inside the window.
fn lock_order_cycles(w: &Window<'_>, out: &mut Vec<Finding>) {
    let edges = w.gauges(&lock::ORDER_CYCLE_EDGE);
    for (labels, n, _) in w.gauges(&lock::ORDER_CYCLES) {
        if n < 1.0 {
            continue;
        }
        let cycle = label(&labels, "cycle").to_string();
        let mut evidence: Vec<String> = edges
            .iter()
            .filter(|(l, v, _)| *v >= 1.0 && label(l, "cycle") == cycle)
            .map(|(l, _, _)| {
                format!(
                    "{} held (taken at {}) while taking {} at {}",
                    label(l, "held"),
                    label(l, "held_at"),
                    label(l, "acquired"),
                    label(l, "acquired_at")
                )
            })
            .collect();
        evidence.sort();
        out.push(Finding::new(
            FindingKind::LockOrderCycle,
            cycle.clone(),
            format!("locks taken in a cycle of orders ({cycle}): threads can deadlock"),
            Threshold::new("any cycle in the order graph of tracked locks", "the lock builder's track_order(true)"),
            evidence,
            "make every thread take these locks in one order (or release one before taking the next)",
        ));
    }
}

fn runtime_stalls(w: &Window<'_>, out: &mut Vec<Finding>) {
    let last = w.gauge_by(&stall::LAST_STALL, "runtime");
    let start = w.gauge_by(&stall::LAST_STALL_START, "runtime");
    let longest = w.gauge_by(&stall::LONGEST_STALL, "runtime");
    let thresholds = w.gauge_by(&stall::THRESHOLD, "runtime");
    let now = w
        .later
        .wall_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    for (labels, n) in w.counters(&stall::STALLS) {
        if n < 1.0 {
            continue;
        }
        let runtime = label(&labels, "runtime").to_string();
        let mut evidence = vec![format!("{n} stall(s){}", per_second(w, n))];
        let last = last.get(&runtime).copied().unwrap_or(0.0);
        if let Some(began) = start.get(&runtime).filter(|s| **s > 0.0) {
            evidence.push(format!(
                "last stall: {} from unix time {began:.3} ({} before this report)",
                duration(last),
                duration((now - began).max(0.0))
            ));
        }
        if let Some(l) = longest.get(&runtime) {
            evidence.push(format!("longest stall since start: {}", duration(*l)));
        }
        let value = thresholds
            .get(&runtime)
            .map_or_else(|| "the probe's threshold".to_string(), |t| duration(*t));
        out.push(Finding::new(
            FindingKind::RuntimeStall,
            runtime.clone(),
            format!("runtime {runtime} stalled: its probe task waited {} to be polled", duration(last)),
            Threshold::new(value, "RuntimeStallProbe::builder(..).threshold(..)"),
            evidence,
            "find the blocking call on the runtime's threads (std::thread::sleep, synchronous I/O, a long CPU loop) and move it to spawn_blocking",
        ));
    }
}

fn orphans(w: &Window<'_>, out: &mut Vec<Finding>) {
    let mut by_tracker: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (labels, n) in w.counters(&pending::ORPHANED) {
        if n > 0.0 {
            by_tracker
                .entry(label(&labels, "tracker").to_string())
                .or_default()
                .push((label(&labels, "reason").to_string(), n));
        }
    }
    let items = w.gauge_by(&pending::ITEMS, "tracker");
    let oldest = w.gauge_by(&pending::OLDEST_AGE, "tracker");
    for (tracker, reasons) in by_tracker {
        let total: f64 = reasons.iter().map(|(_, n)| n).sum();
        let mut evidence: Vec<String> = reasons
            .iter()
            .map(|(reason, n)| format!("{reason}: {n}{}", per_second(w, *n)))
            .collect();
        if let Some(n) = items.get(&tracker) {
            evidence.push(format!("{n} still pending"));
        }
        if let Some(age) = oldest.get(&tracker).filter(|a| **a > 0.0) {
            evidence.push(format!("oldest pending {}", duration(*age)));
        }
        out.push(Finding::new(
            FindingKind::OrphanedPending,
            tracker.clone(),
            format!("{total} {tracker} entries were orphaned"),
            Threshold::new(
                "1 orphaned entry (timeout: PendingTracker::builder(..).timeout(..))",
                FIXED,
            ),
            evidence,
            format!("check that every {tracker} request gets its completion, and the timeout against the completion p99"),
        ));
    }
}

fn panics(w: &Window<'_>, out: &mut Vec<Finding>) {
    for (labels, n) in w.counters(&background::PANICS) {
        if n < 1.0 {
            continue;
        }
        let thread = label(&labels, "thread").to_string();
        out.push(Finding::new(
            FindingKind::BackgroundPanics,
            thread.clone(),
            format!("background thread {thread} panicked {n} time(s)"),
            Threshold::new("1 panic", FIXED),
            vec![format!("{}_total = {n}", background::PANICS.name())],
            format!(
                "read the panic message logged by {thread}; its measurements stop while it is down"
            ),
        ));
    }
}
