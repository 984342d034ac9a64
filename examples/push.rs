//! A short-lived job that pushes its measurements instead of waiting for a scrape.
//!
//! `cargo run --example push --features push-gateway,remote-write,otlp -- --run 300ms \
//!   --remote-write http://127.0.0.1:9090/api/v1/write`
//!
//! It records a fixed pattern of latencies (98% within 1–30 ms, 2% within 120–240 ms) for `--run`, pushing
//! every `--interval` to each target given (`--pushgateway URL`, `--remote-write URL` with
//! `--native off` for classic series only, `--otlp URL`), then stops its pushers — the final
//! flush sends what the last interval did not — and exits. `--snapshot FILE` writes what was
//! recorded, as JSON (count, sum, max, schema, native buckets, classic buckets, and the pushers'
//! counters), for a test to compare with what a receiver stored. `--listen ADDR` also serves
//! `/metrics`, and `--linger 10s` keeps serving after the run, so a Prometheus can scrape the
//! job and the Pushgateway side by side.

#[path = "common/args.rs"]
mod args;

use perf_instrument::export::{
    otlp::Otlp, pushgateway::Pushgateway, remote_write::RemoteWrite, Pusher,
};
use perf_instrument::{Format, Registry, Server, Unit};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse(
        "push",
        &[
            ("--run", "300ms"),
            ("--interval", "100ms"),
            ("--pushgateway", "URL"),
            ("--remote-write", "URL"),
            ("--native", "on"),
            ("--otlp", "URL"),
            ("--snapshot", "FILE"),
            ("--listen", "ADDR"),
            ("--linger", "0s"),
        ],
    );
    let run = args.duration("--run", Duration::from_millis(300));
    let interval = args.duration("--interval", Duration::from_millis(100));

    let registry = Registry::builder()
        .const_label("run", "push-demo")
        .build()?;
    let latency = registry.histogram(
        "push_demo_latency_seconds",
        "Request latency.",
        Unit::Seconds,
    )?;
    let requests = registry.counter("push_demo_requests", "Requests served.")?;

    let server = match args.string("--listen") {
        Some(addr) => Some(
            Server::builder(registry.clone())
                .bind(addr.parse()?)
                .start()?,
        ),
        None => None,
    };

    let mut pushers = Vec::new();
    if let Some(url) = args.string("--pushgateway") {
        let target = Pushgateway::builder(&url, "push_demo")
            .grouping_label("instance", "demo-1")
            .build()?;
        pushers.push(
            Pusher::builder(&registry, target)
                .interval(interval)
                .start()?,
        );
    }
    if let Some(url) = args.string("--remote-write") {
        let target = RemoteWrite::builder(&url)
            .native_histograms(args.string("--native").as_deref() != Some("off"))
            .build()?;
        pushers.push(
            Pusher::builder(&registry, target)
                .interval(interval)
                .start()?,
        );
    }
    if let Some(url) = args.string("--otlp") {
        let target = Otlp::builder(&url, "push-demo")
            .resource_attribute("service.version", env!("CARGO_PKG_VERSION"))
            .build()?;
        pushers.push(
            Pusher::builder(&registry, target)
                .interval(interval)
                .start()?,
        );
    }

    // A fixed pattern: 98 of 100 between 1 and 30 ms, 2 between 120 and 240 ms (the p99 among
    // them, inside a classic bucket and between native bucket edges).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut recorded = 0u64;
    let started = Instant::now();
    while started.elapsed() < run {
        for i in 0..100 {
            let ns = if i >= 98 {
                120_000_000 + next() % 120_000_000
            } else {
                1_000_000 + next() % 29_000_000
            };
            latency.record(ns);
            requests.inc();
            recorded += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    // The final flush: what the last interval did not send goes now.
    let mut outcomes = Vec::new();
    for pusher in pushers {
        let target = pusher.target().to_string();
        outcomes.push((target, pusher.shutdown().map_err(|e| e.to_string())));
    }
    for (target, outcome) in &outcomes {
        println!("{target}: final push {outcome:?}");
    }

    if let Some(path) = args.string("--snapshot") {
        let snap = latency.snapshot();
        let native: Vec<(Option<i32>, u64)> = snap
            .buckets()
            .filter(|b| b.count > 0)
            .map(|b| (b.native_index, b.count))
            .collect();
        let text = String::from_utf8(perf_instrument::render_as(
            &registry,
            Format::PrometheusText,
        ))?;
        let classic: Vec<(String, f64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("push_demo_latency_seconds_bucket{"))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
                let count = l.rsplit(' ').next()?.parse().ok()?;
                Some((le, count))
            })
            .collect();
        let counter = |name: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with(name))
                .map(str::to_string)
                .collect()
        };
        let json = serde_json::json!({
            "recorded": recorded,
            "count": snap.count(),
            "sum": snap.sum(),
            "max": snap.max(),
            "max_is_exact": snap.max_is_exact(),
            "schema": snap.schema().get(),
            "native": native,
            "classic": classic,
            "pushes": counter("perf_instrument_push"),
            "final": outcomes.iter().map(|(t, o)| (t.clone(), o.is_ok())).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    if outcomes.iter().any(|(_, o)| o.is_err()) {
        return Err("a final push failed".into());
    }

    let linger = args.duration("--linger", Duration::ZERO);
    if let Some(server) = &server {
        println!(
            "serving http://{}/metrics for {linger:?}",
            server.local_addr()
        );
        std::thread::sleep(linger);
    }
    Ok(())
}
