//! `Pipeline`: per-stage durations, gaps between stages, end-to-end latency and events in flight
//! of an event pipeline, within a process and across processes.

use super::HistogramShape;
use crate::clock::Clock;
use crate::recorder::{Counter, Histogram};
use crate::registry::{Registry, RegistryError, StageTimer};
use crate::sync::{next_id, AtomicI64, Ordering};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The families a [`Pipeline`] registers (shared by all pipelines, by label `pipeline`).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Every stage's duration; also recorded by `#[timed(pipeline, stage)]` and `StageLayer`.
    pub(crate) const STAGE_DURATION: FamilyDef = FamilyDef::histogram(
        "pipeline_stage_duration_seconds",
        "Time events spent in each pipeline stage.",
    )
    .unit(Unit::Seconds)
    .labels(&["pipeline", "stage"])
    .table(TableSpec::new("stages", "{pipeline}/{stage}").with_rank(100));
    /// The wait before each stage.
    pub(crate) const STAGE_GAP: FamilyDef = FamilyDef::histogram(
        "pipeline_stage_gap_seconds",
        "Time events waited between the previous stage's end and this stage's start.",
    )
    .unit(Unit::Seconds)
    .labels(&["pipeline", "stage"])
    .not_tabled(
        "the bottleneck finding weighs each wait before a stage against the stages; as rows \
         they would double the stages table",
    );
    /// Begin to finish.
    pub(crate) const END_TO_END: FamilyDef = FamilyDef::histogram(
        "pipeline_end_to_end_duration_seconds",
        "Time from an event's begin to its finish.",
    )
    .unit(Unit::Seconds)
    .labels(&["pipeline"])
    .table(TableSpec::new("stages", "{pipeline}/end_to_end").with_rank(110));
    /// Remote origins clamped.
    pub(crate) const REMOTE_CLOCK_SKEW: FamilyDef = FamilyDef::counter(
        "pipeline_remote_clock_skew",
        "Remote event origins clamped: in the future (negative) or too old (absurd).",
    )
    .labels(&["pipeline", "reason"])
    .not_tabled("a counter");
    /// Calls refused.
    pub(crate) const EVENTS_REJECTED: FamilyDef = FamilyDef::counter(
        "pipeline_events_rejected",
        "Pipeline calls refused, by reason: wrong_stage, unmatched_end.",
    )
    .labels(&["pipeline", "reason"])
    .not_tabled("a counter");
    /// Events in flight, read at scrape.
    pub(crate) const EVENTS_IN_FLIGHT: FamilyDef = FamilyDef::gauge(
        "pipeline_events_in_flight",
        "Events begun and not finished.",
    )
    .labels(&["pipeline"])
    .not_tabled("a gauge");
    /// Events abandoned.
    pub(crate) const EVENTS_ABANDONED: FamilyDef = FamilyDef::counter(
        "pipeline_events_abandoned",
        "Events abandoned before finishing.",
    )
    .labels(&["pipeline"])
    .not_tabled("a counter");

    /// Workers a stage runs on, and the queue that feeds it, as the caller declared them.
    pub(crate) const STAGE_WORKERS: FamilyDef = FamilyDef::gauge(
        "pipeline_stage_workers",
        "Workers that run a stage in parallel, and the queue that feeds it (\"\" if none), as declared.",
    )
    .labels(&["pipeline", "stage", "input_queue"])
    .not_tabled("a gauge (the report's utilisation and throughput-bottleneck finding read it)");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &STAGE_WORKERS,
        &STAGE_DURATION,
        &STAGE_GAP,
        &END_TO_END,
        &REMOTE_CLOCK_SKEW,
        &EVENTS_REJECTED,
        &EVENTS_IN_FLIGHT,
        &EVENTS_ABANDONED,
    ];
}

/// A stage of one [`Pipeline`] (a dense index, resolved once with [`Pipeline::stage`]).
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// let p = perf_instrument::Pipeline::builder("orders").stages(["enrich"]).build(&r).unwrap();
/// let enrich = p.stage("enrich").unwrap();
/// assert!(p.stage("missing").is_none());
/// # let _ = enrich;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    pipeline: u64,
    index: u32,
}

