//! Running a [`Plan`]: per phase and per interval latency, service time, throughput, errors by
//! kind and dropped calls; live figures in a registry; steady-state detection.

use super::plan::{Mix, Picker, Plan};
use super::record::{
    HistogramRecord, InFlightRecord, IntervalRecord, OperationRecord, PhaseRecord, RunRecord,
};
use super::{Call, LoadDriver};
use crate::recorder::{Counter, Gauge, Histogram, Unit};
use crate::registry::{Opts, Registry, RegistryError, RegistrySnapshot};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Distinct error kinds kept per phase; further kinds are counted under `other`.
pub const MAX_ERROR_KINDS: usize = 16;

/// Longest error kind label, in bytes; longer ones are cut at a character boundary.
pub const MAX_ERROR_KIND_BYTES: usize = 64;

/// What a [`LoadDriver::run_plan`] measured: a [`PhaseRecord`] per phase.
///
/// ```
/// use perf_instrument::load::{LoadDriver, Phase, Plan, Rate};
/// use std::time::Duration;
/// let plan = Plan::new(vec![Phase::constant("a", 200.0, Duration::from_millis(100))]).unwrap();
/// let r = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
///     .run_plan(&plan, |_| Ok::<(), String>(()));
/// assert_eq!(r.phases.len(), 1);
/// assert!(r.phases[0].planned > 0);
/// ```
#[derive(Clone, Debug)]
pub struct PlanResult {
    /// The phases, in order.
    pub phases: Vec<PhaseRecord>,
    /// How long the run took.
    pub elapsed: Duration,
    /// The registry as it was when the first phase in the verdict began after phases out of it
    /// (a warm-up), taken by [`LoadDriver::run_plan_in`]; `None` otherwise. Give it to
    /// [`RunRecord::with_registry_between`] so that the registry's rows leave the warm-up out,
    /// as the load rows do. Calls of the warm-up still in flight at that moment end in the
    /// verdict's window.
    pub verdict_start: Option<RegistrySnapshot>,
}

impl PlanResult {
    /// Puts the phases into `record`, with the measured length (phases in the verdict).
    ///
    /// ```
    /// use perf_instrument::load::{LoadDriver, Phase, Plan, Rate, RunRecord};
    /// use std::time::Duration;
    /// let plan = Plan::new(vec![Phase::constant("a", 100.0, Duration::from_millis(50))]).unwrap();
    /// let r = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO).run_plan(&plan, |_| Ok::<(), String>(()));
    /// let record = r.into_record(RunRecord::new());
    /// assert_eq!(record.phases.len(), 1);
    /// assert!(record.seconds > 0.0);
    /// ```
    #[must_use]
    pub fn into_record(self, mut record: RunRecord) -> RunRecord {
        record.seconds = self
            .phases
            .iter()
            .filter(|p| p.in_verdict)
            .map(|p| p.seconds)
            .sum();
        record.phases = self.phases;
        record
    }

    /// The phase named `name`.
    ///
    /// ```
    /// use perf_instrument::load::{LoadDriver, Phase, Plan, Rate};
    /// use std::time::Duration;
    /// let plan = Plan::new(vec![Phase::burst(100.0, Duration::from_millis(50))]).unwrap();
    /// let r = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO).run_plan(&plan, |_| Ok::<(), String>(()));
    /// assert!(r.phase("burst").is_some());
    /// ```
    #[must_use]
    pub fn phase(&self, name: &str) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.name == name)
    }
}

impl fmt::Display for PlanResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |h: &HistogramRecord, q: f64| h.quantile(q).map_or(f64::NAN, |v| v * 1e3);
        for p in &self.phases {
            writeln!(
                f,
                "{:<10} {:<26} {:>6.1}/s achieved, {} dropped, {} errors; latency p50 {:.3} ms p95 {:.3} ms p99 {:.3} ms{}",
                p.name,
                p.shape,
                p.completed as f64 / p.seconds.max(1e-9),
                p.dropped,
                p.error_count(),
                ms(&p.latency, 0.5),
                ms(&p.latency, 0.95),
                ms(&p.latency, 0.99),
                match p.steady_from {
                    Some(k) => format!(", steady from interval {k}"),
                    None => ", never steady".to_string(),
                }
            )?;
        }
        Ok(())
    }
}

