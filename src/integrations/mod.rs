//! Layer 8: integrations — what lets code that does not call this crate directly record into a
//! [`Registry`](crate::Registry): the runtime of the `#[timed]` attribute, a `metrics` facade
//! recorder (feature `metrics`), a `tracing-subscriber` layer (feature `tracing-layer`),
//! tokio's channel and runtime metrics (feature `tokio`), a `prometheus-client` collector
//! (feature `prometheus-client`), and exemplars from the current `tracing` span's OpenTelemetry
//! trace (feature `opentelemetry`).
//!
//! Whatever an integration cannot take as given (a registration refused by the registry, a
//! negative or NaN histogram value, a metric name seen with other label keys) is counted in
//! `perf_instrument_integration_errors_total{integration,reason}` and, where a person has to
//! fix something, logged once as a `tracing` warning. Nothing panics the host.

mod errors;
#[cfg(feature = "metrics")]
mod metrics_recorder;
#[cfg(feature = "opentelemetry")]
mod otel_trace;
#[cfg(feature = "prometheus-client")]
mod prometheus_client;
pub(crate) mod timed;
#[cfg(feature = "tokio")]
pub mod tokio_channel;
#[cfg(feature = "tokio")]
mod tokio_runtime;
#[cfg(feature = "tracing-layer")]
mod tracing_layer;

/// The catalogue entries of the integrations' families.
pub(crate) mod families {
    use crate::registry::FamilyDef;

    /// `#[timed]`.
    pub(crate) const TIMED: &[&FamilyDef] = super::timed::families::ALL;
    /// `StageLayer` (feature `tracing-layer`).
    #[cfg(feature = "tracing-layer")]
    pub(crate) const TRACING_LAYER: &[&FamilyDef] = super::tracing_layer::families::ALL;
    /// `StageLayer` (feature `tracing-layer`, off).
    #[cfg(not(feature = "tracing-layer"))]
    pub(crate) const TRACING_LAYER: &[&FamilyDef] = &[];
    /// `TokioRuntimeCollector` (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub(crate) const TOKIO_RUNTIME: &[&FamilyDef] = super::tokio_runtime::families::ALL;
    /// `TokioRuntimeCollector` (feature `tokio`, off).
    #[cfg(not(feature = "tokio"))]
    pub(crate) const TOKIO_RUNTIME: &[&FamilyDef] = &[];
    /// The error counter every integration shares.
    pub(crate) const ERRORS: &[&FamilyDef] = &[&super::errors::INTEGRATION_ERRORS];
}

#[cfg(feature = "metrics")]
pub use metrics_recorder::{
    InstallError, MetricsRecorder, MetricsRecorderBuilder, DEFAULT_MAX_FACADE_FAMILIES,
    MAX_CACHED_KEYS,
};
#[cfg(feature = "opentelemetry")]
pub use otel_trace::TraceLabels;
#[cfg(feature = "prometheus-client")]
pub use prometheus_client::PrometheusClientCollector;
#[cfg(feature = "tokio")]
pub use tokio_runtime::TokioRuntimeCollector;
#[cfg(feature = "tracing-layer")]
pub use tracing_layer::{StageLayer, StageLayerBuilder};
