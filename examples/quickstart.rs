//! Records into each recorder from a few worker threads while serving `/metrics`, then prints
//! what it saw.
//!
//! `cargo run --release --example quickstart [-- --listen 127.0.0.1:9464 --duration 3s]`

#[path = "common/args.rs"]
mod args;

use perf_instrument::{Clock, HistogramSnapshot, Registry, Unit};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse("quickstart", &[("--listen", "ADDR"), ("--duration", "3s")]);
    let listen = args
        .string("--listen")
        .unwrap_or_else(|| perf_instrument::DEFAULT_ADDR.to_string());
    let duration = args.duration("--duration", Duration::from_secs(3));

    let registry = Registry::global();
    let requests = registry.counter("quickstart_requests", "Requests handled.")?;
    let in_flight = registry.gauge("quickstart_requests_in_flight", "Requests being handled.")?;
    let latency = registry.histogram(
        "quickstart_request_duration_seconds",
        "Time to handle a request.",
        Unit::Seconds,
    )?;
    let payload = registry.histogram(
        "quickstart_payload_bytes",
        "Size of each request's payload.",
        Unit::Bytes,
    )?;
    let server = perf_instrument::serve(listen.parse()?)?;
    println!(
        "serving http://{}/metrics for {duration:.1?}",
        server.local_addr()
    );

    let workers = 4u64;
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let (requests, in_flight, latency, payload) =
                (&requests, &in_flight, &latency, &payload);
            s.spawn(move || {
                let mut x = 0x2545_f491_4f6c_dd1du64 ^ w;
                while started.elapsed() < duration {
                    in_flight.inc();
                    let timer = latency.start_timer();
                    // Simulated work: a little arithmetic, a long tail now and then.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let spins = if x.is_multiple_of(1_000) {
                        20_000
                    } else {
                        x % 200
                    };
                    for i in 0..spins {
                        std::hint::black_box(i);
                    }
                    drop(timer);
                    payload.record(64 + x % 4_096);
                    requests.inc();
                    in_flight.dec();
                }
            });
        }
    });
    let wall = started.elapsed();

    println!(
        "perf-instrument quickstart: {workers} threads, {} requests in {:.2?} (clock: {})",
        requests.get(),
        wall,
        Clock::global().source().name()
    );
    println!("in flight at the end: {}", in_flight.get());
    println!();
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "histogram", "count", "mean", "p50", "p90", "p99", "p99.9", "max"
    );
    print_row("latency", &latency.snapshot(), |v| {
        format!("{:.2?}", Duration::from_secs_f64(v))
    });
    print_row("payload_bytes", &payload.snapshot(), |v| format!("{v:.0}"));
    println!();
    println!(
        "memory per histogram: {} bytes (fixed); quantiles within {:.2}% of exact",
        latency.memory_bytes(),
        perf_instrument::RELATIVE_ERROR * 100.0
    );
    server.shutdown();
    Ok(())
}

fn print_row(name: &str, snap: &HistogramSnapshot, fmt: impl Fn(f64) -> String) {
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), &fmt);
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        name,
        snap.count(),
        cell(snap.mean()),
        cell(snap.quantile(0.5)),
        cell(snap.quantile(0.9)),
        cell(snap.quantile(0.99)),
        cell(snap.quantile(0.999)),
        cell(snap.max()),
    );
}