/// A call on its way from the dispatcher to a worker.
struct Planned {
    index: u64,
    intended: Instant,
    phase: usize,
    phase_start: Instant,
    operation: usize,
}

struct IntervalState {
    latency: Histogram,
    completed: Counter,
    errors: Counter,
    /// Calls a worker took up in the interval (by the time it took them up).
    taken: Counter,
    /// Calls that returned in the interval (by the time they returned).
    returned: Counter,
    /// The most calls running at once when a call was taken up in the interval.
    running_peak: AtomicU64,
}

impl IntervalState {
    fn new() -> Self {
        Self {
            latency: Histogram::new(Unit::Seconds),
            completed: Counter::new(),
            errors: Counter::new(),
            taken: Counter::new(),
            returned: Counter::new(),
            running_peak: AtomicU64::new(0),
        }
    }
}

/// The phase and interval of the moment `at` (from the start of the run), `None` from the end
/// of the plan on.
fn interval_at(plan: &Plan, states: &[PhaseState], at: Duration) -> Option<(usize, usize)> {
    if at >= plan.duration() {
        return None;
    }
    let (phase, offset) = plan.phase_at(at);
    let k = ((at - offset).as_secs_f64() / plan.interval.as_secs_f64()) as usize;
    Some((phase, k.min(states[phase].intervals.len() - 1)))
}

/// The calls in flight per interval, from the counts of calls released, taken up and returned
/// in each: levels carried from interval to interval, in the plan's order.
fn in_flight_levels(states: &[PhaseState], released: &[Vec<u64>]) -> Vec<Vec<InFlightRecord>> {
    let (mut running, mut queued) = (0u64, 0u64);
    states
        .iter()
        .zip(released)
        .map(|(st, released)| {
            st.intervals
                .iter()
                .zip(released)
                .map(|(iv, &released)| {
                    let at_start = running;
                    let taken = iv.taken.get();
                    running = (running + taken).saturating_sub(iv.returned.get());
                    queued = (queued + released).saturating_sub(taken);
                    InFlightRecord {
                        running,
                        running_max: iv
                            .running_peak
                            .load(Ordering::Relaxed)
                            .max(at_start)
                            .max(running),
                        queued,
                    }
                })
                .collect()
        })
        .collect()
}

struct PhaseState {
    latency: Histogram,
    service: Histogram,
    completed: Counter,
    errors: Mutex<BTreeMap<String, u64>>,
    intervals: Vec<IntervalState>,
    /// Per operation of the mix (empty without one).
    operations: Vec<OperationState>,
}

/// One operation's live figures.
struct LiveOperation {
    ok: Counter,
    failed: Counter,
    dropped: Counter,
    latency: Histogram,
    service: Histogram,
}

/// The driver's figures in a registry, so a scrape during the test sees the load beside the
/// service.
struct Live {
    offered: Gauge,
    achieved: Gauge,
    phase: Gauge,
    operations: Vec<LiveOperation>,
    errors: crate::registry::Family<Counter>,
}

/// The operation of calls when the plan has no mix.
const SINGLE_OPERATION: &str = "call";

