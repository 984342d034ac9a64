//! The tokio integration: the instrumented mpsc channel under load, and the runtime collector
//! against `RuntimeMetrics` read directly.
#![cfg(all(feature = "tokio", not(perf_instrument_loom)))]

mod common;

use common::{eventually, registry};
use perf_instrument::{tokio_channel, QueueProbe, TokioRuntimeCollector, RELATIVE_ERROR};
use std::time::{Duration, Instant};

#[test]
fn bounded_mpsc_under_load_reports_the_wait_measured_independently() {
    let registry = registry();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let probe = QueueProbe::new(&registry, "jobs").unwrap();
    const ITEMS: usize = 2_000;
    // Room for every item, so `send` never waits for a place: the independent measure (from
    // before `send` to after `recv`) then times the same wait as the channel, give or take the
    // clock reads around it.
    let (tx, mut rx) = tokio_channel::channel::<Instant>(ITEMS, probe.clone());
    let waits: Vec<Duration> = runtime.block_on(async move {
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for _ in 0..ITEMS / 4 {
                        tx.send(Instant::now()).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut waits = Vec::with_capacity(ITEMS);
        while let Some(sent) = rx.recv().await {
            waits.push(sent.elapsed());
            if waits.len() % 64 == 0 {
                // A slow consumer now and then, so items really wait.
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        for p in producers {
            p.await.unwrap();
        }
        waits
    });
    assert_eq!(waits.len(), ITEMS);
    let snapshot = registry.snapshot();
    let recorded = snapshot
        .histogram("queue_wait_seconds", &[("queue", "jobs")])
        .unwrap();
    assert_eq!(
        recorded.count(),
        ITEMS as u64,
        "every item's wait is recorded"
    );
    assert_eq!(
        snapshot.value("queue_depth", &[("queue", "jobs")]),
        Some(0.0)
    );
    // Each quantile of the channel's waits lies within a bucket of the independent one; the
    // clock reads around `send` and `recv` add a few microseconds at most.
    let mut independent: Vec<f64> = waits.iter().map(Duration::as_secs_f64).collect();
    independent.sort_by(f64::total_cmp);
    let slack = 20e-6;
    for q in [0.5, 0.9, 0.99] {
        let ours = recorded.quantile(q).unwrap();
        let theirs = independent[((q * ITEMS as f64).ceil() as usize).min(ITEMS) - 1];
        assert!(
            ours <= theirs * (1.0 + RELATIVE_ERROR) + slack
                && ours >= theirs * (1.0 - RELATIVE_ERROR) - slack,
            "q{q}: channel {ours} s vs independent {theirs} s"
        );
    }
    // And the bulk agrees: the mean waits differ by less than the clock reads around them.
    let ours_mean = recorded.sum() / ITEMS as f64;
    let theirs_mean = independent.iter().sum::<f64>() / ITEMS as f64;
    assert!(ours_mean <= theirs_mean * (1.0 + RELATIVE_ERROR));
    assert!(
        ours_mean >= theirs_mean * 0.5,
        "{ours_mean} vs {theirs_mean}"
    );
}

#[test]
fn unreceived_items_are_counted_when_the_receiver_drops() {
    let registry = registry();
    let probe = QueueProbe::new(&registry, "left").unwrap();
    let (tx, rx) = tokio_channel::unbounded_channel(probe);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    drop(rx);
    let snapshot = registry.snapshot();
    assert_eq!(
        snapshot.value("queue_dropped", &[("queue", "left")]),
        Some(5.0)
    );
    assert_eq!(
        snapshot.value("queue_depth", &[("queue", "left")]),
        Some(0.0)
    );
    assert!(tx.send(6).is_err());
}

#[test]
fn the_runtime_collector_matches_runtime_metrics_read_directly() {
    let registry = registry();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    TokioRuntimeCollector::register(&registry, "main", runtime.handle()).unwrap();
    // Keep tasks alive while the figures are read.
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let stopped = std::sync::Arc::new(std::sync::Mutex::new(stopped));
    let held: Vec<_> = (0..3)
        .map(|_| {
            let stopped = stopped.clone();
            runtime.spawn_blocking(move || {
                let _ = stopped.lock().unwrap().recv();
            })
        })
        .collect();
    let parked: Vec<_> = (0..5)
        .map(|_| runtime.spawn(std::future::pending::<()>()))
        .collect();
    let metrics = runtime.handle().metrics();
    // Let the workers pick the new tasks up, so the figures hold still while they are compared.
    assert!(eventually(Duration::from_secs(10), || {
        metrics.num_alive_tasks() == 5 && metrics.global_queue_depth() == 0
    }));
    let snapshot = registry.snapshot();
    let main = [("runtime", "main")];
    assert_eq!(
        snapshot.value("tokio_workers", &main),
        Some(metrics.num_workers() as f64)
    );
    assert_eq!(
        snapshot.value("tokio_alive_tasks", &main),
        Some(metrics.num_alive_tasks() as f64)
    );
    assert_eq!(snapshot.value("tokio_alive_tasks", &main), Some(5.0));
    assert_eq!(
        snapshot.value("tokio_global_queue_depth", &main),
        Some(metrics.global_queue_depth() as f64)
    );
    for w in 0..metrics.num_workers() {
        let worker = [("runtime", "main"), ("worker", &*w.to_string())];
        let busy = snapshot
            .value("tokio_worker_busy_seconds", &worker)
            .unwrap();
        // Read after the snapshot: never less.
        assert!(busy <= metrics.worker_total_busy_duration(w).as_secs_f64());
        let parks = snapshot.value("tokio_worker_parks", &worker).unwrap();
        assert!(parks <= metrics.worker_park_count(w) as f64);
        let ratio = snapshot.value("tokio_worker_busy_ratio", &worker).unwrap();
        assert!((0.0..=1.0).contains(&ratio));
    }
    for p in parked {
        p.abort();
    }
    drop(stop);
    for h in held {
        let _ = runtime.block_on(h);
    }
}

#[test]
fn async_stages_time_from_first_poll_to_completion_and_end_on_cancel() {
    use perf_instrument::{Clock, Pipeline};
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let pipeline = Pipeline::builder("orders")
        .stages(["persist", "publish"])
        .clock(clock)
        .build(&registry)
        .unwrap();
    let (persist, publish) = (
        pipeline.stage("persist").unwrap(),
        pipeline.stage("publish").unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut event = pipeline.begin();
        let pending = pipeline.time_stage_async(&mut event, persist, async {
            tokio::task::yield_now().await;
            hand.advance(Duration::from_millis(4));
            "stored"
        });
        hand.advance(Duration::from_millis(100)); // before the first poll: not the stage's time
        assert_eq!(pending.await, "stored");
        // A stage cancelled by a timeout ends when it is dropped.
        let slow = pipeline.time_stage_async(&mut event, publish, async {
            hand.advance(Duration::from_millis(2));
            std::future::pending::<()>().await;
        });
        assert!(tokio::time::timeout(Duration::from_millis(5), slow)
            .await
            .is_err());
        pipeline.finish(event);
    });
    let snapshot = registry.snapshot();
    let stage = |s: &str| {
        snapshot
            .histogram(
                "pipeline_stage_duration_seconds",
                &[("pipeline", "orders"), ("stage", s)],
            )
            .unwrap()
            .clone()
    };
    assert_eq!(stage("persist").count(), 1);
    assert!((stage("persist").sum() - 0.004).abs() < 1e-9);
    assert_eq!(stage("publish").count(), 1);
    assert!((stage("publish").sum() - 0.002).abs() < 1e-9);
    assert_eq!(pipeline.in_flight(), 0);
}
