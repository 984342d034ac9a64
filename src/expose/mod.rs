//! Layer 6: exposition — the `Encoder` seam and its wire formats, content negotiation, the HTTP
//! endpoint, and the human `Report`.

mod encode;
#[cfg(feature = "http")]
mod http;
mod negotiate;
pub(crate) mod number;
#[cfg(feature = "protobuf")]
pub mod protobuf;
mod text;

#[cfg(feature = "protobuf")]
pub use encode::ProtobufEncoder;
pub use encode::{Encoder, OpenMetricsEncoder, TextEncoder};
#[cfg(feature = "http")]
pub use http::{
    serve, BasicAuth, Route, RouteRequest, Server, ServerBuilder, ServerError, DEFAULT_ADDR,
};
#[cfg(all(feature = "http", perf_instrument_loom))]
pub use http::{take_slot, Slot};
pub use negotiate::Format;

use crate::registry::Registry;
use std::time::Instant;

/// Renders `registry` in the format `accept` (an HTTP `Accept` header) asks for; returns the
/// exact `Content-Type` and the body. Mount it on `/metrics` in the service's own router.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// registry.counter("jobs", "Jobs.").unwrap().inc();
/// let (content_type, body) = perf_instrument::render(
///     &registry,
///     Some("application/openmetrics-text;version=1.0.0"),
/// );
/// assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains("jobs_total 1\n"));
/// assert!(text.ends_with("# EOF\n"));
/// ```
#[must_use]
pub fn render(registry: &Registry, accept: Option<&str>) -> (&'static str, Vec<u8>) {
    let format = Format::from_accept(accept);
    (format.content_type(), render_as(registry, format))
}

/// Renders `registry` in `format`.
///
/// ```
/// use perf_instrument::{render_as, Format, Registry};
/// let registry = Registry::builder().self_metrics(false).process_metrics(false).build().unwrap();
/// registry.gauge("depth", "Queue depth.").unwrap().set(3);
/// let text = String::from_utf8(render_as(&registry, Format::PrometheusText)).unwrap();
/// assert_eq!(text, "# HELP depth Queue depth.\n# TYPE depth gauge\ndepth 3\n");
/// ```
///
/// It is the format's [`Encoder`] over the registry (see [`Format::encoder`]), counted as a
/// scrape in the self metrics.
#[must_use]
pub fn render_as(registry: &Registry, format: Format) -> Vec<u8> {
    let started = Instant::now();
    // Room for the last render and an eighth more: one allocation for a registry that holds
    // steady, where growing from 4 KiB would copy a 10 MB body a dozen times.
    let last = registry.last_render_bytes();
    let mut out = Vec::with_capacity((last + last / 8).max(4096));
    format.encoder().encode_registry(registry, &mut out);
    registry.set_last_render_bytes(out.len());
    if let Some(metrics) = registry.self_metrics() {
        metrics.record_scrape(started.elapsed(), out.len());
    }
    out
}