impl Live {
    fn register(registry: &Registry, operations: &[String]) -> Result<Self, RegistryError> {
        let calls = registry.register_counter(
            Opts::new(
                "load_calls",
                "Calls of the load driver, by operation and outcome.",
            )
            .labels(["operation", "outcome"]),
        )?;
        let latency = registry.register_histogram(
            Opts::new(
                "load_latency_seconds",
                "Latency from each call's intended start (coordinated omission corrected), by operation.",
            )
            .labels(["operation"])
            .unit(Unit::Seconds),
        )?;
        let service = registry.register_histogram(
            Opts::new(
                "load_service_time_seconds",
                "Time from each call's actual start to its end, by operation.",
            )
            .labels(["operation"])
            .unit(Unit::Seconds),
        )?;
        Ok(Self {
            offered: registry.gauge("load_offered_rate", "Planned calls per second now.")?,
            achieved: registry.gauge(
                "load_achieved_rate",
                "Calls completed per second over the last measuring interval.",
            )?,
            phase: registry.gauge("load_phase", "Index of the load plan's current phase.")?,
            operations: operations
                .iter()
                .map(|op| LiveOperation {
                    ok: calls.with_label_values(&[op, "ok"]),
                    failed: calls.with_label_values(&[op, "error"]),
                    dropped: calls.with_label_values(&[op, "dropped"]),
                    latency: latency.with_label_values(&[op]),
                    service: service.with_label_values(&[op]),
                })
                .collect(),
            errors: registry.register_counter(
                Opts::new("load_errors", "Calls that returned an error, by kind.").labels(["kind"]),
            )?,
        })
    }
}

/// One operation's figures within a phase.
struct OperationState {
    latency: Histogram,
    service: Histogram,
    completed: Counter,
    errors: Counter,
}

impl OperationState {
    fn new() -> Self {
        Self {
            latency: Histogram::new(Unit::Seconds),
            service: Histogram::new(Unit::Seconds),
            completed: Counter::new(),
            errors: Counter::new(),
        }
    }

    fn record(&self) -> OperationRecord {
        OperationRecord {
            completed: self.completed.get(),
            errors: self.errors.get(),
            latency: HistogramRecord::from_snapshot(&self.latency.snapshot()),
            service_time: HistogramRecord::from_snapshot(&self.service.snapshot()),
        }
    }
}