/// An event on its way through a pipeline: when it began, when its last stage mark was, and
/// which pipeline it belongs to. 24 bytes and `Send`, so it travels with the event across
/// threads and queues. It is neither `Copy` nor `Clone`: [`finish`](Pipeline::finish) and
/// [`abandon`](Pipeline::abandon) take it by value, so an event ends at most once and
/// `pipeline_events_in_flight` stays exact.
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// let p = perf_instrument::Pipeline::builder("orders").stages(["a"]).build(&r).unwrap();
/// let token = p.begin();
/// let moved = std::thread::spawn(move || token).join().unwrap();
/// p.finish(moved);
/// ```
///
/// Ending a token twice does not compile:
///
/// ```compile_fail
/// # let r = perf_instrument::Registry::new();
/// let p = perf_instrument::Pipeline::builder("orders").build(&r).unwrap();
/// let token = p.begin();
/// p.finish(token);
/// p.finish(token); // use of moved value
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an event stays in flight until its token is finished or abandoned"]
pub struct EventToken {
    origin: u64,
    mark: u64,
    pipeline: u64,
}

/// An event's origin on the wall clock (Unix nanoseconds), to embed in a record that another
/// process consumes: [`Pipeline::wire_token`] produces it, [`Pipeline::record_remote`] measures
/// end-to-end latency from it. Serialises to 8 bytes.
///
/// ```
/// use perf_instrument::RemoteToken;
/// let t = RemoteToken::from_unix_nanos(1_700_000_000_000_000_000);
/// assert_eq!(RemoteToken::from_bytes(&t.to_bytes()), Some(t));
/// assert_eq!(RemoteToken::from_bytes(&[1, 2, 3]), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteToken(u64);

impl RemoteToken {
    /// A token for an event that began at `unix_nanos`.
    ///
    /// ```
    /// let t = perf_instrument::RemoteToken::from_unix_nanos(5);
    /// assert_eq!(t.unix_nanos(), 5);
    /// ```
    #[must_use]
    pub fn from_unix_nanos(unix_nanos: u64) -> Self {
        Self(unix_nanos)
    }

    /// The event's origin, Unix nanoseconds.
    ///
    /// ```
    /// assert_eq!(perf_instrument::RemoteToken::from_unix_nanos(9).unix_nanos(), 9);
    /// ```
    #[must_use]
    pub fn unix_nanos(self) -> u64 {
        self.0
    }

    /// The 8-byte little-endian encoding.
    ///
    /// ```
    /// assert_eq!(perf_instrument::RemoteToken::from_unix_nanos(1).to_bytes(), [1, 0, 0, 0, 0, 0, 0, 0]);
    /// ```
    #[must_use]
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }

    /// Decodes 8 bytes; `None` for any other length.
    ///
    /// ```
    /// assert!(perf_instrument::RemoteToken::from_bytes(&[0; 8]).is_some());
    /// ```
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(u64::from_le_bytes(bytes.try_into().ok()?)))
    }
}

struct StageMetrics {
    name: String,
    duration: Histogram,
    gap: Histogram,
}

struct Inner {
    id: u64,
    name: String,
    clock: Clock,
    stages: Vec<StageMetrics>,
    end_to_end: Histogram,
    /// Events begun and not yet ended. An end that finds none is refused and put back, so it
    /// is below 0 only for that instant (and read as 0).
    in_flight: AtomicI64,
    abandoned: Counter,
    unmatched_end: Counter,
    skew_negative: Counter,
    skew_absurd: Counter,
    wrong_stage: Counter,
    max_remote_age: Duration,
}

