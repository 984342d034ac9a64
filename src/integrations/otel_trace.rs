//! Trace exemplars (feature `opentelemetry`): the trace and span ids of the current `tracing`
//! span's OpenTelemetry context, as exemplar labels, and the recording methods that attach them.
//!
//! The context comes from `tracing-opentelemetry`'s `OpenTelemetrySpanExt::context()` on
//! `tracing::Span::current()`, so it is there when the application's subscriber has a
//! `tracing_opentelemetry` layer over a tracer, and the code runs inside one of its spans.
//! Nothing here is on [`Histogram::record`]'s path: only the `*_with_trace` methods look the
//! context up.

use crate::recorder::{Counter, Histogram};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use std::fmt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Lower-case hexadecimal digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The exemplar labels of one OpenTelemetry span: `trace_id` (32 lower-case hex digits) and
/// `span_id` (16), the form W3C trace context and the tracing back ends (Tempo, Jaeger) show,
/// so a Prometheus exemplar links to the trace. 66 characters of the 128 an exemplar may carry.
///
/// Built on the stack, without allocating, by [`from_current_span`](Self::from_current_span)
/// (the current `tracing` span) or [`from_span_context`](Self::from_span_context); pass
/// [`as_labels`](Self::as_labels) to any `*_with_exemplar` method, or use
/// [`Histogram::record_with_trace`] and [`Counter::inc_by_with_trace`].
///
/// ```
/// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use perf_instrument::TraceLabels;
///
/// let cx = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     false,
///     TraceState::default(),
/// );
/// let labels = TraceLabels::from_span_context(&cx).unwrap();
/// assert_eq!(
///     labels.as_labels(),
///     [("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("span_id", "00f067aa0ba902b7")]
/// );
/// assert!(TraceLabels::from_span_context(&SpanContext::NONE).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceLabels {
    /// `trace_id` then `span_id`, as hex digits.
    hex: [u8; 48],
}

