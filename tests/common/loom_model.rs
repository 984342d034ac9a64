//! The loom model runner the `loom_*` tests share.

/// Checks `f` under loom, with at most two preemptions unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise.
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A registry without self or process metrics: only what the model registers.
pub fn bare_registry() -> perf_instrument::Registry {
    perf_instrument::Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap()
}
