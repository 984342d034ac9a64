//! Phases of a load plan and their rate shapes.

use std::fmt;
use std::time::Duration;

/// How the rate evolves within one phase.
///
/// ```
/// use perf_instrument::load::Shape;
/// use std::time::Duration;
/// let steps = Shape::Steps { from: 100.0, to: 400.0, steps: 4 };
/// let d = Duration::from_secs(4);
/// assert_eq!(steps.at(Duration::from_millis(500), d), 100.0);
/// assert_eq!(steps.at(Duration::from_millis(3500), d), 400.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// The same rate throughout.
    Constant {
        /// Calls per second.
        per_second: f64,
    },
    /// Linearly from one rate to another over the phase.
    Ramp {
        /// Calls per second at the start.
        from: f64,
        /// Calls per second at the end.
        to: f64,
    },
    /// A step ramp: `steps` equal holds from `from` to `to` (evenly spaced rates).
    Steps {
        /// Rate of the first hold.
        from: f64,
        /// Rate of the last hold.
        to: f64,
        /// Number of holds (at least 1).
        steps: u32,
    },
}

impl Shape {
    /// The rate at `elapsed` into a phase of `length`.
    ///
    /// ```
    /// use perf_instrument::load::Shape;
    /// use std::time::Duration;
    /// let r = Shape::Ramp { from: 0.0, to: 10.0 };
    /// assert_eq!(r.at(Duration::from_secs(1), Duration::from_secs(2)), 5.0);
    /// ```
    #[must_use]
    pub fn at(&self, elapsed: Duration, length: Duration) -> f64 {
        let f = (elapsed.as_secs_f64() / length.as_secs_f64().max(1e-9)).clamp(0.0, 1.0);
        let r = match *self {
            Shape::Constant { per_second } => per_second,
            Shape::Ramp { from, to } => from + (to - from) * f,
            Shape::Steps { from, to, steps } => {
                let steps = steps.max(1);
                let k = ((f * f64::from(steps)) as u32).min(steps - 1);
                if steps == 1 {
                    from
                } else {
                    from + (to - from) * f64::from(k) / f64::from(steps - 1)
                }
            }
        };
        if r.is_finite() {
            r.max(0.0)
        } else {
            0.0
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Constant { per_second } => write!(f, "constant {per_second}/s"),
            Shape::Ramp { from, to } => write!(f, "ramp {from}/s..{to}/s"),
            Shape::Steps { from, to, steps } => write!(f, "{steps} steps {from}/s..{to}/s"),
        }
    }
}

/// One named phase of a plan.
///
/// ```
/// use perf_instrument::load::Phase;
/// use std::time::Duration;
/// let w = Phase::warm_up(100.0, Duration::from_secs(2));
/// assert!(!w.in_verdict);
/// assert!(Phase::burst(2_000.0, Duration::from_secs(1)).in_verdict);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// Its name (`warm-up`, `baseline`, `burst`, `recovery`, ...).
    pub name: String,
    /// Its rate shape.
    pub shape: Shape,
    /// How long it lasts.
    pub duration: Duration,
    /// Whether comparisons use it (not for warm-up).
    pub in_verdict: bool,
}

