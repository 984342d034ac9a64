//! # perf-instrument
//!
//! Fast, truthful performance instrumentation for services: lock-free recorders with bounded
//! memory, exported to Prometheus.
//!
//! The crate is built in layers; each uses only the ones above it in this list.
//!
//! 1. `sync`: the one place that names atomics and thread-locals (loom swaps them in tests).
//! 2. [`clock`](Clock): a TSC-based monotonic clock and a manual clock for tests.
//! 3. recorders: [`Counter`], [`Gauge`], [`Histogram`] and [`HistogramSnapshot`].
//! 4. registry: [`Registry`], [`Family`], [`Opts`], validated names, capped series, the
//!    process collector, and [`BackgroundThread`], the handle of every sweeper and watchdog.
//! 5. instruments: domain types built from the layers above — [`Pipeline`], [`QueueProbe`]
//!    (and [`channel`]), [`PendingTracker`], [`LongTaskTimer`], [`BatchRecorder`], the
//!    instrumented locks of [`lock`] ([`Mutex`] and [`RwLock`] also here; guards, the
//!    `AsyncMutex`, the builders and the [`LockWatchdog`](lock::LockWatchdog) there), and the
//!    saga tracker of [`saga`] ([`SagaTracker`] also here; its ids, outcomes, verdicts, errors
//!    and reports there). Every instrument is made by `builder(name)` … `build(&registry)`.
//! 6. report: the human [`Report`] — percentile tables and findings — read from registry
//!    snapshots.
//! 7. exposition: [`render`] (Prometheus text 0.0.4 and OpenMetrics 1.0, negotiated) through
//!    one [`Encoder`] per wire format, and the `/metrics` endpoint [`serve`] / [`Server`]
//!    (feature `http`).
//! 8. integrations: the runtime of [`#[timed]`](macro@timed) (feature `macros`), a `metrics`
//!    facade recorder `MetricsRecorder` (feature `metrics`), a `tracing-subscriber` layer
//!    `StageLayer` (feature `tracing-layer`), and exemplars from the current `tracing` span's
//!    OpenTelemetry trace, `TraceLabels` (feature `opentelemetry`).
//!
//! Each instrument and integration declares its metric families once, as a [`FamilyDef`]:
//! registration, the report's tables ([`TableSpec`]) and the documentation read the same
//! entries, and [`catalogue()`] lists them all.
//!
//! Beside the layers, [`load`] (feature `load`) is an open-loop load driver that measures
//! latency from each call's intended start, runs phase plans and saturation sweeps, saves run
//! records and compares them into a verdict.
//!
//! ## Recording costs a few plain stores
//!
//! Counters and histograms are sharded by *lane*. A thread claims a lane the first time it
//! records (one per core plus two, 64 at most; the `PERF_INSTRUMENT_LANES` environment
//! variable overrides the number) and is then the only writer of that lane's cache-padded shard
//! in every recorder, so it records with plain loads and stores: no `lock`-prefixed instruction,
//! no cache line shared with another writer. Threads beyond the lane count write one shared
//! shard atomically. A lane goes back to the pool when its thread exits.
//!
//! ## Histograms are exact within a stated bound
//!
//! Histograms record integers into the layout of one Prometheus native-histogram schema,
//! chosen per histogram from 0 to 8 ([`Schema`]; default 3, eight log buckets per power of
//! two), so every reported quantile is within the schema's relative error of the exact one
//! ([`RELATIVE_ERROR`], 4.33%, at schema 3; 0.135% at schema 8), `count` always equals the sum
//! of the bucket counts, sums are exact 128-bit integers, and snapshots merge by addition
//! (at the coarser schema when two differ).
//!
//! ```
//! use perf_instrument::{Counter, Gauge, Histogram, Unit};
//!
//! let requests = Counter::new();
//! let in_flight = Gauge::new();
//! let latency = Histogram::new(Unit::Seconds);
//!
//! in_flight.inc();
//! let timer = latency.start_timer();
//! // ... handle the request ...
//! drop(timer);
//! in_flight.dec();
//! requests.inc();
//!
//! let snap = latency.snapshot();
//! assert_eq!((requests.get(), in_flight.get(), snap.count()), (1, 0, 1));
//! println!("p99 = {:?} s", snap.quantile(0.99));
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod catalogue;
mod clock;
#[cfg(any(feature = "push-gateway", feature = "remote-write", feature = "otlp"))]
pub mod export;
mod expose;
mod instrument;
mod integrations;
#[cfg(feature = "load")]
pub mod load;
mod recorder;
mod registry;
mod report;
mod sync;

