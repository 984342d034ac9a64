//! `StageLayer`: a `tracing-subscriber` layer that records how long spans took as pipeline
//! stages, so `#[tracing::instrument]` functions show up next to `Pipeline` stages.

use crate::clock::{self, Clock};
use crate::instrument::families::pipeline::STAGE_DURATION;
use crate::instrument::HistogramShape;
use crate::recorder::{Counter, Histogram};
use crate::registry::{Family, Registry, RegistryError};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The families `StageLayer` registers besides `pipeline_stage_duration_seconds` (the
/// `Pipeline` family), by labels `pipeline` and `stage`.
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::FamilyDef;

    /// Time entered.
    pub(crate) const STAGE_BUSY: FamilyDef = FamilyDef::histogram(
        "pipeline_stage_busy_seconds",
        "Time a stage's span was entered (running), from the tracing layer.",
    )
    .unit(Unit::Seconds)
    .labels(&["pipeline", "stage"])
    .not_tabled("a split of the stage duration, which the stages table holds");
    /// Time not entered.
    pub(crate) const STAGE_IDLE: FamilyDef = FamilyDef::histogram(
        "pipeline_stage_idle_seconds",
        "Time a stage's span existed without being entered (waiting), from the tracing layer.",
    )
    .unit(Unit::Seconds)
    .labels(&["pipeline", "stage"])
    .not_tabled("a split of the stage duration, which the stages table holds");
    /// Spans past the warning threshold.
    pub(crate) const STAGE_SLOW: FamilyDef = FamilyDef::counter(
        "pipeline_stage_slow",
        "Stage spans that took longer than the layer's warning threshold.",
    )
    .labels(&["pipeline", "stage"])
    .not_tabled("a counter");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[&STAGE_BUSY, &STAGE_IDLE, &STAGE_SLOW];
}

/// Stages whose handles are kept (beyond, a span resolves its stage through the family).
const MAX_CACHED_STAGES: usize = 1_000;

/// Records the time of `tracing` spans as pipeline stages: for each closed span,
///
/// * `pipeline_stage_duration_seconds{pipeline,stage}`: from the span's creation to its close
///   (busy + idle; for a span entered when created, as `#[tracing::instrument]` does for a
///   plain function, the call's duration) — the family `Pipeline` and `#[timed(stage)]` use;
/// * `pipeline_stage_busy_seconds{pipeline,stage}`: the time the span was entered, on any
///   thread (overlapping entries counted once);
/// * `pipeline_stage_idle_seconds{pipeline,stage}`: the rest (for an instrumented future, the
///   time it waited between polls, and before the first);
/// * with [`warn_slower_than`](StageLayerBuilder::warn_slower_than),
///   `pipeline_stage_slow_total{pipeline,stage}` and a `tracing` warning (target
///   `perf_instrument::slow_span`) for each span whose duration passed the threshold — only
///   those are logged.
///
/// `pipeline` is the layer's (default `"tracing"`); `stage` is the span's name, or the value of
/// the [`field`](StageLayerBuilder::field) the layer selects on. Spans can be limited to a
/// target prefix and to those that have a given field.
///
/// ```
/// use perf_instrument::{Registry, StageLayer};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let registry = Registry::new();
/// let layer = StageLayer::builder().pipeline("orders").build(&registry).unwrap();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("enrich");
///     let _entered = span.enter();
/// });
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// assert!(text.contains(r#"pipeline_stage_duration_seconds_count{pipeline="orders",stage="enrich"} 1"#));
/// ```
#[derive(Clone)]
pub struct StageLayer {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: String,
    target: Option<String>,
    field: Option<String>,
    slow_nanos: Option<u64>,
    clock: Clock,
    duration: Family<Histogram>,
    busy: Family<Histogram>,
    idle: Family<Histogram>,
    slow: Option<Family<Counter>>,
    stages: RwLock<HashMap<String, Arc<StageHandles>>>,
}

struct StageHandles {
    stage: String,
    duration: Histogram,
    busy: Histogram,
    idle: Histogram,
    slow: Option<Counter>,
}

/// Configures a [`StageLayer`].
///
/// ```
/// use perf_instrument::StageLayer;
/// use std::time::Duration;
/// let builder = StageLayer::builder()
///     .pipeline("orders")
///     .target("shop::orders")
///     .field("stage")
///     .warn_slower_than(Duration::from_millis(250));
/// # let _ = builder;
/// ```
#[derive(Debug)]
#[must_use]
pub struct StageLayerBuilder {
    pipeline: String,
    target: Option<String>,
    field: Option<String>,
    slow: Option<Duration>,
    clock: Option<Clock>,
    shape: HistogramShape,
}

