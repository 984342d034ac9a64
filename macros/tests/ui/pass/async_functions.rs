//! Async: `async fn`, async methods, a function returning `impl Future`, one returning
//! `Pin<Box<dyn Future>>`, `?` inside, cancellation and a panic while polled.
#![deny(warnings, clippy::all, clippy::pedantic)]

use perf_instrument::timed;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Runs a future to completion on this thread.
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

/// Pending once, then ready.
struct YieldNow(bool);
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

#[timed]
async fn fetch(id: u32) -> Result<u32, String> {
    YieldNow(false).await;
    let id = u32::try_from(u64::from(id) * 2).map_err(|e| e.to_string())?;
    if id > 100 {
        return Err("too large".to_string());
    }
    Ok(id)
}

#[timed(in_flight)]
async fn wait_forever() {
    std::future::pending::<()>().await;
}

#[timed]
async fn explode() -> u8 {
    YieldNow(false).await;
    panic!("exploded while polled")
}

#[timed]
fn later(value: u8) -> impl Future<Output = u8> + Send {
    async move {
        YieldNow(false).await;
        value + 1
    }
}

#[timed]
fn boxed<'a>(text: &'a str) -> Pin<Box<dyn Future<Output = usize> + Send + 'a>> {
    Box::pin(async move { text.len() })
}

struct Service {
    calls: u32,
}

impl Service {
    #[timed]
    async fn handle(&mut self, request: &str) -> Result<usize, String> {
        self.calls += 1;
        YieldNow(false).await;
        if request.is_empty() {
            Err("empty request".to_string())
        } else {
            Ok(request.len())
        }
    }
}

trait Repository {
    async fn load(&self, id: u32) -> Option<u32>;
}

impl Repository for Service {
    #[timed]
    async fn load(&self, id: u32) -> Option<u32> {
        YieldNow(false).await;
        (id < self.calls).then_some(id)
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

pub fn main() {
    assert_eq!(block_on(assert_send(fetch(4))), Ok(8));
    assert!(block_on(fetch(60)).is_err());
    assert_eq!(block_on(later(1)), 2);
    assert_eq!(block_on(boxed("four")), 4);
    let mut service = Service { calls: 0 };
    assert_eq!(block_on(service.handle("ping")), Ok(4));
    assert!(block_on(service.handle("")).is_err());
    assert_eq!(service.calls, 2);
    assert_eq!(block_on(service.load(1)), Some(1));

    // Cancelled: polled once, then dropped.
    {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut future = Box::pin(wait_forever());
        assert!(future.as_mut().poll(&mut cx).is_pending());
    }
    // Never polled: never ran, not counted.
    drop(wait_forever());
    // Panicked while polled.
    let caught = std::panic::catch_unwind(|| block_on(explode()));
    assert!(caught.is_err());

    let text = String::from_utf8(perf_instrument::render_as(
        perf_instrument::Registry::global(),
        perf_instrument::Format::PrometheusText,
    ))
    .expect("UTF-8");
    let value = |family: &str, function: &str, extra: &str| {
        let needle = format!("{family}{{function=\"{function}\",");
        text.lines()
            .find(|l| l.starts_with(&needle) && l.contains(extra))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(-1.0, |v| v.parse::<f64>().expect("a number"))
    };
    let calls = |function: &str, outcome: &str| {
        value(
            "function_calls_total",
            function,
            &format!("outcome=\"{outcome}\""),
        )
    };
    assert!((calls("fetch", "ok") - 1.0).abs() < f64::EPSILON);
    assert!((calls("fetch", "error") - 1.0).abs() < f64::EPSILON);
    assert!((calls("later", "ok") - 1.0).abs() < f64::EPSILON);
    assert!((calls("boxed", "ok") - 1.0).abs() < f64::EPSILON);
    assert!((calls("handle", "error") - 1.0).abs() < f64::EPSILON);
    assert!((calls("load", "ok") - 1.0).abs() < f64::EPSILON);
    assert!((calls("wait_forever", "cancelled") - 1.0).abs() < f64::EPSILON);
    assert!(calls("wait_forever", "ok").abs() < f64::EPSILON);
    assert!((value("function_calls_in_flight", "wait_forever", "") - 0.0).abs() < f64::EPSILON);
    assert!((calls("explode", "panicked") - 1.0).abs() < f64::EPSILON);
    assert!(calls("explode", "cancelled").abs() < f64::EPSILON);
}