impl Phase {
    /// A phase named `name`.
    ///
    /// ```
    /// use perf_instrument::load::{Phase, Shape};
    /// let p = Phase::new("hold", Shape::Constant { per_second: 5.0 }, std::time::Duration::from_secs(1));
    /// assert_eq!(p.name, "hold");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, shape: Shape, duration: Duration) -> Self {
        Self {
            name: name.into(),
            shape,
            duration,
            in_verdict: true,
        }
    }

    /// `warm-up`: measured, but left out of the verdict.
    ///
    /// ```
    /// let p = perf_instrument::load::Phase::warm_up(10.0, std::time::Duration::from_secs(1));
    /// assert_eq!(p.name, "warm-up");
    /// ```
    #[must_use]
    pub fn warm_up(per_second: f64, duration: Duration) -> Self {
        Self {
            in_verdict: false,
            ..Self::constant("warm-up", per_second, duration)
        }
    }

    /// A constant rate.
    ///
    /// ```
    /// let p = perf_instrument::load::Phase::constant("baseline", 10.0, std::time::Duration::from_secs(1));
    /// assert_eq!(p.shape.to_string(), "constant 10/s");
    /// ```
    #[must_use]
    pub fn constant(name: impl Into<String>, per_second: f64, duration: Duration) -> Self {
        Self::new(name, Shape::Constant { per_second }, duration)
    }

    /// `burst`: a spike at a constant rate.
    ///
    /// ```
    /// let p = perf_instrument::load::Phase::burst(1_000.0, std::time::Duration::from_secs(1));
    /// assert_eq!(p.name, "burst");
    /// ```
    #[must_use]
    pub fn burst(per_second: f64, duration: Duration) -> Self {
        Self::constant("burst", per_second, duration)
    }

    /// `recovery`: back at the baseline rate after a burst.
    ///
    /// ```
    /// let p = perf_instrument::load::Phase::recovery(100.0, std::time::Duration::from_secs(1));
    /// assert_eq!(p.name, "recovery");
    /// ```
    #[must_use]
    pub fn recovery(per_second: f64, duration: Duration) -> Self {
        Self::constant("recovery", per_second, duration)
    }

    /// `ramp`: linearly from `from` to `to`.
    ///
    /// ```
    /// let p = perf_instrument::load::Phase::ramp(1.0, 9.0, std::time::Duration::from_secs(1));
    /// assert_eq!(p.name, "ramp");
    /// ```
    #[must_use]
    pub fn ramp(from: f64, to: f64, duration: Duration) -> Self {
        Self::new("ramp", Shape::Ramp { from, to }, duration)
    }

    /// `steps`: a step ramp of `steps` equal holds.
    ///
    /// ```
    /// let p = perf_instrument::load::Phase::steps(100.0, 400.0, 4, std::time::Duration::from_secs(4));
    /// assert_eq!(p.name, "steps");
    /// ```
    #[must_use]
    pub fn steps(from: f64, to: f64, steps: u32, duration: Duration) -> Self {
        Self::new("steps", Shape::Steps { from, to, steps }, duration)
    }
}

/// Why a plan cannot run.
///
/// ```
/// use perf_instrument::load::{Phase, Plan, PlanError};
/// let err = Plan::new(vec![Phase::constant("a", 10.0, std::time::Duration::ZERO)]).unwrap_err();
/// assert!(matches!(err, PlanError::ZeroLength { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No phase.
    #[error("the plan has no phase; give at least one")]
    Empty,
    /// A phase of length zero.
    #[error("phase `{name}` has zero length; every phase must last")]
    ZeroLength {
        /// The phase.
        name: String,
    },
    /// An interval of length zero.
    #[error("the interval must be longer than zero")]
    ZeroInterval,
    /// A mix without operations.
    #[error("the operation mix is empty; give at least one operation")]
    EmptyMix,
    /// More operations than [`MAX_OPERATIONS`].
    #[error("the operation mix has {count} operations; at most {MAX_OPERATIONS} are kept")]
    TooManyOperations {
        /// How many were given.
        count: usize,
    },
    /// An operation of weight zero, or with an empty name.
    #[error("operation `{name}` needs a name and a weight above zero")]
    BadOperation {
        /// The operation.
        name: String,
    },
    /// The same operation twice.
    #[error("operation `{name}` appears twice in the mix")]
    DuplicateOperation {
        /// The operation.
        name: String,
    },
}

/// Most operations a [`Mix`] holds.
///
/// ```
/// assert_eq!(perf_instrument::load::MAX_OPERATIONS, 32);
/// ```
pub const MAX_OPERATIONS: usize = 32;

