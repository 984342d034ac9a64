//! `#[timed]` end to end: every outcome is recorded exactly once, with the duration histogram
//! and the in-flight gauge agreeing, for plain functions, methods, generics, `async fn` on a
//! tokio runtime and on a plain executor, and functions returning futures.
//!
//! Every test times functions of its own names, so the tests can share the process-wide
//! registry whatever order they run in.
#![cfg(all(feature = "macros", not(perf_instrument_loom)))]

mod common;

use common::exposition::{parse, Dialect, Parsed};
use common::YieldNow;
use perf_instrument::{render_as, timed, Format, Registry};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

fn scrape() -> Parsed {
    let text = String::from_utf8(render_as(Registry::global(), Format::PrometheusText)).unwrap();
    parse(&text, Dialect::Prometheus).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The value of sample `name` of `family` whose labels include all of `labels`.
fn value(parsed: &Parsed, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parsed.get(family)?.samples.iter().find_map(|s| {
        (s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v))).then_some(s.value)
    })
}

/// Calls of `function` by outcome, and the duration histogram's count: `[ok, error, cancelled,
/// panicked, duration_count]`, absent series as 0.
fn counts(function: &str) -> [f64; 5] {
    let parsed = scrape();
    let calls = |outcome| {
        value(
            &parsed,
            "function_calls_total",
            "function_calls_total",
            &[("function", function), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
    };
    let duration = value(
        &parsed,
        "function_duration_seconds",
        "function_duration_seconds_count",
        &[("function", function)],
    )
    .unwrap_or(0.0);
    [
        calls("ok"),
        calls("error"),
        calls("cancelled"),
        calls("panicked"),
        duration,
    ]
}

fn in_flight(function: &str) -> Option<f64> {
    value(
        &scrape(),
        "function_calls_in_flight",
        "function_calls_in_flight",
        &[("function", function)],
    )
}

/// A minimal executor: polls on this thread, parks until woken.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

// ---------------------------------------------------------------- plain functions

#[timed(in_flight)]
fn sync_outcomes(input: i32) -> Result<i32, String> {
    assert_eq!(
        in_flight("sync_outcomes"),
        Some(1.0),
        "in flight while running"
    );
    match input {
        0 => panic!("zero"),
        n if n < 0 => Err(format!("{n} is negative")),
        n => Ok(n * 2),
    }
}

#[test]
fn a_plain_function_records_ok_error_and_panicked_exactly_once_each() {
    assert_eq!(sync_outcomes(2), Ok(4));
    assert_eq!(counts("sync_outcomes"), [1.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(sync_outcomes(-1).is_err());
    assert_eq!(counts("sync_outcomes"), [1.0, 1.0, 0.0, 0.0, 2.0]);
    let caught = catch_unwind(|| sync_outcomes(0));
    assert!(caught.is_err(), "the panic goes on unwinding");
    assert_eq!(counts("sync_outcomes"), [1.0, 1.0, 0.0, 1.0, 3.0]);
    assert_eq!(in_flight("sync_outcomes"), Some(0.0), "exact after a panic");
}

#[timed]
fn early_exits(input: &str) -> Result<u32, std::num::ParseIntError> {
    if input.is_empty() {
        return Ok(0);
    }
    let n: u32 = input.parse()?;
    Ok(n + 1)
}

#[test]
fn return_and_question_mark_end_the_body_not_the_timing() {
    assert_eq!(early_exits(""), Ok(0));
    assert!(early_exits("x").is_err());
    assert_eq!(early_exits("1"), Ok(2));
    assert_eq!(counts("early_exits"), [2.0, 1.0, 0.0, 0.0, 3.0]);
}

#[timed]
fn generic_max<T: PartialOrd + Copy>(a: T, b: T) -> T {
    if a > b {
        a
    } else {
        b
    }
}

#[test]
fn a_generic_function_is_one_call_site_across_instantiations() {
    assert_eq!(generic_max(1, 2), 2);
    assert_eq!(generic_max(1.5, 0.5), 1.5);
    assert_eq!(generic_max('a', 'z'), 'z');
    assert_eq!(counts("generic_max"), [3.0, 0.0, 0.0, 0.0, 3.0]);
}

struct Ledger {
    entries: Vec<i64>,
}

trait Audit {
    fn audit(&self) -> Result<usize, String>;
}

impl Ledger {
    #[timed]
    fn ledger_push(&mut self, amount: i64) -> &mut Vec<i64> {
        self.entries.push(amount);
        &mut self.entries
    }

    #[timed]
    fn ledger_into_total(self) -> i64 {
        self.entries.iter().sum()
    }
}

impl Audit for Ledger {
    #[timed]
    fn audit(&self) -> Result<usize, String> {
        if self.entries.iter().sum::<i64>() < 0 {
            Err("overdrawn".to_string())
        } else {
            Ok(self.entries.len())
        }
    }
}

#[test]
fn methods_and_trait_impl_methods_are_timed() {
    let mut ledger = Ledger {
        entries: Vec::new(),
    };
    ledger.ledger_push(5).push(1);
    ledger.ledger_push(-10);
    assert!(ledger.audit().is_err());
    ledger.ledger_push(10);
    assert_eq!(ledger.audit(), Ok(4));
    assert_eq!(ledger.ledger_into_total(), 6);
    assert_eq!(counts("ledger_push"), [3.0, 0.0, 0.0, 0.0, 3.0]);
    assert_eq!(counts("audit"), [1.0, 1.0, 0.0, 0.0, 2.0]);
    assert_eq!(counts("ledger_into_total"), [1.0, 0.0, 0.0, 0.0, 1.0]);
}

fn negative(value: &i64) -> bool {
    *value < 0
}

#[timed(error_if = negative, name = "signed_balance")]
fn balance(value: i64) -> i64 {
    value
}

#[test]
fn error_if_judges_the_output_and_name_sets_the_label() {
    balance(1);
    balance(-1);
    balance(-2);
    assert_eq!(counts("signed_balance"), [1.0, 2.0, 0.0, 0.0, 3.0]);
    assert_eq!(counts("balance"), [0.0; 5]);
}

#[timed(pipeline = "timed_test_orders", stage = "enrich")]
fn enrich_stage(order: u64) -> u64 {
    order
}

#[test]
fn a_stage_records_into_the_pipeline_family() {
    enrich_stage(1);
    enrich_stage(2);
    let parsed = scrape();
    let stage = [("pipeline", "timed_test_orders"), ("stage", "enrich")];
    assert_eq!(
        value(
            &parsed,
            "pipeline_stage_duration_seconds",
            "pipeline_stage_duration_seconds_count",
            &stage
        ),
        Some(2.0)
    );
    // Counted as calls, not in the function duration family.
    assert_eq!(counts("enrich_stage"), [2.0, 0.0, 0.0, 0.0, 0.0]);
}

// ---------------------------------------------------------------- async

#[timed(in_flight)]
async fn async_outcomes(input: i32) -> Result<i32, String> {
    YieldNow(false).await;
    match input {
        0 => panic!("zero"),
        n if n < 0 => Err("negative".to_string()),
        1000 => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        n => Ok(n),
    }
}

#[test]
fn an_async_fn_records_ok_error_cancelled_and_panicked_on_a_plain_executor() {
    assert_eq!(block_on(async_outcomes(3)), Ok(3));
    assert_eq!(counts("async_outcomes"), [1.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(block_on(async_outcomes(-3)).is_err());
    assert_eq!(counts("async_outcomes"), [1.0, 1.0, 0.0, 0.0, 2.0]);

    // Cancelled: polled until pending, then dropped.
    let mut pending = Box::pin(async_outcomes(1000));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(pending.as_mut().poll(&mut cx).is_pending());
    assert!(pending.as_mut().poll(&mut cx).is_pending());
    assert_eq!(in_flight("async_outcomes"), Some(1.0));
    drop(pending);
    assert_eq!(counts("async_outcomes"), [1.0, 1.0, 1.0, 0.0, 3.0]);
    assert_eq!(in_flight("async_outcomes"), Some(0.0));

    // Never polled: the body never ran, nothing is counted.
    drop(async_outcomes(5));
    assert_eq!(counts("async_outcomes"), [1.0, 1.0, 1.0, 0.0, 3.0]);

    // Panicked while polled; the future is dropped afterwards, and that is not a cancellation.
    let mut exploding = Box::pin(async_outcomes(0));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let mut cx = Context::from_waker(Waker::noop());
        while exploding.as_mut().poll(&mut cx).is_pending() {}
    }));
    assert!(caught.is_err());
    drop(exploding);
    assert_eq!(counts("async_outcomes"), [1.0, 1.0, 1.0, 1.0, 4.0]);
    assert_eq!(in_flight("async_outcomes"), Some(0.0));
}

#[timed]
async fn tokio_work(n: u64) -> Result<u64, String> {
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    if n.is_multiple_of(2) {
        Ok(n)
    } else {
        Err("odd".into())
    }
}

#[timed]
async fn tokio_stuck() {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
}

#[test]
fn an_async_fn_is_timed_on_a_tokio_runtime_across_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..10).map(|n| tokio::spawn(tokio_work(n))).collect();
        for task in tasks {
            let _ = task.await.unwrap();
        }
        // A timeout drops the future: cancelled.
        let timed_out =
            tokio::time::timeout(std::time::Duration::from_millis(5), tokio_stuck()).await;
        assert!(timed_out.is_err());
        // An aborted task is dropped: cancelled.
        let task = tokio::spawn(tokio_stuck());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    });
    assert_eq!(counts("tokio_work"), [5.0, 5.0, 0.0, 0.0, 10.0]);
    assert_eq!(counts("tokio_stuck"), [0.0, 0.0, 2.0, 0.0, 2.0]);
    // The recorded durations include the awaited sleep: each call took at least 1 ms.
    let sum = value(
        &scrape(),
        "function_duration_seconds",
        "function_duration_seconds_sum",
        &[("function", "tokio_work")],
    )
    .unwrap();
    assert!(sum >= 10.0 * 0.001, "sum {sum}");
}

#[timed]
fn returns_future(n: u8) -> impl Future<Output = Result<u8, String>> + Send {
    async move {
        YieldNow(false).await;
        n.checked_mul(100).ok_or_else(|| "overflow".to_string())
    }
}

#[timed]
fn returns_boxed(n: u8) -> Pin<Box<dyn Future<Output = u8> + Send>> {
    Box::pin(async move { n })
}

#[test]
fn functions_returning_futures_are_timed_when_polled() {
    let future = returns_future(2);
    assert_eq!(
        counts("returns_future"),
        [0.0; 5],
        "not before the first poll"
    );
    assert_eq!(block_on(future), Ok(200));
    assert!(block_on(returns_future(3)).is_err());
    assert_eq!(counts("returns_future"), [1.0, 1.0, 0.0, 0.0, 2.0]);
    assert_eq!(block_on(returns_boxed(7)), 7);
    assert_eq!(counts("returns_boxed"), [1.0, 0.0, 0.0, 0.0, 1.0]);
}