/// An event pipeline: named stages (enrich → persist → view update → publish → complete),
/// timed per event, wherever each stage runs.
///
/// Families (labels `pipeline`, and `stage` where it applies):
/// `pipeline_stage_duration_seconds`, `pipeline_stage_gap_seconds` (from the previous stage's
/// end — or the event's begin — to this stage's start: time spent waiting),
/// `pipeline_end_to_end_duration_seconds`, `pipeline_events_in_flight`,
/// `pipeline_events_abandoned_total`, `pipeline_remote_clock_skew_total{reason}` (remote origins
/// in the future, `negative`, or older than the maximum age, `absurd`; both clamped) and
/// `pipeline_events_rejected_total{reason}`: `wrong_stage` (a stage handle of another
/// pipeline) and `unmatched_end` (a `finish` or `abandon` of another pipeline's token).
///
/// Every begun event must end exactly once, with [`finish`](Pipeline::finish) or
/// [`abandon`](Pipeline::abandon), which take its [`EventToken`] by value: the token is
/// neither `Copy` nor `Clone`, so it cannot end twice, and it carries its pipeline, so another
/// pipeline's token is refused (no end-to-end time or abandonment recorded) and counted as
/// `unmatched_end`. `pipeline_events_in_flight` is therefore exact, raced or not. A token
/// dropped without an end leaves its event in flight: abandon it instead.
///
/// ```
/// use perf_instrument::{Clock, Pipeline, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let orders = Pipeline::builder("orders")
///     .stages(["enrich", "persist"])
///     .clock(clock)
///     .build(&registry)
///     .unwrap();
/// let (enrich, persist) = (orders.stage("enrich").unwrap(), orders.stage("persist").unwrap());
///
/// let mut event = orders.begin();
/// orders.stage_started(&mut event, enrich);
/// hand.advance(Duration::from_millis(3));
/// orders.stage_finished(&mut event, enrich);
/// hand.advance(Duration::from_millis(1)); // waiting in a queue
/// orders.time_stage(&mut event, persist, || hand.advance(Duration::from_millis(5)));
/// assert_eq!(orders.finish(event), Duration::from_millis(9));
/// ```
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

/// Configures a [`Pipeline`].
///
/// ```
/// let b = perf_instrument::Pipeline::builder("orders").stages(["enrich", "persist"]);
/// # let _ = b;
/// ```
#[derive(Debug)]
pub struct PipelineBuilder {
    name: String,
    stages: Vec<String>,
    clock: Option<Clock>,
    max_remote_age: Duration,
    shape: HistogramShape,
    /// Per stage: declared workers and input queue.
    pools: Vec<(String, u32, Option<String>)>,
}

impl PipelineBuilder {
    fn pool(&mut self, stage: &str) -> &mut (String, u32, Option<String>) {
        let i = match self.pools.iter().position(|p| p.0 == stage) {
            Some(i) => i,
            None => {
                self.pools.push((stage.to_string(), 1, None));
                self.pools.len() - 1
            }
        };
        &mut self.pools[i]
    }