impl TraceLabels {
    /// The labels of the current `tracing` span's OpenTelemetry span context, or `None` when
    /// there is none: no current span, a subscriber without a `tracing_opentelemetry` layer,
    /// or an invalid (all-zero) trace or span id. A valid context counts whether it was
    /// sampled or not: an unsampled trace's id still names the request in logs and in the
    /// services that did sample it.
    ///
    /// Cost: `Span::current()` (a dispatcher and a current-span lookup, and a span reference
    /// taken and released), `context()` (a lookup of the span's extensions under the registry's
    /// read lock, and a `Context` clone: one reference count up and down), and 48 hex digits
    /// written on the stack. No allocation. Measured in `docs/BENCHMARKS.md` ("Trace
    /// exemplars"). Calling it also builds the OpenTelemetry span of a `tracing` span that had
    /// not built it yet, as any `context()` call does.
    ///
    /// ```
    /// use opentelemetry::trace::TracerProvider as _;
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use perf_instrument::TraceLabels;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// assert!(TraceLabels::from_current_span().is_none()); // no subscriber, no span
    ///
    /// let provider = SdkTracerProvider::builder().build();
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("example")));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     assert!(TraceLabels::from_current_span().is_none()); // outside any span
    ///     let _entered = tracing::info_span!("request").entered();
    ///     let labels = TraceLabels::from_current_span().unwrap();
    ///     assert_eq!(labels.trace_id().len(), 32);
    ///     assert_eq!(labels.span_id().len(), 16);
    /// });
    /// ```
    #[must_use]
    pub fn from_current_span() -> Option<Self> {
        let cx = tracing::Span::current().context();
        let span = cx.span();
        Self::from_span_context(span.span_context())
    }

    /// The labels of the thread's current OpenTelemetry [`Context`](opentelemetry::Context)
    /// (`Context::current()`), or `None` when it has no valid span context: a cheaper lookup
    /// than [`from_current_span`](Self::from_current_span) (read in place, no `tracing`
    /// dispatch; about a quarter of its time in `docs/BENCHMARKS.md`). It sees a `tracing`
    /// span's context when the `tracing_opentelemetry` layer attaches it on entering the span
    /// (its context activation, on by default in 0.34), and a context the code attached through
    /// the OpenTelemetry API itself; with activation turned off, use `from_current_span`.
    ///
    /// ```
    /// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
    /// use perf_instrument::TraceLabels;
    ///
    /// assert!(TraceLabels::from_current_context().is_none());
    /// let remote = SpanContext::new(
    ///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
    ///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
    ///     TraceFlags::SAMPLED,
    ///     true,
    ///     TraceState::default(),
    /// );
    /// let _attached = opentelemetry::Context::new().with_remote_span_context(remote).attach();
    /// let labels = TraceLabels::from_current_context().unwrap();
    /// assert_eq!(labels.span_id(), "00f067aa0ba902b7");
    /// ```
    #[must_use]
    pub fn from_current_context() -> Option<Self> {
        opentelemetry::Context::map_current(|cx| Self::from_span_context(cx.span().span_context()))
    }

    /// The labels of `cx`, or `None` when its trace id or span id is invalid (all zero).
    ///
    /// ```
    /// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    /// let cx = SpanContext::new(
    ///     TraceId::from_bytes([0xab; 16]),
    ///     SpanId::INVALID,
    ///     TraceFlags::default(),
    ///     false,
    ///     TraceState::default(),
    /// );
    /// assert!(perf_instrument::TraceLabels::from_span_context(&cx).is_none());
    /// ```
    #[must_use]
    pub fn from_span_context(cx: &SpanContext) -> Option<Self> {
        if !cx.is_valid() {
            return None;
        }
        let mut hex = [0u8; 48];
        let bytes = cx
            .trace_id()
            .to_bytes()
            .into_iter()
            .chain(cx.span_id().to_bytes());
        for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        Some(Self { hex })
    }

    /// The trace id: 32 lower-case hex digits.
    ///
    /// ```
    /// # use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    /// # let cx = SpanContext::new(TraceId::from_bytes([0xab; 16]), SpanId::from_bytes([1; 8]),
    /// #     TraceFlags::default(), false, TraceState::default());
    /// let labels = perf_instrument::TraceLabels::from_span_context(&cx).unwrap();
    /// assert_eq!(labels.trace_id(), "ab".repeat(16));
    /// ```
    #[must_use]
    pub fn trace_id(&self) -> &str {
        self.digits(0..32)
    }

    /// The span id: 16 lower-case hex digits.
    ///
    /// ```
    /// # use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    /// # let cx = SpanContext::new(TraceId::from_bytes([0xab; 16]), SpanId::from_bytes([1; 8]),
    /// #     TraceFlags::default(), false, TraceState::default());
    /// let labels = perf_instrument::TraceLabels::from_span_context(&cx).unwrap();
    /// assert_eq!(labels.span_id(), "0101010101010101");
    /// ```
    #[must_use]
    pub fn span_id(&self) -> &str {
        self.digits(32..48)
    }

    /// The exemplar label set: `[("trace_id", …), ("span_id", …)]`, for any `*_with_exemplar`
    /// method (for instance [`Pipeline::finish_with_exemplar`](crate::Pipeline::finish_with_exemplar)).
    ///
    /// ```
    /// # use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    /// # let cx = SpanContext::new(TraceId::from_bytes([7; 16]), SpanId::from_bytes([9; 8]),
    /// #     TraceFlags::SAMPLED, false, TraceState::default());
    /// use perf_instrument::{Histogram, TraceLabels, Unit};
    /// let labels = TraceLabels::from_span_context(&cx).unwrap();
    /// let h = Histogram::new(Unit::Seconds);
    /// h.record_with_exemplar(1_000, &labels.as_labels()).unwrap();
    /// assert_eq!(h.exemplars()[0].labels()[1].1, "0909090909090909");
    /// ```
    #[must_use]
    pub fn as_labels(&self) -> [(&'static str, &str); 2] {
        [("trace_id", self.trace_id()), ("span_id", self.span_id())]
    }

    fn digits(&self, range: std::ops::Range<usize>) -> &str {
        // Only ASCII hex digits are ever written, so this never fails.
        std::str::from_utf8(&self.hex[range]).unwrap_or_default()
    }
}

impl fmt::Debug for TraceLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceLabels")
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .finish()
    }
}

