//! Helpers shared by the benches.
#![allow(dead_code)]

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(thread, iters)` on two threads released together and returns the slower
/// thread's time, as `work` measured it: the per-operation cost when two threads share what is
/// measured.
pub fn on_two_threads(iters: u64, work: impl Fn(usize, u64) -> Duration + Sync) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|thread| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(thread, iters)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .max()
            .unwrap_or_default()
    })
}

/// How long `f` took.
pub fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}
