//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod exposition;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that is pending once (waking itself), then ready: an `.await` point.
pub struct YieldNow(pub bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
#[cfg(perf_instrument_loom)]
pub mod loom_model;

/// A registry without the process collector, so scrapes show only what a test registered.
pub fn registry() -> perf_instrument::Registry {
    perf_instrument::Registry::builder()
        .process_metrics(false)
        .build()
        .unwrap()
}

/// A registry without self metrics or the process collector: a scrape holds exactly the
/// families a test registered.
pub fn quiet_registry() -> perf_instrument::Registry {
    perf_instrument::Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap()
}

/// The registry in the Prometheus text format, parsed (panics with the text if it does not
/// parse).
pub fn scrape(registry: &perf_instrument::Registry) -> exposition::Parsed {
    let body = perf_instrument::render_as(registry, perf_instrument::Format::PrometheusText);
    let text = String::from_utf8(body).unwrap();
    exposition::parse(&text, exposition::Dialect::Prometheus)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The value of the sample `name` of `family` whose labels include all of `labels`.
pub fn value(
    parsed: &exposition::Parsed,
    family: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    parsed.get(family)?.samples.iter().find_map(|s| {
        (s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v))).then_some(s.value)
    })
}

/// Polls `condition` every millisecond until it holds (true) or `within` passes (false): for
/// what a background thread does eventually.
pub fn eventually(within: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