/// A weighted mix of named operations (for example reads 60, writes 25, scans 15): each planned
/// call is given one, in exact proportion to the weights (smooth weighted round robin, so every
/// run of `sum of weights` consecutive calls holds each operation exactly its weight times, spread
/// evenly), and the driver keeps latency, service time, throughput and errors per operation.
///
/// ```
/// use perf_instrument::load::Mix;
/// let mix = Mix::new([("read", 60), ("write", 25), ("scan", 15)]).unwrap();
/// assert_eq!(mix.names(), ["read", "write", "scan"]);
/// assert!(Mix::new([("read", 0)]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    names: Vec<String>,
    weights: Vec<u32>,
}

impl Mix {
    /// A mix of `(name, weight)` pairs.
    ///
    /// # Errors
    ///
    /// [`PlanError`]: no operation, more than [`MAX_OPERATIONS`], an empty name, a zero weight,
    /// or a name given twice.
    ///
    /// ```
    /// use perf_instrument::load::{Mix, PlanError};
    /// assert_eq!(Mix::new([("a", 1), ("a", 2)]), Err(PlanError::DuplicateOperation { name: "a".into() }));
    /// ```
    pub fn new<I, S>(operations: I) -> Result<Self, PlanError>
    where
        I: IntoIterator<Item = (S, u32)>,
        S: Into<String>,
    {
        let (mut names, mut weights) = (Vec::new(), Vec::new());
        for (name, weight) in operations {
            let name = name.into();
            if name.is_empty() || weight == 0 {
                return Err(PlanError::BadOperation { name });
            }
            if names.contains(&name) {
                return Err(PlanError::DuplicateOperation { name });
            }
            names.push(name);
            weights.push(weight);
            if names.len() > MAX_OPERATIONS {
                return Err(PlanError::TooManyOperations { count: names.len() });
            }
        }
        if names.is_empty() {
            return Err(PlanError::EmptyMix);
        }
        Ok(Self { names, weights })
    }

    /// The operations' names, in the order given ([`Call::operation`](super::Call::operation)
    /// indexes this).
    ///
    /// ```
    /// let mix = perf_instrument::load::Mix::new([("get", 3), ("put", 1)]).unwrap();
    /// assert_eq!(mix.names()[1], "put");
    /// ```
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The weights, in the same order.
    ///
    /// ```
    /// let mix = perf_instrument::load::Mix::new([("get", 3), ("put", 1)]).unwrap();
    /// assert_eq!(mix.weights(), [3, 1]);
    /// ```
    #[must_use]
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// The picker of operations for a run.
    pub(crate) fn picker(&self) -> Picker {
        Picker {
            weights: self.weights.iter().map(|&w| i64::from(w)).collect(),
            current: vec![0; self.weights.len()],
            total: self.weights.iter().map(|&w| i64::from(w)).sum(),
        }
    }
}

