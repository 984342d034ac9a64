//! The runtime of `#[timed]`: a `Site` per call site (a `static` in the expansion), resolved
//! against `Registry::global()` on its first call, and the `Call` that times one call.
//!
//! Everything here is reached through `perf_instrument::__private` and is not a stable API:
//! only the macro's expansion should name it.

use super::errors;
use crate::clock::{self, Clock};
use crate::instrument::families::pipeline::STAGE_DURATION;
use crate::recorder::{Counter, Gauge, Histogram, Unit};
use crate::registry::{Buckets, Family, Registry, RegistryError, Series, StageTimer};
use crate::sync::OnceLock;
use families::{CALLS, DURATION, IN_FLIGHT};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;

/// The families `#[timed]` registers in `Registry::global()` (with `pipeline` and `stage`, it
/// records into the `Pipeline` family `pipeline_stage_duration_seconds` instead of
/// `function_duration_seconds`). `labels(...)` adds label names after `function, module`.
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Durations of every call.
    pub(crate) const DURATION: FamilyDef = FamilyDef::histogram(
        "function_duration_seconds",
        "Duration of calls of #[timed] functions (async: from the first poll to completion), \
         every outcome.",
    )
    .unit(Unit::Seconds)
    .labels(&["function", "module"])
    .caller_labels()
    .table(TableSpec::new("functions", "{module}::{function}").with_rank(600));
    /// Calls by outcome (`outcome` after the caller's labels).
    pub(crate) const CALLS: FamilyDef =
        FamilyDef::counter("function_calls", "Calls of #[timed] functions, by outcome.")
            .labels(&["function", "module", "outcome"])
            .caller_labels()
            .not_tabled("a counter");
    /// Calls running now (`in_flight`).
    pub(crate) const IN_FLIGHT: FamilyDef = FamilyDef::gauge(
        "function_calls_in_flight",
        "Calls of #[timed] functions running now.",
    )
    .labels(&["function", "module"])
    .caller_labels()
    .not_tabled("a gauge");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[&DURATION, &CALLS, &IN_FLIGHT];
}

/// How a timed call ended: the `outcome` label of `function_calls_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Returned (for a `Result`, an `Ok`).
    Ok,
    /// Returned an `Err`, or a value the `error_if` predicate judged an error.
    Error,
    /// A future dropped before it completed.
    Cancelled,
    /// Panicked.
    Panicked,
}

impl Outcome {
    /// `Error` if `is_error`, `Ok` otherwise (what `error_if` expands to).
    #[inline(always)]
    #[must_use]
    pub fn error_if(is_error: bool) -> Self {
        if is_error {
            Outcome::Error
        } else {
            Outcome::Ok
        }
    }

    /// The label value: `ok`, `error`, `cancelled` or `panicked`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
            Outcome::Panicked => "panicked",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The outcome of a `Result` output: picked by method resolution before [`OutcomeOfAny`], whose
/// receiver needs one more reference.
pub trait OutcomeOfResult {
    /// `Error` for `Err`, `Ok` for `Ok`.
    fn __perf_instrument_outcome(&self) -> Outcome;
}

impl<T, E> OutcomeOfResult for Result<T, E> {
    #[inline(always)]
    fn __perf_instrument_outcome(&self) -> Outcome {
        Outcome::error_if(self.is_err())
    }
}

/// The outcome of any other output: `Ok`.
pub trait OutcomeOfAny {
    /// Always `Ok`.
    fn __perf_instrument_outcome(&self) -> Outcome;
}

impl<T: ?Sized> OutcomeOfAny for &T {
    #[inline(always)]
    fn __perf_instrument_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// The outcome `error_if = predicate` gives `output`.
#[inline(always)]
pub fn judge<T: ?Sized>(output: &T, predicate: impl FnOnce(&T) -> bool) -> Outcome {
    Outcome::error_if(predicate(output))
}

/// Calls `body` (a closure holding a timed function's body, so that `return` and `?` end the
/// body rather than the timing). Taking `FnOnce` fixes the closure's kind, so a body may return
/// borrows of what it captured, such as a field of `&mut self`.
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

/// Returns `future` unchanged; naming `T` tells the compiler the output type of an `async`
/// block, so `?` inside it infers.
#[inline(always)]
pub fn typed_future<T, F: Future<Output = T>>(future: F) -> F {
    future
}

/// What one `#[timed]` call site asks for. Built in a `const` context by the expansion.
#[derive(Clone, Copy, Debug)]
pub struct SiteConfig {
    function: &'static str,
    module: &'static str,
    labels: &'static [(&'static str, &'static str)],
    buckets: Option<&'static [f64]>,
    stage: Option<(&'static str, &'static str)>,
    in_flight: bool,
    asynchronous: bool,
    fallible: bool,
    registry: Option<fn() -> &'static Registry>,
}

impl SiteConfig {
    /// A site of `function` in `module`.
    #[must_use]
    pub const fn new(function: &'static str, module: &'static str) -> Self {
        Self {
            function,
            module,
            labels: &[],
            buckets: None,
            stage: None,
            in_flight: false,
            asynchronous: false,
            fallible: false,
            registry: None,
        }
    }

