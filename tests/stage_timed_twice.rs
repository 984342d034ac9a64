//! A stage timed both by a `Pipeline` that declares it and by `#[timed(pipeline, stage)]` would
//! count every event twice: whichever registers second is refused (the function records into a
//! detached recorder and the refusal is counted; the pipeline's build fails with an error).
#![cfg(all(feature = "macros", not(perf_instrument_loom)))]

use perf_instrument::{timed, Pipeline, Registry, RegistryError};
use std::sync::LazyLock;

fn quiet() -> Registry {
    Registry::builder().process_metrics(false).build().unwrap()
}

static PIPELINE_FIRST: LazyLock<Registry> = LazyLock::new(quiet);
static FUNCTION_FIRST: LazyLock<Registry> = LazyLock::new(quiet);

fn pipeline_first() -> &'static Registry {
    &PIPELINE_FIRST
}

fn function_first() -> &'static Registry {
    &FUNCTION_FIRST
}

#[timed(registry = pipeline_first, pipeline = "orders", stage = "persist")]
fn persist_twice() -> u32 {
    1
}

#[timed(registry = function_first, pipeline = "orders", stage = "persist")]
fn persist_alone() -> u32 {
    2
}

fn stage_count(registry: &Registry) -> u64 {
    registry
        .snapshot()
        .histogram(
            "pipeline_stage_duration_seconds",
            &[("pipeline", "orders"), ("stage", "persist")],
        )
        .map_or(0, |h| h.count())
}

#[test]
fn a_function_timing_a_stage_the_pipeline_times_is_refused_and_counted() {
    let registry = pipeline_first();
    let orders = Pipeline::builder("orders")
        .stages(["persist"])
        .build(registry)
        .unwrap();
    let persist = orders.stage("persist").unwrap();
    let mut event = orders.begin();
    orders.time_stage(&mut event, persist, persist_twice);
    orders.finish(event);
    // One event, one record: the function's duration went to a detached recorder.
    assert_eq!(stage_count(registry), 1);
    let refused = registry.snapshot().value(
        "perf_instrument_integration_errors",
        &[("integration", "timed"), ("reason", "registration")],
    );
    assert_eq!(refused, Some(1.0));
    // A second Pipeline of the same name may declare the stage too.
    assert!(Pipeline::builder("orders")
        .stages(["persist"])
        .build(registry)
        .is_ok());
}

#[test]
fn a_pipeline_declaring_a_stage_a_function_times_is_refused_at_build() {
    let registry = function_first();
    assert_eq!(persist_alone(), 2);
    assert_eq!(stage_count(registry), 1);
    let err = Pipeline::builder("orders")
        .stages(["enrich", "persist"])
        .build(registry)
        .unwrap_err();
    match &err {
        RegistryError::StageTimedTwice {
            pipeline,
            stage,
            by,
        } => {
            assert_eq!((pipeline.as_str(), stage.as_str()), ("orders", "persist"));
            assert!(by.contains("persist_alone"), "{by}");
        }
        other => panic!("{other}"),
    }
    // Nothing was claimed by the failed build, and the stages the function does not time are
    // free.
    assert!(Pipeline::builder("orders")
        .stages(["enrich"])
        .build(registry)
        .is_ok());
}
