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
