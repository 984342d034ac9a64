//! `#[timed(registry = path)]` registers in the service's own registry, not the global one.
#![cfg(all(feature = "macros", not(perf_instrument_loom)))]

use perf_instrument::{timed, Registry};
use std::future::Future;
use std::sync::LazyLock;

static METRICS: LazyLock<Registry> = LazyLock::new(|| {
    Registry::builder()
        .self_metrics(false)
        .process_metrics(false)
        .build()
        .unwrap()
});

fn metrics() -> &'static Registry {
    &METRICS
}

#[timed(registry = metrics)]
fn checkout(n: u32) -> u32 {
    n + 1
}

#[timed(registry = crate::metrics, pipeline = "orders", stage = "persist")]
async fn persist() -> Result<(), String> {
    Ok(())
}

#[test]
fn a_site_with_a_registry_records_there_and_not_in_the_global_registry() {
    assert_eq!(checkout(1), 2);
    assert_eq!(checkout(2), 3);
    let mut f = std::pin::pin!(persist());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(f.as_mut().poll(&mut cx).is_ready());

    let own = METRICS.snapshot();
    let calls = own
        .histogram(
            "function_duration_seconds",
            &[("function", "checkout"), ("module", module_path!())],
        )
        .expect("checkout in the service's registry");
    assert_eq!(calls.count(), 2);
    let stage = own
        .histogram(
            "pipeline_stage_duration_seconds",
            &[("pipeline", "orders"), ("stage", "persist")],
        )
        .unwrap();
    assert_eq!(stage.count(), 1);
    let global = Registry::global().snapshot();
    assert!(global.family("function_duration_seconds").is_none());
    assert!(global.family("pipeline_stage_duration_seconds").is_none());
}
