//! What the load driver itself costs per call: the most calls per second it can pass to a pool
//! whose calls do nothing, so that the dispatcher and the workers' bookkeeping are all that is
//! measured. Side by side: `run` (one latency and one service-time histogram per run),
//! `run_plan` (per phase and per interval, errors by kind), `run_plan` with a 60/25/15
//! operation mix, and `run_plan_in` (live figures in a registry as well).
//!
//! Each iteration offers 10,000,000 calls per second for 20 ms (more than a 2-core machine can
//! pass), and reports the run's time divided by the calls that completed: nanoseconds per call
//! at saturation. Run with `scripts/bench.sh load_driver` (or `cargo bench --bench
//! load_driver`).

use criterion::{criterion_group, criterion_main, Criterion};
use perf_instrument::load::{LoadDriver, Mix, Phase, Plan, Rate};
use perf_instrument::Registry;
use std::time::Duration;

const OFFERED: f64 = 10_000_000.0;
const LENGTH: Duration = Duration::from_millis(20);

fn driver() -> LoadDriver {
    LoadDriver::new(
        Rate::Constant {
            per_second: OFFERED,
        },
        LENGTH,
    )
    .threads(1)
    .queue(1 << 18)
}

/// Sums, over `iters` runs, each run's time per completed call.
fn per_call(iters: u64, mut run: impl FnMut() -> (Duration, u64)) -> Duration {
    (0..iters)
        .map(|_| {
            let (elapsed, completed) = run();
            elapsed / u32::try_from(completed.max(1)).unwrap_or(u32::MAX)
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("load_driver_per_call");
    g.sample_size(20);
    let plan = Plan::new(vec![Phase::constant("steady", OFFERED, LENGTH)])
        .unwrap()
        .with_interval(Duration::from_millis(5))
        .unwrap();
    let mixed = plan
        .clone()
        .with_mix(Mix::new([("read", 60), ("write", 25), ("scan", 15)]).unwrap());
    g.bench_function("run", |b| {
        b.iter_custom(|iters| {
            per_call(iters, || {
                let r = driver().run(|call| call.index);
                (r.elapsed, r.completed)
            })
        });
    });
    g.bench_function("run_plan", |b| {
        b.iter_custom(|iters| {
            per_call(iters, || {
                let r = driver().run_plan(&plan, |_| Ok::<(), &str>(()));
                (r.elapsed, r.phases[0].completed)
            })
        });
    });
    g.bench_function("run_plan_mix", |b| {
        b.iter_custom(|iters| {
            per_call(iters, || {
                let r = driver().run_plan(&mixed, |_| Ok::<(), &str>(()));
                (r.elapsed, r.phases[0].completed)
            })
        });
    });
    g.bench_function("run_plan_in_registry", |b| {
        b.iter_custom(|iters| {
            per_call(iters, || {
                let registry = Registry::new();
                let r = driver()
                    .run_plan_in(&plan, &registry, |_| Ok::<(), &str>(()))
                    .unwrap();
                (r.elapsed, r.phases[0].completed)
            })
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
