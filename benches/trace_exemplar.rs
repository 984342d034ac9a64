//! Trace exemplars (feature `opentelemetry`), one thread: `record_with_trace` inside a `tracing`
//! span backed by an OpenTelemetry span, beside `record_with_exemplar` given the same two labels
//! explicitly, the plain `record`, `record_with_trace` outside any span (the fallback), and the
//! context lookup `TraceLabels::from_current_span` alone, and, for comparison, reading the
//! OpenTelemetry context that the layer attaches to the thread on entering a span. The subscriber is a `tracing-subscriber`
//! registry with a `tracing-opentelemetry` layer over an SDK tracer provider (no exporter).

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use perf_instrument::{Histogram, TraceLabels, Unit};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// Values cycled through (a power of two, so the index is a mask): 1 µs to about 1 s.
const TABLE: usize = 1 << 10;

fn values_ns() -> Vec<u64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..TABLE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1_000 << (state % 20)
        })
        .collect()
}

fn trace_exemplar(c: &mut Criterion) {
    let ns = values_ns();
    // 64 explicit label sets of the same shape as a trace's: 32 + 16 hex digits.
    let ids: Vec<(String, String)> = (0..64u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (format!("{x:016x}{i:016x}"), format!("{x:016x}"))
        })
        .collect();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let _subscriber = tracing::subscriber::set_default(subscriber);

    let mut group = c.benchmark_group("trace_exemplar/1_thread");
    let h = Histogram::new(Unit::Seconds);
    group.bench_function("record", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                h.record(black_box(ns[i & (TABLE - 1)]));
            }
            start.elapsed()
        })
    });
    group.bench_function("record_with_exemplar_explicit_id", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                let (trace_id, span_id) = &ids[i & 63];
                let _ = h.record_with_exemplar(
                    black_box(ns[i & (TABLE - 1)]),
                    &[("trace_id", trace_id), ("span_id", span_id)],
                );
            }
            start.elapsed()
        })
    });
    group.bench_function("record_with_trace_outside_span", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                black_box(h.record_with_trace(black_box(ns[i & (TABLE - 1)])));
            }
            start.elapsed()
        })
    });
    {
        let _request = tracing::info_span!("request").entered();
        assert!(TraceLabels::from_current_span().is_some());
        group.bench_function("from_current_span_in_span", |b| {
            b.iter(|| black_box(TraceLabels::from_current_span()))
        });
        // For comparison: the OpenTelemetry context that the layer attached to the thread when
        // the span was entered (context activation, on by default), read in place.
        assert!(opentelemetry::Context::map_current(|cx| {
            TraceLabels::from_span_context(cx.span().span_context())
        })
        .is_some());
        group.bench_function("otel_context_map_current_in_span", |b| {
            b.iter(|| {
                black_box(opentelemetry::Context::map_current(|cx| {
                    TraceLabels::from_span_context(cx.span().span_context())
                }))
            })
        });
        group.bench_function("record_with_trace_in_span", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters as usize {
                    black_box(h.record_with_trace(black_box(ns[i & (TABLE - 1)])));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = trace_exemplar
}
criterion_main!(benches);
