//! A service whose latency histogram Prometheus scrapes as a native histogram (protobuf).
//!
//! `cargo run --example native_histograms --features protobuf -- --listen 127.0.0.1:9471 --seed 1`
//!
//! Every 100 ms it records a fixed pattern of 1,000 latencies: most between 1 and 30 ms, and a
//! tail that depends on `--seed`. Odd seeds put 15 of each 1,000 in a narrow band around 400 ms
//! (their own p99 lies there); even seeds put 9 around 100 ms (their own p99 stays under 30 ms).
//! Merged, one of each, the 21st slowest of 2,000 — the p99 — lies in the 100 ms band, where
//! neither instance's own p99 is: a query that lost or mis-summed an instance lands elsewhere.
//! Each band lies inside one schema-3 bucket, and the pattern is the same every tick, so the
//! quantiles of any window of whole ticks are those of the pattern. Besides `/metrics` (text,
//! OpenMetrics or protobuf with native histograms, as asked) it serves `/buckets`: the
//! histogram's native buckets as `index count` lines (`zero count` first), so a test can merge
//! instances itself.

#[path = "common/args.rs"]
mod args;

use perf_instrument::{Opts, Registry, Route, Server, Unit};
use std::time::{Duration, Instant};

/// The latencies of one tick, in nanoseconds.
fn pattern(seed: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Odd seeds: 15 at 399.5–400.5 ms; even seeds: 9 at 99.5–100.5 ms (one schema-3 bucket each).
    let (tail, centre) = if seed % 2 == 1 {
        (15, 400_000_000)
    } else {
        (9, 100_000_000)
    };
    (0..1_000)
        .map(|i| {
            if i < 1_000 - tail {
                1_000_000 + next() % 29_000_000
            } else {
                centre - 500_000 + next() % 1_000_000
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse(
        "native_histograms",
        &[("--listen", "ADDR"), ("--seed", "1"), ("--duration", "0s")],
    );
    let listen = args
        .string("--listen")
        .unwrap_or_else(|| "127.0.0.1:9471".to_string());
    let seed: u64 = args.value("--seed", 1);
    let run_for = args.duration("--duration", Duration::ZERO);

    let registry = Registry::global().clone();
    let latency = registry
        .register_histogram(
            Opts::new("native_demo_latency_seconds", "Request latency.").unit(Unit::Seconds),
        )?
        .with_label_values(&[]);
    let exported = latency.clone();
    let server = Server::builder(registry)
        .bind(listen.parse()?)
        .route(Route::new("/buckets", move || {
            let snap = exported.snapshot();
            let mut body = String::new();
            for bucket in snap.buckets().filter(|b| b.count > 0) {
                match bucket.native_index {
                    None => body.push_str(&format!("zero {}\n", bucket.count)),
                    Some(index) => body.push_str(&format!("{index} {}\n", bucket.count)),
                }
            }
            ("text/plain; charset=utf-8".to_string(), body.into_bytes())
        }))
        .start()?;
    println!(
        "serving http://{}/metrics (seed {seed})",
        server.local_addr()
    );

    let values = pattern(seed);
    let started = Instant::now();
    loop {
        for &v in &values {
            latency.record(v);
        }
        if !run_for.is_zero() && started.elapsed() >= run_for {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