/// What the layer keeps in a span's extensions.
struct Timing {
    handles: Arc<StageHandles>,
    created: u64,
    /// The last enter or exit (or the creation).
    last: u64,
    busy: u64,
    idle: u64,
    depth: u32,
}

impl StageLayer {
    /// A builder: pipeline `"tracing"`, every span, no slow-span warnings.
    ///
    /// ```
    /// let layer = perf_instrument::StageLayer::builder().build(&perf_instrument::Registry::new());
    /// assert!(layer.is_ok());
    /// ```
    pub fn builder() -> StageLayerBuilder {
        StageLayerBuilder {
            pipeline: "tracing".to_string(),
            target: None,
            field: None,
            slow: None,
            clock: None,
            shape: HistogramShape::default(),
        }
    }

    /// Whether the layer records spans of this metadata (target prefix and field filters).
    fn wants(&self, metadata: &tracing::Metadata<'_>) -> bool {
        let inner = &self.inner;
        metadata.is_span()
            && inner
                .target
                .as_deref()
                .is_none_or(|t| metadata.target().starts_with(t))
            && inner
                .field
                .as_deref()
                .is_none_or(|f| metadata.fields().field(f).is_some())
    }

    fn handles(&self, stage: &str) -> Arc<StageHandles> {
        let inner = &self.inner;
        if let Some(handles) = inner.stages.read().get(stage) {
            return handles.clone();
        }
        let labels = [inner.pipeline.as_str(), stage];
        let handles = Arc::new(StageHandles {
            stage: stage.to_string(),
            duration: inner.duration.with_label_values(&labels),
            busy: inner.busy.with_label_values(&labels),
            idle: inner.idle.with_label_values(&labels),
            slow: inner.slow.as_ref().map(|f| f.with_label_values(&labels)),
        });
        let mut stages = inner.stages.write();
        if stages.len() < MAX_CACHED_STAGES {
            stages.insert(stage.to_string(), handles.clone());
        }
        handles
    }
}

impl StageLayerBuilder {
    /// The `pipeline` label value (default `"tracing"`).
    ///
    /// ```
    /// let b = perf_instrument::StageLayer::builder().pipeline("orders");
    /// # let _ = b;
    /// ```
    pub fn pipeline(mut self, name: impl Into<String>) -> Self {
        self.pipeline = name.into();
        self
    }

    /// Records only spans whose target starts with `prefix` (a module path, such as
    /// `"shop::orders"`).
    ///
    /// ```
    /// let b = perf_instrument::StageLayer::builder().target("shop");
    /// # let _ = b;
    /// ```
    pub fn target(mut self, prefix: impl Into<String>) -> Self {
        self.target = Some(prefix.into());
        self
    }

    /// Records only spans that have the field `name`; when the span gives it a value (a string,
    /// or anything with `Debug`), that value is the `stage` label instead of the span's name:
    /// `#[tracing::instrument(fields(stage = "persist"))]`.
    ///
    /// ```
    /// let b = perf_instrument::StageLayer::builder().field("stage");
    /// # let _ = b;
    /// ```
    pub fn field(mut self, name: impl Into<String>) -> Self {
        self.field = Some(name.into());
        self
    }

    /// Counts, and logs as a warning, each span whose duration (creation to close) exceeds
    /// `threshold`; faster spans are not logged.
    ///
    /// ```
    /// let b = perf_instrument::StageLayer::builder()
    ///     .warn_slower_than(std::time::Duration::from_secs(1));
    /// # let _ = b;
    /// ```
    pub fn warn_slower_than(mut self, threshold: Duration) -> Self {
        self.slow = Some(threshold);
        self
    }

