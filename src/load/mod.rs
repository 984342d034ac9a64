//! An open-loop load driver (feature `load`): calls a closure at a planned arrival rate on a
//! bounded pool of threads, and measures latency from each call's *intended* start, so a
//! stalled service shows its true latency (coordinated omission corrected, as wrk2 and k6's
//! constant-arrival-rate do).
//!
//! A dispatcher thread releases call `k` at its planned time `t_k` into a bounded queue that
//! `threads` workers take from. When the service stalls, planned calls wait in the queue and
//! their latency, `end - t_k`, includes the wait; when the queue is full, the call is dropped and
//! counted (the pool is saturated). The service time, `end - actual start`, is kept apart: it is
//! what a closed-loop driver would have reported.
//!
//! Pacing is a token bucket of depth one: tokens accrue at the planned rate (integrated over
//! steps of at most a millisecond, so ramps and bursts change it smoothly), and a call is
//! released when a whole token has accrued. Calls are spread evenly within a burst rather
//! than released at once, and time the pool spends saturated is never made up afterwards.
//!
//! Each call receives a [`Call`]: its number and its intended start, so the service can date
//! its own measurements from the intended start too (see `Pipeline::begin_at`).
//!
//! Beyond one constant run: [`LoadDriver::run_plan`] runs a [`Plan`] of named phases (warm-up,
//! constant, ramp, step ramp, burst, recovery) and keeps per-phase and per-interval figures;
//! [`LoadDriver::sweep`] finds the knee; a [`RunRecord`] saves a run as versioned JSON
//! (`docs/RUN_RECORD.md`), and [`compare`] judges candidate runs against baseline runs
//! (`docs/VERDICT.md`), which the `perf-instrument compare` command turns into a CI gate.

mod compare;
mod driver;
mod gate;
mod plan;
mod record;
mod sweep;

pub use compare::{
    compare, compare_with, CompareError, CompareOptions, ComparedRow, Comparison, Figures,
    Judgement, Statistic,
};
pub use driver::{recovery_seconds, PlanResult, MAX_ERROR_KINDS, MAX_ERROR_KIND_BYTES};
pub use gate::{Gate, GateFailure};
pub use plan::{Mix, Phase, Plan, PlanError, Shape, MAX_OPERATIONS};
pub use record::{
    HistogramRecord, InFlightRecord, IntervalRecord, OperationRecord, PhaseRecord, RecordError,
    RowRecord, RunRecord, RECORD_FORMAT, SCHEMA_VERSION,
};
pub use sweep::{Sweep, SweepStep};

use crate::recorder::{Counter, Histogram, HistogramSnapshot, Unit};
use std::fmt;
use std::time::{Duration, Instant};

/// Longest stretch over which the dispatcher takes the rate as constant, in seconds.
const STEP: f64 = 0.001;

/// Longest sleep between two checks of the stop condition.
const STOP_POLL: Duration = Duration::from_millis(10);

/// One planned call, as the driver hands it to the closure.
///
/// ```
/// use perf_instrument::load::{Call, LoadDriver, Rate};
/// use std::time::{Duration, Instant};
/// let r = LoadDriver::new(Rate::Constant { per_second: 100.0 }, Duration::from_millis(50))
///     .run(|call: Call| {
///         assert!(call.intended <= Instant::now());
///         call.index
///     });
/// assert!(r.planned >= 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The call's number, from 0 in planned order.
    pub index: u64,
    /// When the plan wanted it to start; latency is measured from here.
    pub intended: Instant,
    /// Index of the call's operation in the plan's [`Mix`] (0 without one).
    pub operation: usize,
}

/// How the arrival rate evolves over the run.
///
/// ```
/// use perf_instrument::load::Rate;
/// use std::time::Duration;
/// let steady = Rate::Constant { per_second: 500.0 };
/// let ramp = Rate::Ramp { from: 100.0, to: 1_000.0 };
/// let burst = Rate::Burst {
///     baseline: 200.0,
///     burst: 2_000.0,
///     start: Duration::from_secs(5),
///     length: Duration::from_secs(2),
/// };
/// assert_eq!(steady.at(Duration::from_secs(3), Duration::from_secs(10)), 500.0);
/// assert_eq!(ramp.at(Duration::from_secs(5), Duration::from_secs(10)), 550.0);
/// assert_eq!(burst.at(Duration::from_secs(6), Duration::from_secs(10)), 2_000.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// The same rate throughout.
    Constant {
        /// Calls per second.
        per_second: f64,
    },
    /// Linearly from one rate to another over the run.
    Ramp {
        /// Calls per second at the start.
        from: f64,
        /// Calls per second at the end.
        to: f64,
    },
    /// A baseline, a burst for a while, then the baseline again (recovery).
    Burst {
        /// Calls per second outside the burst.
        baseline: f64,
        /// Calls per second during the burst.
        burst: f64,
        /// When the burst starts, from the beginning of the run.
        start: Duration,
        /// How long the burst lasts.
        length: Duration,
    },
}