pub use catalogue::catalogue;
pub use clock::{Clock, ClockSource, ManualClock, TIME_UNITS_PER_SECOND};
#[cfg(feature = "protobuf")]
pub use expose::protobuf;
#[cfg(feature = "protobuf")]
pub use expose::ProtobufEncoder;
pub use expose::{render, render_as, Format};
#[cfg(feature = "http")]
pub use expose::{
    serve, BasicAuth, Route, RouteRequest, Server, ServerBuilder, ServerError, DEFAULT_ADDR,
};
pub use expose::{Encoder, OpenMetricsEncoder, TextEncoder};
pub use instrument::{
    channel, BatchRecorder, BatchRecorderBuilder, BatchTimer, EventToken, LongTask, LongTaskTimer,
    LongTaskTimerBuilder, Mutex, PendingKey, PendingTracker, PendingTrackerBuilder, Pipeline,
    PipelineBuilder, QueueProbe, QueueProbeBuilder, RemoteToken, RwLock, SagaTracker, Stage,
    StageGuard, Stamp, DEFAULT_MAX_PENDING_KEY_BYTES,
};
pub use instrument::{lock, saga};
#[cfg(feature = "tokio")]
pub use instrument::{RuntimeStallProbe, RuntimeStallProbeBuilder};
#[cfg(feature = "prometheus-client")]
pub use integrations::PrometheusClientCollector;
#[cfg(feature = "opentelemetry")]
pub use integrations::TraceLabels;
#[cfg(feature = "tokio")]
pub use integrations::{tokio_channel, TokioRuntimeCollector};
#[cfg(feature = "metrics")]
pub use integrations::{
    InstallError, MetricsRecorder, MetricsRecorderBuilder, DEFAULT_MAX_FACADE_FAMILIES,
    MAX_CACHED_KEYS,
};
#[cfg(feature = "tracing-layer")]
pub use integrations::{StageLayer, StageLayerBuilder};
#[cfg(feature = "macros")]
pub use perf_instrument_macros::timed;
pub use recorder::layout::{Schema, MAX_VALUE, RELATIVE_ERROR, SCHEMA};
pub use recorder::{
    Bucket, Counter, Exemplar, ExemplarError, Gauge, Histogram, HistogramSnapshot, HistogramTimer,
    InFlightGuard, OwnedInFlightGuard, Unit, MAX_EXEMPLAR_LABEL_CHARS, MAX_FILL_IN,
};
pub use registry::{
    BackgroundThread, Buckets, Collector, Descriptor, Family, FamilyDef, FamilySnapshot, FnGauge,
    LabelValues, LabelValuesIter, MetricKind, Opts, Registry, RegistryBuilder, RegistryError,
    RegistrySnapshot, Resources, ResourcesBuilder, Series, SeriesSnapshot, SeriesValue, TableSpec,
    Tabling, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_SERIES, DEFAULT_TABLE_RANK,
    OVERFLOW_LABEL_VALUE,
};
#[cfg(feature = "html")]
pub use report::live_page;
pub use report::{
    sort_findings, Finding, FindingKind, Machine, MemoryUse, Report, ReportHistory, ResourceUse,
    Row, Severity, Table, Threshold, Utilisation, CPU_THRESHOLD, IO_THRESHOLD, MEMORY_THRESHOLD,
    MIN_QUEUE_GROWTH, SATURATED_UTILISATION, TARGET_SHARE,
};
pub use report::{SpectrumPoint, SPECTRUM_QUANTILES};

/// The README's tour, compiled and run as doc tests.
#[cfg(all(
    doctest,
    feature = "macros",
    feature = "http",
    feature = "metrics",
    feature = "tracing-layer",
    feature = "push-gateway",
    feature = "remote-write",
    feature = "otlp",
    feature = "opentelemetry"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// What `#[timed]` expands to calls; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use super::integrations::timed::{
        call_once, claim_stage_for_function, judge, typed_future, Call, Outcome, OutcomeOfAny,
        OutcomeOfResult, Site, SiteConfig,
    };
}

/// Internals exposed to the loom models in `tests/loom_*.rs`; absent from normal builds.
#[cfg(perf_instrument_loom)]
#[doc(hidden)]
pub mod __loom {
    #[cfg(feature = "http")]
    pub use super::expose::{take_slot, Slot};
    pub use super::instrument::{Held, HeldRecord, ReadHeld, ReadStretch, Sites, MAX_SITES};
    pub use super::recorder::{LaneTable, WideSum};
}