    /// Register in the registry `registry` returns instead of `Registry::global()`.
    #[must_use]
    pub const fn registry(mut self, registry: fn() -> &'static Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Constant labels added to the families.
    #[must_use]
    pub const fn labels(mut self, labels: &'static [(&'static str, &'static str)]) -> Self {
        self.labels = labels;
        self
    }

    /// Classic bucket bounds of the duration histogram, in seconds.
    #[must_use]
    pub const fn buckets(mut self, buckets: &'static [f64]) -> Self {
        self.buckets = Some(buckets);
        self
    }

    /// Record the duration into `pipeline_stage_duration_seconds{pipeline,stage}`.
    #[must_use]
    pub const fn stage(mut self, pipeline: &'static str, stage: &'static str) -> Self {
        self.stage = Some((pipeline, stage));
        self
    }

    /// Keep `function_calls_in_flight`.
    #[must_use]
    pub const fn in_flight(mut self) -> Self {
        self.in_flight = true;
        self
    }

    /// The function is timed as a future (it can be cancelled).
    #[must_use]
    pub const fn asynchronous(mut self) -> Self {
        self.asynchronous = true;
        self
    }

    /// The function can end in an error (its `error` series is created at zero).
    #[must_use]
    pub const fn fallible(mut self) -> Self {
        self.fallible = true;
        self
    }
}

/// Claims stage `stage` of `pipeline` for the `#[timed]` function `function`: refused when a
/// `Pipeline` that declares the stage times it already.
///
/// # Errors
///
/// [`RegistryError::StageTimedTwice`].
pub fn claim_stage_for_function(
    registry: &Registry,
    pipeline: &str,
    stage: &str,
    function: &str,
) -> Result<(), RegistryError> {
    registry.claim_stages(
        pipeline,
        &[stage],
        &StageTimer::Function(function.to_string()),
    )
}

/// One `#[timed]` call site: its configuration and, after the first call, its handles.
pub struct Site {
    config: SiteConfig,
    handles: OnceLock<Handles>,
}

impl Site {
    /// A site whose handles are resolved on first use.
    #[must_use]
    pub const fn new(config: SiteConfig) -> Self {
        Self {
            config,
            handles: OnceLock::new(),
        }
    }

    #[inline(always)]
    fn handles(&self) -> &Handles {
        match self.handles.get() {
            Some(handles) => handles,
            None => self.resolve_handles(),
        }
    }

    /// Resolves the handles on the first call. Registration failures are logged after the
    /// handles are in place, so a `tracing` subscriber that itself calls this function does not
    /// re-enter the initialisation.
    #[cold]
    #[inline(never)]
    fn resolve_handles(&self) -> &Handles {
        let mut failures = Vec::new();
        let handles = self.handles.get_or_init(|| {
            let registry = self.config.registry.map_or_else(Registry::global, |f| f());
            Handles::resolve(&self.config, registry, &mut failures)
        });
        for (family, error) in &failures {
            tracing::warn!(
                target: "perf_instrument",
                function = self.config.function,
                module = self.config.module,
                family = *family,
                %error,
                "#[timed] could not register its metrics; this function records into a detached \
                 recorder that is not exported. Give every #[timed] function the same `labels` \
                 keys and `buckets`, or rename the family that clashes."
            );
        }
        handles
    }

    /// Starts timing a call of a plain function (first clock read; in-flight increment).
    #[inline(always)]
    pub fn enter(&self) -> Call<'_> {
        Call::start(self.handles(), Outcome::Panicked)
    }

    /// Times `future` from its first poll to its completion, and counts it `cancelled` if it is
    /// dropped before, `panicked` if a poll panics. `outcome` judges the output.
    pub async fn time_future<F, C>(&self, future: F, outcome: C) -> F::Output
    where
        F: Future,
        C: FnOnce(&F::Output) -> Outcome,
    {
        let mut call = Call::start(self.handles(), Outcome::Cancelled);
        let mut future = pin!(future);
        let output = poll_fn(|cx| {
            let watch = PanicWatch(&mut call);
            let poll = future.as_mut().poll(cx);
            drop(watch);
            poll
        })
        .await;
        call.finish(outcome(&output));
        output
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site")
            .field("config", &self.config)
            .field("resolved", &self.handles.get().is_some())
            .finish()
    }
}

/// Records `panicked` for the call if a poll unwinds through it.
struct PanicWatch<'a, 'b>(&'a mut Call<'b>);

impl Drop for PanicWatch<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.end(Outcome::Panicked);
        }
    }
}