    /// Declares that `stage` runs on `workers` threads (or tasks) in parallel, so the report
    /// can compute its utilisation: the stage's busy time (the sum of its durations) over the
    /// window's wall time times `workers`. Exported as `pipeline_stage_workers`. A stage not
    /// in [`stages`](Self::stages) is refused by `build`; zero workers too.
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry};
    /// let r = Registry::new();
    /// let p = Pipeline::builder("p").stages(["parse"]).workers("parse", 4).build(&r);
    /// assert!(p.is_ok());
    /// ```
    #[must_use]
    pub fn workers(mut self, stage: &str, workers: u32) -> Self {
        self.pool(stage).1 = workers;
        self
    }

    /// Names the queue (a [`QueueProbe`](crate::QueueProbe) or instrumented channel) that
    /// feeds `stage`: a stage near full utilisation whose input queue grows is the
    /// throughput bottleneck. Declares one worker unless [`workers`](Self::workers) says more.
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry};
    /// let r = Registry::new();
    /// let p = Pipeline::builder("p").stages(["parse"]).input_queue("parse", "raw").build(&r);
    /// assert!(p.is_ok());
    /// ```
    #[must_use]
    pub fn input_queue(mut self, stage: &str, queue: impl Into<String>) -> Self {
        self.pool(stage).2 = Some(queue.into());
        self
    }

    /// Native schema of this instrument's histograms, 0 to 8 (default 3): see
    /// [`Opts::schema`](crate::Opts::schema). The families are shared by every instrument of this kind in a registry, so they must agree on it (another schema is a [`RegistryError::ShapeMismatch`](crate::RegistryError::ShapeMismatch)). Outside `0..=8`, `build` fails with
    /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
    ///
    /// ```
    /// use perf_instrument::{Pipeline, Registry};
    /// let r = Registry::new();
    /// assert!(Pipeline::builder("p").stages(["s"]).schema(8).build(&r).is_ok());
    /// // Pipelines of one registry share the families: another schema is refused.
    /// assert!(Pipeline::builder("q").stages(["s"]).build(&r).is_err());
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: i32) -> Self {
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of this pipeline's stage, gap and end-to-end durations (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) the unit). The families are
    /// shared by every instrument of this kind in a registry, so they must agree on them, as on
    /// the schema.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, Unit};
    /// let r = Registry::new();
    /// let coarse = Buckets::from_values(Unit::Seconds, &[0.25, 1.0, 4.0]);
    /// let _it = perf_instrument::Pipeline::builder("p").stages(["s"]).buckets(coarse).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// // Three bounds and `+Inf`.
    /// assert_eq!(text.lines().filter(|l| l.starts_with("pipeline_end_to_end_duration_seconds_bucket")).count(), 4);
    /// ```
    #[must_use]
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
        self
    }

    /// The stage names, in order.
    ///
    /// ```
    /// let b = perf_instrument::Pipeline::builder("p").stages(["a", "b"]);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn stages<I, S>(mut self, stages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stages = stages.into_iter().map(Into::into).collect();
        self
    }

    /// The clock (default: the process clock).
    ///
    /// ```
    /// let b = perf_instrument::Pipeline::builder("p").clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Oldest remote origin taken at face value (default 24 h); older ones are clamped to it and
    /// counted as `absurd` skew.
    ///
    /// ```
    /// let b = perf_instrument::Pipeline::builder("p").max_remote_age(std::time::Duration::from_secs(60));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn max_remote_age(mut self, age: Duration) -> Self {
        self.max_remote_age = age;
        self
    }

    /// Registers the families (shared by all pipelines) and resolves this pipeline's series.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the families clash with others in `registry`;
    /// [`RegistryError::ZeroSetting`] for a zero `max_remote_age`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::Pipeline::builder("p").stages(["s"]).build(&r).is_ok());
    /// ```
    pub fn build(self, registry: &Registry) -> Result<Pipeline, RegistryError> {
        if self.max_remote_age.is_zero() {
            return Err(RegistryError::ZeroSetting {
                setting: "max_remote_age",
            });
        }
        if self.pools.iter().any(|(_, workers, _)| *workers == 0) {
            return Err(RegistryError::ZeroSetting { setting: "workers" });
        }
        if let Some((stage, _, _)) = self.pools.iter().find(|(s, _, _)| !self.stages.contains(s)) {
            return Err(RegistryError::UnknownStage {
                pipeline: self.name.clone(),
                stage: stage.clone(),
            });
        }
        let p = self.name.as_str();
        registry.claim_stages(p, &self.stages, &StageTimer::Pipeline)?;
        use families as f;
        if !self.pools.is_empty() {
            let workers = registry.register_gauge(f::STAGE_WORKERS.opts())?;
            for (stage, n, queue) in &self.pools {
                workers
                    .with_label_values(&[p, stage, queue.as_deref().unwrap_or("")])
                    .set(i64::from(*n));
            }
        }
        let shape = &self.shape;
        let duration = registry.register_histogram(shape.opts(&f::STAGE_DURATION))?;
        let gap = registry.register_histogram(shape.opts(&f::STAGE_GAP))?;
        let stages = self
            .stages
            .iter()
            .map(|stage| StageMetrics {
                name: stage.clone(),
                duration: duration.with_label_values(&[p, stage]),
                gap: gap.with_label_values(&[p, stage]),
            })
            .collect();
        let skew = registry.register_counter(f::REMOTE_CLOCK_SKEW.opts())?;
        let rejected = registry.register_counter(f::EVENTS_REJECTED.opts())?;
        let clock = self.clock.unwrap_or_else(|| Clock::global().clone());
        let in_flight = registry
            .register_fn_gauge(f::EVENTS_IN_FLIGHT.opts())?
            .with_label_values(&[p]);
        let pipeline = Pipeline {
            inner: Arc::new(Inner {
                // Identifies the pipeline, so a stage handle of one is refused by another.
                id: next_id(),
                name: self.name.clone(),
                stages,
                end_to_end: registry
                    .register_histogram(shape.opts(&f::END_TO_END))?
                    .with_label_values(&[p]),
                in_flight: AtomicI64::new(0),
                abandoned: registry
                    .register_counter(f::EVENTS_ABANDONED.opts())?
                    .with_label_values(&[p]),
                skew_negative: skew.with_label_values(&[p, "negative"]),
                skew_absurd: skew.with_label_values(&[p, "absurd"]),
                wrong_stage: rejected.with_label_values(&[p, "wrong_stage"]),
                unmatched_end: rejected.with_label_values(&[p, "unmatched_end"]),
                max_remote_age: self.max_remote_age,
                clock,
            }),
        };
        // Read at scrape; the series leaves with the pipeline.
        let weak: Weak<Inner> = Arc::downgrade(&pipeline.inner);
        in_flight
            .set_fn(move || Some(weak.upgrade()?.in_flight.load(Ordering::Relaxed).max(0) as f64));
        Ok(pipeline)
    }
}

fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Pipeline {
    /// A builder for pipeline `name`.
    ///
    /// ```
    /// let b = perf_instrument::Pipeline::builder("orders");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder(name: impl Into<String>) -> PipelineBuilder {
        PipelineBuilder {
            name: name.into(),
            stages: Vec::new(),
            clock: None,
            max_remote_age: Duration::from_secs(24 * 3600),
            shape: HistogramShape::default(),
            pools: Vec::new(),
        }
    }

    /// The handle of stage `name`.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// let p = perf_instrument::Pipeline::builder("p").stages(["a", "b"]).build(&r).unwrap();
    /// assert_ne!(p.stage("a"), p.stage("b"));
    /// ```
    #[must_use]
    pub fn stage(&self, name: &str) -> Option<Stage> {
        let index = self.inner.stages.iter().position(|s| s.name == name)?;
        Some(Stage {
            pipeline: self.inner.id,
            index: index as u32,
        })
    }

    /// An event enters the pipeline.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// let event = p.begin();
    /// assert_eq!(p.in_flight(), 1);
    /// p.finish(event);
    /// ```
    #[inline]
    pub fn begin(&self) -> EventToken {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        let now = self.inner.clock.raw();
        EventToken {
            origin: now,
            mark: now,
            pipeline: self.inner.id,
        }
    }

    /// An event enters the pipeline, dated from `intended` (its intended start, for example a
    /// load driver's [`Call::intended`](crate::load::Call::intended)) instead of now: the time
    /// since then counts in its end-to-end latency and in the gap before its first stage, so an
    /// event that waited to be submitted is not reported as fast. `intended` is read with
    /// `Instant`; a time in the future counts as now.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// let intended = Instant::now() - Duration::from_millis(30);
    /// let event = p.begin_at(intended);
    /// assert!(p.finish(event) >= Duration::from_millis(29)); // end to end, from `intended`
    /// ```
    #[inline]
    pub fn begin_at(&self, intended: Instant) -> EventToken {
        let now = self.begin();
        let late = self
            .inner
            .clock
            .ticks(Instant::now().saturating_duration_since(intended));
        let origin = now.origin.saturating_sub(late);
        EventToken {
            origin,
            mark: origin,
            pipeline: now.pipeline,
        }
    }

    /// The event starts `stage`: records the gap since its previous mark (the previous stage's
    /// end, or its begin).
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").stages(["s"]).build(&r).unwrap();
    /// # let s = p.stage("s").unwrap();
    /// let mut event = p.begin();
    /// p.stage_started(&mut event, s);
    /// p.stage_finished(&mut event, s);
    /// p.finish(event);
    /// ```
    #[inline]
    pub fn stage_started(&self, token: &mut EventToken, stage: Stage) {
        let now = self.inner.clock.raw();
        if let Some(metrics) = self.metrics(stage) {
            metrics
                .gap
                .record(self.inner.clock.delta_nanos(token.mark, now));
        }
        token.mark = now;
    }

    /// The event finishes `stage`: records the stage's duration since its start.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").stages(["s"]).build(&r).unwrap();
    /// # let s = p.stage("s").unwrap();
    /// let mut event = p.begin();
    /// p.stage_started(&mut event, s);
    /// p.stage_finished(&mut event, s);
    /// # p.finish(event);
    /// ```
    #[inline]
    pub fn stage_finished(&self, token: &mut EventToken, stage: Stage) {
        let now = self.inner.clock.raw();
        if let Some(metrics) = self.metrics(stage) {
            metrics
                .duration
                .record(self.inner.clock.delta_nanos(token.mark, now));
        }
        token.mark = now;
    }

    /// Runs `f` as stage `stage` of the event (start, `f`, finish).
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").stages(["s"]).build(&r).unwrap();
    /// # let s = p.stage("s").unwrap();
    /// let mut event = p.begin();
    /// let out = p.time_stage(&mut event, s, || 40 + 2);
    /// assert_eq!(out, 42);
    /// # p.finish(event);
    /// ```
    pub fn time_stage<R>(&self, token: &mut EventToken, stage: Stage, f: impl FnOnce() -> R) -> R {
        self.stage_started(token, stage);
        let out = f();
        self.stage_finished(token, stage);
        out
    }

    /// Awaits `future` as stage `stage` of the event: the stage starts when the returned future
    /// is first polled and ends when `future` completes. If the returned future is dropped
    /// before that (cancelled), or `future` panics, the stage ends then, as with
    /// [`stage_guard`](Self::stage_guard).
    ///
    /// ```
    /// use perf_instrument::{Clock, Pipeline, Registry};
    /// use std::time::Duration;
    /// let registry = Registry::new();
    /// let (clock, hand) = Clock::manual();
    /// let p = Pipeline::builder("orders").stages(["persist"]).clock(clock).build(&registry).unwrap();
    /// let persist = p.stage("persist").unwrap();
    /// let mut event = p.begin();
    /// let written = futures_lite_block_on(p.time_stage_async(&mut event, persist, async {
    ///     hand.advance(Duration::from_millis(3)); // the write
    ///     7
    /// }));
    /// assert_eq!(written, 7);
    /// p.finish(event);
    /// let h = registry.snapshot();
    /// let h = h.histogram("pipeline_stage_duration_seconds", &[("pipeline", "orders"), ("stage", "persist")]).unwrap();
    /// assert_eq!(h.count(), 1);
    /// assert!((h.sum() - 0.003).abs() < 1e-9);
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// ```
    pub async fn time_stage_async<F: std::future::Future>(
        &self,
        token: &mut EventToken,
        stage: Stage,
        future: F,
    ) -> F::Output {
        let _guard = self.stage_guard(token, stage);
        future.await
    }

    /// Starts stage `stage` of the event and ends it when the guard is dropped — after the
    /// work, on an early return, a `?`, a panic, or when the async task holding it is cancelled.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").stages(["s"]).build(&r).unwrap();
    /// # let s = p.stage("s").unwrap();
    /// let mut event = p.begin();
    /// {
    ///     let _stage = p.stage_guard(&mut event, s);
    ///     // the stage's work, across `.await`s if need be
    /// }
    /// p.finish(event);
    /// assert_eq!(r.snapshot().histogram("pipeline_stage_duration_seconds", &[("pipeline", "p"), ("stage", "s")]).unwrap().count(), 1);
    /// ```
    #[must_use = "the stage ends when the guard is dropped"]
    pub fn stage_guard<'a>(&'a self, token: &'a mut EventToken, stage: Stage) -> StageGuard<'a> {
        self.stage_started(token, stage);
        StageGuard {
            pipeline: self,
            token,
            stage,
        }
    }

    /// The event leaves the pipeline: records and returns its end-to-end time. A token of
    /// another pipeline records nothing, leaves this pipeline's in-flight count alone and is
    /// counted as `pipeline_events_rejected_total{reason="unmatched_end"}` (see [`Pipeline`]).
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// # let other = perf_instrument::Pipeline::builder("other").build(&r).unwrap();
    /// let event = p.begin();
    /// let took = p.finish(event);
    /// assert!(took.as_secs() < 60);
    /// assert_eq!(p.in_flight(), 0);
    /// let _ = p.finish(other.begin()); // another pipeline's token: refused and counted
    /// assert_eq!((p.in_flight(), other.in_flight()), (0, 1));
    /// ```
    #[inline]
    pub fn finish(&self, token: EventToken) -> Duration {
        let nanos = self
            .inner
            .clock
            .delta_nanos(token.origin, self.inner.clock.raw());
        if self.end(&token) {
            self.inner.end_to_end.record(nanos);
        }
        Duration::from_nanos(nanos)
    }

    /// As [`finish`](Self::finish), and keeps `labels` (the event's id, its trace id) as an
    /// exemplar of its end-to-end time in `pipeline_end_to_end_duration_seconds`, so a slow
    /// bucket leads to this event (see
    /// [`Histogram::record_with_exemplar`](crate::Histogram::record_with_exemplar): the last
    /// exemplar per octave of values is kept; invalid labels are refused and counted, the time
    /// recorded all the same). Attach ids to the events worth finding, the slow ones, rather
    /// than to every event: this path allocates.
    ///
    /// ```
    /// use perf_instrument::{Format, Pipeline, Registry};
    /// let registry = Registry::new();
    /// let p = Pipeline::builder("orders").build(&registry).unwrap();
    /// let event = p.begin();
    /// if p.elapsed(&event).as_millis() < 100 {
    ///     p.finish_with_exemplar(event, &[("event_id", "order-42")]);
    /// } else {
    ///     p.finish(event);
    /// }
    /// let text = String::from_utf8(perf_instrument::render_as(&registry, Format::OpenMetrics)).unwrap();
    /// assert!(text.contains("# {event_id=\"order-42\"}"));
    /// ```
    pub fn finish_with_exemplar(&self, token: EventToken, labels: &[(&str, &str)]) -> Duration {
        let nanos = self
            .inner
            .clock
            .delta_nanos(token.origin, self.inner.clock.raw());
        if self.end(&token) {
            let _ = self.inner.end_to_end.record_with_exemplar(nanos, labels);
        }
        Duration::from_nanos(nanos)
    }

    /// How long the event has been in the pipeline so far (what [`finish`](Self::finish) would
    /// record now): to decide, before finishing it, whether it is worth an exemplar.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// let event = p.begin();
    /// let so_far = p.elapsed(&event);
    /// assert!(p.finish(event) >= so_far);
    /// ```
    #[must_use]
    pub fn elapsed(&self, token: &EventToken) -> Duration {
        Duration::from_nanos(
            self.inner
                .clock
                .delta_nanos(token.origin, self.inner.clock.raw()),
        )
    }

    /// As [`stage_finished`](Self::stage_finished), and keeps `labels` as an exemplar of the
    /// stage's duration in `pipeline_stage_duration_seconds`.
    ///
    /// ```
    /// use perf_instrument::{Format, Pipeline, Registry};
    /// let registry = Registry::new();
    /// let p = Pipeline::builder("orders").stages(["persist"]).build(&registry).unwrap();
    /// let persist = p.stage("persist").unwrap();
    /// let mut event = p.begin();
    /// p.stage_started(&mut event, persist);
    /// p.stage_finished_with_exemplar(&mut event, persist, &[("event_id", "7")]);
    /// p.finish(event);
    /// let text = String::from_utf8(perf_instrument::render_as(&registry, Format::OpenMetrics)).unwrap();
    /// assert!(text.contains("# {event_id=\"7\"}"));
    /// ```
    pub fn stage_finished_with_exemplar(
        &self,
        token: &mut EventToken,
        stage: Stage,
        labels: &[(&str, &str)],
    ) {
        let now = self.inner.clock.raw();
        if let Some(metrics) = self.metrics(stage) {
            let _ = metrics
                .duration
                .record_with_exemplar(self.inner.clock.delta_nanos(token.mark, now), labels);
        }
        token.mark = now;
    }

    /// The event is given up (dropped, failed): it leaves the in-flight count without an
    /// end-to-end time, and is counted.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// p.abandon(p.begin());
    /// assert_eq!(p.in_flight(), 0);
    /// ```
    pub fn abandon(&self, token: EventToken) {
        if self.end(&token) {
            self.inner.abandoned.inc();
        }
    }

    /// Takes the token's event out of the in-flight count: one atomic subtraction. A token
    /// ends once (it moves into `finish` or `abandon`) and only a token this pipeline began is
    /// counted off, so every subtraction matches an addition and the count is exact; a token
    /// of another pipeline is refused and counted (`false`).
    #[inline]
    fn end(&self, token: &EventToken) -> bool {
        if token.pipeline == self.inner.id {
            self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
            return true;
        }
        self.unmatched_end();
        false
    }

    #[cold]
    #[inline(never)]
    fn unmatched_end(&self) {
        self.inner.unmatched_end.inc();
    }

    /// Events begun and not finished or abandoned.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// assert_eq!(p.in_flight(), 0);
    /// ```
    #[must_use]
    pub fn in_flight(&self) -> i64 {
        self.inner.in_flight.load(Ordering::Relaxed).max(0)
    }

    /// The event's origin on the wall clock, to embed in a record for another process.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// let event = p.begin();
    /// let wire = p.wire_token(&event).to_bytes(); // 8 bytes in the record
    /// # p.finish(event);
    /// # let _ = wire;
    /// ```
    #[must_use]
    pub fn wire_token(&self, token: &EventToken) -> RemoteToken {
        let clock = &self.inner.clock;
        let age = clock.delta_nanos(token.origin, clock.raw());
        RemoteToken(unix_nanos_now().saturating_sub(age))
    }

    /// Records the end-to-end latency of a record that carries `token`, made in another process,
    /// against this process's wall clock. An origin in the future records 0 and counts as
    /// `negative` skew; one older than the maximum remote age records that maximum and counts
    /// as `absurd`. Returns the latency recorded.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// let origin = std::time::SystemTime::now() - std::time::Duration::from_millis(20);
    /// let nanos = origin.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    /// let took = p.record_remote(perf_instrument::RemoteToken::from_unix_nanos(nanos));
    /// assert!(took >= std::time::Duration::from_millis(20));
    /// ```
    pub fn record_remote(&self, token: RemoteToken) -> Duration {
        self.record_remote_at(token, unix_nanos_now())
    }

    /// As [`record_remote`](Self::record_remote), with "now" given (Unix nanoseconds).
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let p = perf_instrument::Pipeline::builder("p").build(&r).unwrap();
    /// use perf_instrument::RemoteToken;
    /// let took = p.record_remote_at(RemoteToken::from_unix_nanos(1_000), 3_000);
    /// assert_eq!(took.as_nanos(), 2_000);
    /// assert_eq!(p.record_remote_at(RemoteToken::from_unix_nanos(5_000), 3_000).as_nanos(), 0);
    /// ```
    pub fn record_remote_at(&self, token: RemoteToken, now_unix_nanos: u64) -> Duration {
        let max = u64::try_from(self.inner.max_remote_age.as_nanos()).unwrap_or(u64::MAX);
        let nanos = match now_unix_nanos.checked_sub(token.0) {
            None => {
                self.inner.skew_negative.inc();
                0
            }
            Some(age) if age > max => {
                self.inner.skew_absurd.inc();
                max
            }
            Some(age) => age,
        };
        self.inner.end_to_end.record(nanos);
        Duration::from_nanos(nanos)
    }

    #[inline]
    fn metrics(&self, stage: Stage) -> Option<&StageMetrics> {
        let metrics = (stage.pipeline == self.inner.id)
            .then(|| self.inner.stages.get(stage.index as usize))
            .flatten();
        if metrics.is_none() {
            self.inner.wrong_stage.inc();
        }
        metrics
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.inner.name)
            .field(
                "stages",
                &self
                    .inner
                    .stages
                    .iter()
                    .map(|s| &s.name)
                    .collect::<Vec<_>>(),
            )
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// A stage of an event in progress; the stage ends when it is dropped. Made by
/// [`Pipeline::stage_guard`].
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// # let p = perf_instrument::Pipeline::builder("p").stages(["s"]).build(&r).unwrap();
/// let mut event = p.begin();
/// let guard = p.stage_guard(&mut event, p.stage("s").unwrap());
/// assert!(format!("{guard:?}").contains("StageGuard"));
/// drop(guard);
/// p.finish(event);
/// ```
pub struct StageGuard<'a> {
    pipeline: &'a Pipeline,
    token: &'a mut EventToken,
    stage: Stage,
}

impl Drop for StageGuard<'_> {
    fn drop(&mut self) {
        self.pipeline.stage_finished(self.token, self.stage);
    }
}

impl fmt::Debug for StageGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageGuard")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}