    /// Native schema of the stage histograms, 0 to 8 (default 3; see
    /// [`Opts::schema`](crate::Opts::schema)). `pipeline_stage_duration_seconds` is shared with
    /// [`Pipeline`](crate::Pipeline)s of the registry, so they must agree on it; outside
    /// `0..=8`, `build` fails with
    /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::StageLayer::builder().schema(5).build(&r).is_ok());
    /// assert!(perf_instrument::StageLayer::builder().schema(9).build(&r).is_err());
    /// ```
    pub fn schema(mut self, schema: i32) -> Self {
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of the stage histograms (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) seconds), shared with the
    /// registry's pipelines as the schema is.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, StageLayer, Unit};
    /// let r = Registry::new();
    /// let coarse = Buckets::from_values(Unit::Seconds, &[0.001, 1.0]);
    /// let _layer = StageLayer::builder().buckets(coarse).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// assert!(text.contains("# TYPE pipeline_stage_busy_seconds histogram"));
    /// ```
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
        self
    }

    /// The clock (default: the process clock; a manual one in tests).
    ///
    /// ```
    /// let b = perf_instrument::StageLayer::builder().clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Registers the families in `registry` and builds the layer.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the families clash with others in `registry`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let layer = perf_instrument::StageLayer::builder().build(&registry).unwrap();
    /// # let _ = layer;
    /// ```
    pub fn build(self, registry: &Registry) -> Result<StageLayer, RegistryError> {
        let duration = registry.register_histogram(self.shape.opts(&STAGE_DURATION))?;
        let busy = registry.register_histogram(self.shape.opts(&families::STAGE_BUSY))?;
        let idle = registry.register_histogram(self.shape.opts(&families::STAGE_IDLE))?;
        let slow = match self.slow {
            Some(_) => Some(registry.register_counter(families::STAGE_SLOW.opts())?),
            None => None,
        };
        Ok(StageLayer {
            inner: Arc::new(Inner {
                pipeline: self.pipeline,
                target: self.target,
                field: self.field,
                slow_nanos: self
                    .slow
                    .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                clock: self.clock.unwrap_or_else(|| clock::global().clone()),
                duration,
                busy,
                idle,
                slow,
                stages: RwLock::new(HashMap::new()),
            }),
        })
    }
}

/// Finds the value of one field.
struct FieldValue<'a> {
    name: &'a str,
    value: Option<String>,
}

impl Visit for FieldValue<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            self.value = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == self.name {
            self.value = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for StageLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if !self.wants(metadata) {
            return;
        }
        let stage = match &self.inner.field {
            Some(name) => {
                let mut visitor = FieldValue { name, value: None };
                attrs.record(&mut visitor);
                visitor.value
            }
            None => None,
        };
        let handles = self.handles(stage.as_deref().unwrap_or(metadata.name()));
        let Some(span) = ctx.span(id) else {
            return;
        };
        let now = self.inner.clock.raw();
        span.extensions_mut().insert(Timing {
            handles,
            created: now,
            last: now,
            busy: 0,
            idle: 0,
            depth: 0,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<Timing>() {
            if timing.depth == 0 {
                let now = self.inner.clock.raw();
                timing.idle += now.saturating_sub(timing.last);
                timing.last = now;
            }
            timing.depth += 1;
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<Timing>() {
            timing.depth = timing.depth.saturating_sub(1);
            if timing.depth == 0 {
                let now = self.inner.clock.raw();
                timing.busy += now.saturating_sub(timing.last);
                timing.last = now;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(mut timing) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        let clock = &self.inner.clock;
        let now = clock.raw();
        let since_last = now.saturating_sub(timing.last);
        if timing.depth == 0 {
            timing.idle += since_last;
        } else {
            timing.busy += since_last;
        }
        let handles = &timing.handles;
        handles.duration.record_elapsed(clock, timing.created, now);
        handles.busy.record_elapsed(clock, 0, timing.busy);
        handles.idle.record_elapsed(clock, 0, timing.idle);
        if let (Some(threshold), Some(slow)) = (self.inner.slow_nanos, &handles.slow) {
            let took = clock.delta_nanos(timing.created, now);
            if took > threshold {
                slow.inc();
                let span_target = span.metadata().target();
                drop(span);
                tracing::warn!(
                    target: "perf_instrument::slow_span",
                    pipeline = %self.inner.pipeline,
                    stage = %handles.stage,
                    span_target,
                    took_ms = took as f64 / 1e6,
                    busy_ms = clock.delta_nanos(0, timing.busy) as f64 / 1e6,
                    idle_ms = clock.delta_nanos(0, timing.idle) as f64 / 1e6,
                    threshold_ms = threshold as f64 / 1e6,
                    "slow span: stage {} of pipeline {} took {:.3} ms",
                    handles.stage,
                    self.inner.pipeline,
                    took as f64 / 1e6,
                );
            }
        }
    }
}

impl fmt::Debug for StageLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageLayer")
            .field("pipeline", &self.inner.pipeline)
            .field("target", &self.inner.target)
            .field("field", &self.inner.field)
            .field("slow_nanos", &self.inner.slow_nanos)
            .finish()
    }
}