/// The family, or `None` with the error noted in `failures`.
fn noted<M: Series>(
    failures: &mut Vec<(&'static str, RegistryError)>,
    what: &'static str,
    result: Result<Family<M>, RegistryError>,
) -> Option<Family<M>> {
    result.map_err(|error| failures.push((what, error))).ok()
}

/// The resolved handles of one site.
struct Handles {
    clock: &'static Clock,
    duration: Histogram,
    ok: Counter,
    /// Error, cancelled and panicked counters, created on first use (or eagerly when the site
    /// can end that way), so a function that never fails adds no series for it.
    rare: [OnceLock<Counter>; 3],
    calls: Option<Family<Counter>>,
    /// Label values of `function_calls_total` before `outcome`.
    call_labels: Vec<&'static str>,
    in_flight: Option<Gauge>,
}

impl Handles {
    fn resolve(
        config: &SiteConfig,
        registry: &Registry,
        failures: &mut Vec<(&'static str, RegistryError)>,
    ) -> Self {
        let mut label_names = vec!["function", "module"];
        label_names.extend(config.labels.iter().map(|(k, _)| *k));
        let mut values = vec![config.function, config.module];
        values.extend(config.labels.iter().map(|(_, v)| *v));

        let duration = match config.stage {
            Some((pipeline, stage)) => noted(
                failures,
                STAGE_DURATION.name(),
                claim_stage_for_function(registry, pipeline, stage, config.function)
                    .and_then(|()| registry.register_histogram(STAGE_DURATION.opts())),
            )
            .map(|family| family.with_label_values(&[pipeline, stage])),
            None => {
                let buckets = config.buckets.map_or_else(
                    || Buckets::default_for(Unit::Seconds),
                    |b| Buckets::from_values(Unit::Seconds, b),
                );
                noted(
                    failures,
                    DURATION.name(),
                    registry.register_histogram(
                        DURATION
                            .opts()
                            .labels(label_names.iter().copied())
                            .buckets(buckets),
                    ),
                )
                .map(|family| family.with_label_values(&values))
            }
        }
        .unwrap_or_else(|| Histogram::new(Unit::Seconds));

        let mut call_names = label_names.clone();
        call_names.push("outcome");
        let calls = noted(
            failures,
            CALLS.name(),
            registry.register_counter(CALLS.opts().labels(call_names.iter().copied())),
        );
        let in_flight = config.in_flight.then(|| {
            noted(
                failures,
                IN_FLIGHT.name(),
                registry.register_gauge(IN_FLIGHT.opts().labels(label_names.iter().copied())),
            )
            .map_or_else(Gauge::new, |family| family.with_label_values(&values))
        });

        for _ in failures.iter() {
            errors::counter(registry, "timed", "registration").inc();
        }

        let handles = Self {
            clock: clock::global(),
            ok: Self::outcome_counter(calls.as_ref(), &values, Outcome::Ok),
            duration,
            rare: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
            calls,
            call_labels: values,
            in_flight,
        };
        if config.fallible {
            let _ = handles.rare_counter(Outcome::Error);
        }
        if config.asynchronous {
            let _ = handles.rare_counter(Outcome::Cancelled);
        }
        handles
    }

    fn outcome_counter(
        calls: Option<&Family<Counter>>,
        prefix: &[&'static str],
        outcome: Outcome,
    ) -> Counter {
        calls.map_or_else(Counter::new, |family| {
            let mut values = prefix.to_vec();
            values.push(outcome.label());
            family.with_label_values(&values)
        })
    }

    #[cold]
    fn rare_counter(&self, outcome: Outcome) -> &Counter {
        self.rare[outcome.index() - 1]
            .get_or_init(|| Self::outcome_counter(self.calls.as_ref(), &self.call_labels, outcome))
    }

    #[inline(always)]
    fn record(&self, outcome: Outcome, start: u64, end: u64) {
        self.duration.record_elapsed(self.clock, start, end);
        match outcome {
            Outcome::Ok => self.ok.inc(),
            other => match self.rare[other.index() - 1].get() {
                Some(counter) => counter.inc(),
                None => self.rare_counter(other).inc(),
            },
        }
        if let Some(in_flight) = &self.in_flight {
            in_flight.dec();
        }
    }
}

/// One timed call in progress: records when finished, or on drop with the outcome of an
/// unfinished call (`panicked` for a plain function, which only drops unfinished while
/// unwinding; `cancelled` for a future).
#[must_use = "a call records when finished or dropped; dropping it at once records about zero"]
pub struct Call<'a> {
    handles: &'a Handles,
    start: u64,
    armed: bool,
    on_drop: Outcome,
}

impl<'a> Call<'a> {
    #[inline(always)]
    fn start(handles: &'a Handles, on_drop: Outcome) -> Self {
        if let Some(in_flight) = &handles.in_flight {
            in_flight.inc();
        }
        Self {
            handles,
            start: handles.clock.raw(),
            armed: true,
            on_drop,
        }
    }

    /// Records the call with `outcome` (second clock read).
    #[inline(always)]
    pub fn finish(mut self, outcome: Outcome) {
        self.end(outcome);
    }

    #[inline(always)]
    fn end(&mut self, outcome: Outcome) {
        if self.armed {
            self.armed = false;
            let end = self.handles.clock.raw();
            self.handles.record(outcome, self.start, end);
        }
    }
}

impl Drop for Call<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.armed {
            self.end(self.on_drop);
        }
    }
}

impl fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("start", &self.start)
            .field("armed", &self.armed)
            .finish()
    }
}