fn kind_of(text: &str) -> String {
    let mut end = text.len().min(MAX_ERROR_KIND_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Index of the first interval from which throughput and p99 stop drifting: every interval from
/// there on has a throughput within 10% and a p99 within 25% of the median of those intervals
/// (at least three of them). `None` when no such tail exists.
pub(crate) fn steady_from(intervals: &[IntervalRecord]) -> Option<usize> {
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
    let n = intervals.len();
    (0..n.saturating_sub(2)).find(|&k| {
        let rest = &intervals[k..];
        let tput: Vec<f64> = rest.iter().map(IntervalRecord::throughput).collect();
        let p99: Vec<f64> = rest
            .iter()
            .map(|i| i.latency.quantile(0.99).unwrap_or(0.0))
            .collect();
        let (mt, mp) = (median(tput.clone()), median(p99.clone()));
        mt > 0.0
            && tput.iter().all(|t| (t - mt).abs() <= 0.10 * mt)
            && p99.iter().all(|p| (p - mp).abs() <= 0.25 * mp)
    })
}

/// Seconds from the start of `phase` until its interval p99 is back within `tolerance`
/// (0.10 = 10%) of `reference` (a baseline p99, in seconds); `None` if it never is.
///
/// ```
/// use perf_instrument::load::{recovery_seconds, HistogramRecord, IntervalRecord, PhaseRecord};
/// let interval = |start: f64, index: i32| IntervalRecord { start_seconds: start, seconds: 1.0, completed: 10, dropped: 0, errors: 0,
///     latency: HistogramRecord { count: 10, sum: 1.0, max: None, schema: 3, zero_count: 0, buckets: vec![(index, 10)], unit: "seconds".into() },
///     in_flight: None };
/// let mut p = PhaseRecord::empty("recovery", "constant 100/s", 0.0);
/// p.intervals = vec![interval(0.0, 8), interval(1.0, 0)]; // 2 s, then 1 s
/// assert_eq!(recovery_seconds(&p, 1.0, 0.10), Some(2.0));
/// ```
#[must_use]
pub fn recovery_seconds(phase: &PhaseRecord, reference: f64, tolerance: f64) -> Option<f64> {
    phase
        .intervals
        .iter()
        .find(|i| {
            i.latency
                .quantile(0.99)
                .is_some_and(|p| p <= reference * (1.0 + tolerance))
        })
        .map(|i| i.start_seconds + i.seconds)
}

impl LoadDriver {
    /// Runs the phases of `plan` in order on this driver's pool (its own rate and duration are
    /// not used). The call returns a `Result`; an `Err`'s text is its kind (capped at
    /// [`MAX_ERROR_KINDS`] kinds of [`MAX_ERROR_KIND_BYTES`] per phase). A call belongs to the
    /// phase that planned it, and to the interval of that phase in which it ended (the last one
    /// when it ended after its phase).
    ///
    /// ```
    /// use perf_instrument::load::{LoadDriver, Phase, Plan, Rate};
    /// use std::time::Duration;
    /// let plan = Plan::new(vec![
    ///     Phase::warm_up(200.0, Duration::from_millis(50)),
    ///     Phase::constant("steady", 200.0, Duration::from_millis(100)),
    /// ]).unwrap().with_interval(Duration::from_millis(50)).unwrap();
    /// let r = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
    ///     .run_plan(&plan, |call| if call.index % 2 == 0 { Ok(()) } else { Err("timeout") });
    /// let steady = r.phase("steady").unwrap();
    /// assert_eq!(steady.intervals.len(), 2);
    /// assert!(steady.errors.get("timeout").copied().unwrap_or(0) > 0);
    /// ```
    pub fn run_plan<F, T, E>(&self, plan: &Plan, call: F) -> PlanResult
    where
        F: Fn(Call) -> Result<T, E> + Sync,
        E: fmt::Display,
    {
        self.drive_plan(plan, None, call)
    }

    /// [`run_plan`](Self::run_plan), with live figures registered in `registry`:
    /// `load_offered_rate`, `load_achieved_rate` (calls completed per second over the last
    /// interval), `load_phase`, `load_calls_total{operation, outcome}` (ok, error, dropped),
    /// `load_latency_seconds{operation}`, `load_service_time_seconds{operation}`,
    /// `load_errors_total{kind}`. The operation is the mix's (see [`Plan::with_mix`]), or `call`
    /// without one. Both rates read 0 once the run is over.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] when those names are taken.
    ///
    /// ```
    /// use perf_instrument::load::{LoadDriver, Phase, Plan, Rate};
    /// use perf_instrument::Registry;
    /// use std::time::Duration;
    /// let registry = Registry::new();
    /// let plan = Plan::new(vec![Phase::constant("a", 200.0, Duration::from_millis(50))]).unwrap();
    /// let r = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
    ///     .run_plan_in(&plan, &registry, |_| Ok::<(), String>(())).unwrap();
    /// let snapshot = registry.snapshot();
    /// assert_eq!(snapshot.histogram("load_latency_seconds", &[("operation", "call")]).unwrap().count(), r.phases[0].completed);
    /// ```
    pub fn run_plan_in<F, T, E>(
        &self,
        plan: &Plan,
        registry: &Registry,
        call: F,
    ) -> Result<PlanResult, RegistryError>
    where
        F: Fn(Call) -> Result<T, E> + Sync,
        E: fmt::Display,
    {
        let names = match &plan.mix {
            Some(mix) => mix.names().to_vec(),
            None => vec![SINGLE_OPERATION.to_string()],
        };
        let live = Live::register(registry, &names)?;
        Ok(self.drive_plan(plan, Some((&live, registry)), call))
    }

    fn drive_plan<F, T, E>(
        &self,
        plan: &Plan,
        live_in: Option<(&Live, &Registry)>,
        call: F,
    ) -> PlanResult
    where
        F: Fn(Call) -> Result<T, E> + Sync,
        E: fmt::Display,
    {
        let live = live_in.map(|(l, _)| l);
        let mut verdict_start = None;
        let mut warmed = false;
        let interval = plan.interval;
        let operations = plan.mix.as_ref().map_or(0, |m| m.names().len());
        let states: Vec<PhaseState> = plan
            .phases
            .iter()
            .map(|p| {
                let n = (p.duration.as_secs_f64() / interval.as_secs_f64())
                    .ceil()
                    .max(1.0) as usize;
                PhaseState {
                    latency: Histogram::new(Unit::Seconds),
                    service: Histogram::new(Unit::Seconds),
                    completed: Counter::new(),
                    errors: Mutex::new(BTreeMap::new()),
                    intervals: (0..n).map(|_| IntervalState::new()).collect(),
                    operations: (0..operations).map(|_| OperationState::new()).collect(),
                }
            })
            .collect();
        let mut planned = vec![0u64; states.len()];
        let mut dropped: Vec<Vec<u64>> =
            states.iter().map(|s| vec![0; s.intervals.len()]).collect();
        let mut released = dropped.clone();
        // Calls taken up by a worker and not yet returned.
        let running = AtomicU64::new(0);
        let mut picker = plan.mix.as_ref().map(Mix::picker);
        let done = Counter::new();
        let (tx, rx) = crossbeam_channel::bounded::<Planned>(self.queue);
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..self.threads {
                let (rx, call, states, done, running) =
                    (rx.clone(), &call, &states, &done, &running);
                s.spawn(move || {
                    for planned in rx.iter() {
                        let Planned {
                            index,
                            intended,
                            phase,
                            phase_start,
                            operation,
                        } = planned;
                        let actual = Instant::now();
                        let now_running = running.fetch_add(1, Ordering::Relaxed) + 1;
                        let slot =
                            interval_at(plan, states, actual.saturating_duration_since(started));
                        if let Some((p, k)) = slot {
                            let iv = &states[p].intervals[k];
                            iv.taken.inc();
                            iv.running_peak.fetch_max(now_running, Ordering::Relaxed);
                        }
                        let outcome = call(Call {
                            index,
                            intended,
                            operation,
                        });
                        let end = Instant::now();
                        running.fetch_sub(1, Ordering::Relaxed);
                        let slot =
                            interval_at(plan, states, end.saturating_duration_since(started));
                        if let Some((p, k)) = slot {
                            states[p].intervals[k].returned.inc();
                        }
                        let latency = end.saturating_duration_since(intended);
                        let service = end.saturating_duration_since(actual);
                        let st = &states[phase];
                        let k = ((end.saturating_duration_since(phase_start).as_secs_f64()
                            / interval.as_secs_f64()) as usize)
                            .min(st.intervals.len() - 1);
                        st.latency.record_duration(latency);
                        st.service.record_duration(service);
                        st.completed.inc();
                        st.intervals[k].latency.record_duration(latency);
                        st.intervals[k].completed.inc();
                        let op = st.operations.get(operation);
                        if let Some(op) = op {
                            op.latency.record_duration(latency);
                            op.service.record_duration(service);
                            op.completed.inc();
                        }
                        let live_op = live.and_then(|l| l.operations.get(operation));
                        if let Some(l) = live_op {
                            l.latency.record_duration(latency);
                            l.service.record_duration(service);
                        }
                        match outcome {
                            Ok(v) => {
                                std::hint::black_box(v);
                                if let Some(l) = live_op {
                                    l.ok.inc();
                                }
                            }
                            Err(e) => {
                                st.intervals[k].errors.inc();
                                if let Some(op) = op {
                                    op.errors.inc();
                                }
                                let kind = kind_of(&e.to_string());
                                if let Some(l) = live_op {
                                    l.failed.inc();
                                }
                                if let Some(l) = live {
                                    l.errors.with_label_values(&[&kind]).inc();
                                }
                                let mut map = lock(&st.errors);
                                let key = if map.contains_key(&kind) || map.len() < MAX_ERROR_KINDS
                                {
                                    kind
                                } else {
                                    "other".to_string()
                                };
                                *map.entry(key).or_insert(0) += 1;
                            }
                        }
                        // After the figures: whoever reads `done` reads them too.
                        done.inc();
                    }
                });
            }
            drop(rx);
            let total = plan.duration();
            let (mut t, mut owed) = (0.0f64, 1.0f64);
            let total_s = total.as_secs_f64();
            let mut index = 0u64;
            let (mut mark, mut done_at_mark) = (Instant::now(), 0u64);
            while t < total_s {
                let at_t = Duration::from_secs_f64(t);
                let (phase, phase_offset) = plan.phase_at(at_t);
                let p = &plan.phases[phase];
                let rate = p.shape.at(at_t.saturating_sub(phase_offset), p.duration);
                if let Some(l) = live {
                    l.offered.set(rate.round() as i64);
                    l.phase.set(phase as i64);
                }
                let to_next = if rate > 0.0 {
                    owed / rate
                } else {
                    f64::INFINITY
                };
                if to_next > super::STEP {
                    owed -= rate * super::STEP;
                    t += super::STEP;
                    continue;
                }
                t += to_next;
                owed = 1.0;
                if t >= total_s {
                    break;
                }
                let at = started + Duration::from_secs_f64(t);
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                if let Some(l) = live {
                    // The achieved rate over the interval that just ended.
                    let now = Instant::now();
                    let seconds = now.saturating_duration_since(mark).as_secs_f64();
                    if seconds >= interval.as_secs_f64() {
                        let count = done.get();
                        l.achieved
                            .set(((count - done_at_mark) as f64 / seconds).round() as i64);
                        (mark, done_at_mark) = (now, count);
                    }
                }
                let (phase, phase_offset) = plan.phase_at(Duration::from_secs_f64(t));
                if !plan.phases[phase].in_verdict {
                    warmed = true;
                } else if warmed && verdict_start.is_none() {
                    verdict_start = live_in.map(|(_, registry)| registry.snapshot());
                }
                planned[phase] += 1;
                let operation = picker.as_mut().map_or(0, Picker::next);
                let planned_call = Planned {
                    index,
                    intended: at,
                    phase,
                    phase_start: started + phase_offset,
                    operation,
                };
                let k = ((Duration::from_secs_f64(t) - phase_offset).as_secs_f64()
                    / interval.as_secs_f64()) as usize;
                let k = k.min(dropped[phase].len() - 1);
                if tx.try_send(planned_call).is_ok() {
                    released[phase][k] += 1;
                } else {
                    dropped[phase][k] += 1;
                    if let Some(l) = live.and_then(|l| l.operations.get(operation)) {
                        l.dropped.inc();
                    }
                }
                index += 1;
            }
            drop(tx);
        });
        if let Some(l) = live {
            // The run is over: nothing is offered or achieved any more.
            l.offered.set(0);
            l.achieved.set(0);
        }
        let in_flight = in_flight_levels(&states, &released);
        let mut start = 0.0;
        let phases = plan
            .phases
            .iter()
            .zip(&states)
            .enumerate()
            .map(|(i, (p, st))| {
                let mut rec = PhaseRecord::empty(&p.name, &p.shape.to_string(), start);
                rec.in_verdict = p.in_verdict;
                rec.seconds = p.duration.as_secs_f64();
                rec.planned = planned[i];
                rec.completed = st.completed.get();
                rec.dropped = dropped[i].iter().sum();
                rec.errors = lock(&st.errors).clone();
                rec.latency = HistogramRecord::from_snapshot(&st.latency.snapshot());
                rec.service_time = HistogramRecord::from_snapshot(&st.service.snapshot());
                let len = interval.as_secs_f64();
                rec.intervals = st
                    .intervals
                    .iter()
                    .enumerate()
                    .map(|(k, iv)| {
                        let s0 = k as f64 * len;
                        IntervalRecord {
                            start_seconds: s0,
                            seconds: len.min(rec.seconds - s0).max(0.0),
                            completed: iv.completed.get(),
                            dropped: dropped[i][k],
                            errors: iv.errors.get(),
                            latency: HistogramRecord::from_snapshot(&iv.latency.snapshot()),
                            in_flight: Some(in_flight[i][k]),
                        }
                    })
                    .collect();
                rec.steady_from = steady_from(&rec.intervals);
                if let Some(mix) = &plan.mix {
                    rec.operations = mix
                        .names()
                        .iter()
                        .zip(&st.operations)
                        .map(|(name, op)| (name.clone(), op.record()))
                        .collect();
                }
                start += rec.seconds;
                rec
            })
            .collect();
        PlanResult {
            phases,
            elapsed: started.elapsed(),
            verdict_start,
        }
    }
}