impl Histogram {
    /// Records `value` and, when the current `tracing` span has an OpenTelemetry span context,
    /// keeps its `trace_id` and `span_id` as an exemplar of it (as
    /// [`record_with_exemplar`](Self::record_with_exemplar) with
    /// [`TraceLabels::from_current_span`]); without one, records as [`record`](Self::record)
    /// does. Returns whether an exemplar was kept: `false` without a span context, or when
    /// another thread was storing one in the same octave at that instant (dropped, counted in
    /// `perf_instrument_exemplars_refused_total`). The value is recorded either way.
    ///
    /// Cost over `record`: the context lookup of [`TraceLabels::from_current_span`] on every
    /// call, and, when there is a context, the exemplar's store (wall clock, a try-lock, a copy
    /// of the labels; no allocation after the slot's first). Call it where a trace link is
    /// worth that (a request's total, a slow path), not in a tight loop; figures in
    /// `docs/BENCHMARKS.md`.
    ///
    /// ```
    /// use opentelemetry::trace::TracerProvider as _;
    /// use perf_instrument::{Histogram, Unit};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let latency = Histogram::new(Unit::Seconds);
    /// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("example")));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     assert!(!latency.record_with_trace(1_000)); // no span: a plain record
    ///     let _request = tracing::info_span!("request").entered();
    ///     assert!(latency.record_with_trace(250_000_000));
    /// });
    /// assert_eq!(latency.snapshot().count(), 2);
    /// let kept = latency.exemplars();
    /// assert_eq!(kept.len(), 1);
    /// assert_eq!(kept[0].labels()[0].0, "trace_id");
    /// ```
    pub fn record_with_trace(&self, value: u64) -> bool {
        match TraceLabels::from_current_span() {
            Some(trace) => self.record_with_exemplar(value, &trace.as_labels()).is_ok(),
            None => {
                self.record(value);
                false
            }
        }
    }
}

impl Counter {
    /// Adds `n` and, when the current `tracing` span has an OpenTelemetry span context, keeps
    /// its `trace_id` and `span_id` as the counter's exemplar (as
    /// [`inc_by_with_exemplar`](Self::inc_by_with_exemplar) with
    /// [`TraceLabels::from_current_span`]); without one, adds as [`inc_by`](Self::inc_by)
    /// does. Returns whether an exemplar was kept (see
    /// [`Histogram::record_with_trace`] for when it is not, and for the cost).
    ///
    /// ```
    /// use opentelemetry::trace::TracerProvider as _;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let failures = perf_instrument::Counter::new();
    /// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("example")));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _request = tracing::info_span!("request").entered();
    ///     assert!(failures.inc_by_with_trace(1));
    /// });
    /// assert!(!failures.inc_by_with_trace(1)); // no subscriber here: a plain increment
    /// assert_eq!(failures.get(), 2);
    /// assert_eq!(failures.exemplar().unwrap().labels()[1].0, "span_id");
    /// ```
    pub fn inc_by_with_trace(&self, n: u64) -> bool {
        match TraceLabels::from_current_span() {
            Some(trace) => self.inc_by_with_exemplar(n, &trace.as_labels()).is_ok(),
            None => {
                self.inc_by(n);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    #[test]
    fn hex_digits_are_lower_case_and_in_byte_order() {
        let cx = SpanContext::new(
            TraceId::from_bytes([
                0x00, 0x01, 0x0a, 0xf0, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90,
                0xa0, 0xbc,
            ]),
            SpanId::from_bytes([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]),
            TraceFlags::default(),
            true,
            TraceState::default(),
        );
        let labels = TraceLabels::from_span_context(&cx).unwrap();
        assert_eq!(labels.trace_id(), "00010af0ff102030405060708090a0bc");
        assert_eq!(labels.span_id(), "deadbeef00000001");
        // The same text as OpenTelemetry's own rendering.
        assert_eq!(labels.trace_id(), format!("{}", cx.trace_id()));
        assert_eq!(labels.span_id(), format!("{}", cx.span_id()));
        assert_eq!(
            format!("{labels:?}"),
            "TraceLabels { trace_id: \"00010af0ff102030405060708090a0bc\", span_id: \"deadbeef00000001\" }"
        );
    }

    #[test]
    fn an_unsampled_context_counts_and_an_invalid_trace_id_does_not() {
        let unsampled = SpanContext::new(
            TraceId::from_bytes([1; 16]),
            SpanId::from_bytes([2; 8]),
            TraceFlags::NOT_SAMPLED,
            false,
            TraceState::default(),
        );
        assert!(TraceLabels::from_span_context(&unsampled).is_some());
        let no_trace = SpanContext::new(
            TraceId::INVALID,
            SpanId::from_bytes([2; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        assert!(TraceLabels::from_span_context(&no_trace).is_none());
    }

    #[test]
    fn without_a_context_the_value_is_recorded_plainly() {
        let h = Histogram::new(crate::recorder::Unit::Count);
        assert!(!h.record_with_trace(5));
        assert_eq!(h.snapshot().count(), 1);
        assert!(h.exemplars().is_empty());
    }
}