impl Rate {
    /// The rate (calls per second) at `elapsed` into a run of `total`.
    ///
    /// ```
    /// use perf_instrument::load::Rate;
    /// use std::time::Duration;
    /// let r = Rate::Ramp { from: 0.0, to: 10.0 };
    /// assert_eq!(r.at(Duration::ZERO, Duration::from_secs(1)), 0.0);
    /// ```
    #[must_use]
    pub fn at(&self, elapsed: Duration, total: Duration) -> f64 {
        match *self {
            Rate::Constant { per_second } => per_second,
            Rate::Ramp { from, to } => {
                let f = (elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9)).clamp(0.0, 1.0);
                from + (to - from) * f
            }
            Rate::Burst {
                baseline,
                burst,
                start,
                length,
            } => {
                if elapsed >= start && elapsed < start + length {
                    burst
                } else {
                    baseline
                }
            }
        }
        .max(0.0)
    }
}

/// Why a run failed a [`LoadResult::min_throughput`] check.
///
/// ```
/// use perf_instrument::load::{LoadDriver, Rate};
/// use std::time::Duration;
/// let result = LoadDriver::new(Rate::Constant { per_second: 50.0 }, Duration::from_millis(100)).run(|_| ());
/// let err = result.min_throughput(1e9).unwrap_err();
/// assert!(err.to_string().contains("below"));
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "throughput {achieved:.1}/s is below the required {required:.1}/s \
     ({completed} calls completed, {dropped} dropped); the service or the pool is too slow"
)]
pub struct ThroughputError {
    /// Completed calls per second.
    pub achieved: f64,
    /// What was required.
    pub required: f64,
    /// Calls completed.
    pub completed: u64,
    /// Calls dropped because the pool was saturated.
    pub dropped: u64,
}

/// Configures and runs an open-loop load.
///
/// ```
/// use perf_instrument::load::{LoadDriver, Rate};
/// use std::time::Duration;
///
/// let result = LoadDriver::new(Rate::Constant { per_second: 200.0 }, Duration::from_millis(200))
///     .threads(2)
///     .run(|_call| std::thread::sleep(Duration::from_micros(100)));
/// assert_eq!(result.completed + result.dropped, result.planned);
/// assert!(result.latency.count() > 0);
/// ```
#[derive(Clone, Debug)]
pub struct LoadDriver {
    rate: Rate,
    duration: Duration,
    threads: usize,
    queue: usize,
}

/// What a run measured.
///
/// ```
/// use perf_instrument::load::{LoadDriver, Rate};
/// let r = LoadDriver::new(Rate::Constant { per_second: 100.0 }, std::time::Duration::from_millis(50)).run(|_| ());
/// println!("{r}");
/// ```
#[derive(Clone, Debug)]
pub struct LoadResult {
    /// Calls planned by the rate over the run.
    pub planned: u64,
    /// Calls made and finished.
    pub completed: u64,
    /// Calls dropped because the queue in front of the pool was full.
    pub dropped: u64,
    /// Latency from each call's intended start to its end (coordinated omission corrected).
    pub latency: HistogramSnapshot,
    /// Time from each call's actual start to its end (what a closed-loop driver reports).
    pub service_time: HistogramSnapshot,
    /// How long the run took.
    pub elapsed: Duration,
}

impl LoadResult {
    /// Completed calls per second.
    ///
    /// ```
    /// # use perf_instrument::load::{LoadDriver, Rate};
    /// let r = LoadDriver::new(Rate::Constant { per_second: 100.0 }, std::time::Duration::from_millis(50)).run(|_| ());
    /// assert!(r.throughput() >= 0.0);
    /// ```
    #[must_use]
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A gate for CI: an error if fewer than `per_second` calls per second completed.
    ///
    /// # Errors
    ///
    /// [`ThroughputError`] with the figures.
    ///
    /// ```
    /// # use perf_instrument::load::{LoadDriver, Rate};
    /// let r = LoadDriver::new(Rate::Constant { per_second: 100.0 }, std::time::Duration::from_millis(100)).run(|_| ());
    /// assert!(r.min_throughput(10.0).is_ok());
    /// ```
    pub fn min_throughput(&self, per_second: f64) -> Result<(), ThroughputError> {
        let achieved = self.throughput();
        if achieved >= per_second {
            Ok(())
        } else {
            Err(ThroughputError {
                achieved,
                required: per_second,
                completed: self.completed,
                dropped: self.dropped,
            })
        }
    }
}

impl fmt::Display for LoadResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |s: &HistogramSnapshot, q: f64| s.quantile(q).map_or(f64::NAN, |v| v * 1e3);
        write!(
            f,
            "{} planned, {} completed, {} dropped in {:.2?} ({:.1}/s); latency p50 {:.3} ms p99 {:.3} ms (service time p99 {:.3} ms)",
            self.planned,
            self.completed,
            self.dropped,
            self.elapsed,
            self.throughput(),
            ms(&self.latency, 0.5),
            ms(&self.latency, 0.99),
            ms(&self.service_time, 0.99),
        )
    }
}