/// Smooth weighted round robin: each pick raises every operation by its weight, takes the
/// highest and lowers it by the total.
#[derive(Debug)]
pub(crate) struct Picker {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl Picker {
    pub(crate) fn next(&mut self) -> usize {
        for (c, w) in self.current.iter_mut().zip(&self.weights) {
            *c += w;
        }
        // The highest, the first of equals.
        let best = (0..self.current.len())
            .max_by_key(|&i| (self.current[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        self.current[best] -= self.total;
        best
    }
}

/// A sequence of phases, measured per fixed interval (default 1 s).
///
/// ```
/// use perf_instrument::load::{Phase, Plan};
/// use std::time::Duration;
/// let plan = Plan::new(vec![
///     Phase::warm_up(100.0, Duration::from_secs(1)),
///     Phase::constant("baseline", 100.0, Duration::from_secs(3)),
///     Phase::burst(1_000.0, Duration::from_secs(1)),
///     Phase::recovery(100.0, Duration::from_secs(3)),
/// ]).unwrap();
/// assert_eq!(plan.duration(), Duration::from_secs(8));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub(crate) phases: Vec<Phase>,
    pub(crate) interval: Duration,
    pub(crate) mix: Option<Mix>,
}

impl Plan {
    /// A plan of `phases`, with one-second intervals.
    ///
    /// # Errors
    ///
    /// [`PlanError`]: no phase, or a phase of zero length.
    ///
    /// ```
    /// assert!(perf_instrument::load::Plan::new(vec![]).is_err());
    /// ```
    pub fn new(phases: Vec<Phase>) -> Result<Self, PlanError> {
        if phases.is_empty() {
            return Err(PlanError::Empty);
        }
        if let Some(p) = phases.iter().find(|p| p.duration.is_zero()) {
            return Err(PlanError::ZeroLength {
                name: p.name.clone(),
            });
        }
        Ok(Self {
            phases,
            interval: Duration::from_secs(1),
            mix: None,
        })
    }

    /// Sets the measuring interval.
    ///
    /// # Errors
    ///
    /// [`PlanError::ZeroInterval`].
    ///
    /// ```
    /// use perf_instrument::load::{Phase, Plan};
    /// use std::time::Duration;
    /// let plan = Plan::new(vec![Phase::constant("a", 1.0, Duration::from_secs(1))]).unwrap();
    /// assert!(plan.with_interval(Duration::from_millis(100)).is_ok());
    /// ```
    pub fn with_interval(mut self, interval: Duration) -> Result<Self, PlanError> {
        if interval.is_zero() {
            return Err(PlanError::ZeroInterval);
        }
        self.interval = interval;
        Ok(self)
    }

    /// Gives every call one operation of `mix`, and keeps figures per operation.
    ///
    /// ```
    /// use perf_instrument::load::{Mix, Phase, Plan};
    /// use std::time::Duration;
    /// let mix = Mix::new([("read", 60), ("write", 25), ("scan", 15)]).unwrap();
    /// let plan = Plan::new(vec![Phase::constant("a", 1.0, Duration::from_secs(1))]).unwrap().with_mix(mix);
    /// assert_eq!(plan.mix().unwrap().names().len(), 3);
    /// ```
    #[must_use]
    pub fn with_mix(mut self, mix: Mix) -> Self {
        self.mix = Some(mix);
        self
    }

    /// The operation mix, if any.
    ///
    /// ```
    /// use perf_instrument::load::{Phase, Plan};
    /// let plan = Plan::new(vec![Phase::constant("a", 1.0, std::time::Duration::from_secs(1))]).unwrap();
    /// assert!(plan.mix().is_none());
    /// ```
    #[must_use]
    pub fn mix(&self) -> Option<&Mix> {
        self.mix.as_ref()
    }

    /// The phases.
    ///
    /// ```
    /// use perf_instrument::load::{Phase, Plan};
    /// let plan = Plan::new(vec![Phase::constant("a", 1.0, std::time::Duration::from_secs(1))]).unwrap();
    /// assert_eq!(plan.phases().len(), 1);
    /// ```
    #[must_use]
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The whole plan's length.
    ///
    /// ```
    /// use perf_instrument::load::{Phase, Plan};
    /// let plan = Plan::new(vec![Phase::constant("a", 1.0, std::time::Duration::from_secs(2))]).unwrap();
    /// assert_eq!(plan.duration().as_secs(), 2);
    /// ```
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// The phase at `t` into the plan, and when it started.
    pub(crate) fn phase_at(&self, t: Duration) -> (usize, Duration) {
        let mut start = Duration::ZERO;
        for (i, p) in self.phases.iter().enumerate() {
            if t < start + p.duration {
                return (i, start);
            }
            start += p.duration;
        }
        let last = self.phases.len() - 1;
        (last, start - self.phases[last].duration)
    }
}