impl LoadDriver {
    /// A run at `rate` for `duration`, on one worker with a queue of 10,000 planned calls.
    ///
    /// ```
    /// use perf_instrument::load::{LoadDriver, Rate};
    /// let d = LoadDriver::new(Rate::Constant { per_second: 10.0 }, std::time::Duration::from_secs(1));
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn new(rate: Rate, duration: Duration) -> Self {
        Self {
            rate,
            duration,
            threads: 1,
            queue: 10_000,
        }
    }

    /// Worker threads calling the closure (at least 1).
    ///
    /// ```
    /// # use perf_instrument::load::{LoadDriver, Rate};
    /// let d = LoadDriver::new(Rate::Constant { per_second: 10.0 }, std::time::Duration::from_secs(1)).threads(4);
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Planned calls that may wait for a free worker; beyond, calls are dropped and counted.
    ///
    /// ```
    /// # use perf_instrument::load::{LoadDriver, Rate};
    /// let d = LoadDriver::new(Rate::Constant { per_second: 10.0 }, std::time::Duration::from_secs(1)).queue(100);
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue.max(1);
        self
    }

    /// Runs until `stop()` returns true or the duration ends (checked every millisecond of the
    /// plan, and at least every 10 ms while waiting for the next call): for runs ended from
    /// outside, such as by Ctrl-C.
    ///
    /// ```
    /// # use perf_instrument::load::{LoadDriver, Rate};
    /// let r = LoadDriver::new(Rate::Constant { per_second: 100.0 }, std::time::Duration::from_secs(3600))
    ///     .run_until(|| true, |_| ());
    /// assert_eq!(r.planned, 0);
    /// ```
    pub fn run_until<F, R>(&self, stop: impl Fn() -> bool, call: F) -> LoadResult
    where
        F: Fn(Call) -> R + Sync,
    {
        self.drive(&stop, call)
    }

    /// Runs `call` for every planned [`Call`] and returns the measurements.
    ///
    /// ```
    /// # use perf_instrument::load::{LoadDriver, Rate};
    /// let r = LoadDriver::new(Rate::Constant { per_second: 100.0 }, std::time::Duration::from_millis(50)).run(|call| call.index * 2);
    /// assert!(r.planned >= 4);
    /// ```
    pub fn run<F, R>(&self, call: F) -> LoadResult
    where
        F: Fn(Call) -> R + Sync,
    {
        self.drive(&|| false, call)
    }

    fn drive<F, R>(&self, stop: &dyn Fn() -> bool, call: F) -> LoadResult
    where
        F: Fn(Call) -> R + Sync,
    {
        let latency = Histogram::new(Unit::Seconds);
        let service = Histogram::new(Unit::Seconds);
        let completed = Counter::new();
        let (tx, rx) = crossbeam_channel::bounded::<(u64, Instant)>(self.queue);
        let started = Instant::now();
        let mut planned = 0u64;
        let mut dropped = 0u64;
        std::thread::scope(|s| {
            for _ in 0..self.threads {
                let (rx, call, latency, service, completed) =
                    (rx.clone(), &call, &latency, &service, &completed);
                s.spawn(move || {
                    for (index, intended) in rx.iter() {
                        let actual = Instant::now();
                        std::hint::black_box(call(Call {
                            index,
                            intended,
                            operation: 0,
                        }));
                        let end = Instant::now();
                        latency.record_duration(end.saturating_duration_since(intended));
                        service.record_duration(end.saturating_duration_since(actual));
                        completed.inc();
                    }
                });
            }
            drop(rx);
            // The dispatcher: plan each call's time by integrating the rate (taken as constant
            // over steps of at most a millisecond), and release the call then.
            let total = self.duration.as_secs_f64();
            let mut t = 0.0f64;
            let mut owed = 1.0f64; // calls still to accumulate before the next one is due
            let mut checked = -1.0f64;
            'plan: while t < total {
                if t - checked >= STEP {
                    if stop() {
                        break;
                    }
                    checked = t;
                }
                let rate = self.rate.at(Duration::from_secs_f64(t), self.duration);
                let to_next = if rate > 0.0 {
                    owed / rate
                } else {
                    f64::INFINITY
                };
                if to_next > STEP {
                    owed -= rate * STEP;
                    t += STEP;
                    continue;
                }
                t += to_next;
                owed = 1.0;
                if t >= total {
                    break;
                }
                let at = started + Duration::from_secs_f64(t);
                loop {
                    let now = Instant::now();
                    if at <= now {
                        break;
                    }
                    std::thread::sleep((at - now).min(STOP_POLL));
                    if stop() {
                        break 'plan;
                    }
                }
                if tx.try_send((planned, at)).is_err() {
                    dropped += 1;
                }
                planned += 1;
            }
            drop(tx);
        });
        LoadResult {
            planned,
            completed: completed.get(),
            dropped,
            latency: latency.snapshot(),
            service_time: service.snapshot(),
            elapsed: started.elapsed(),
        }
    }
}
