//! An event-sourcing service on threads and crossbeam channels, instrumented end to end.
//!
//! `cargo run --release --example event_pipeline [-- --listen 127.0.0.1:9464 --duration 20s
//! --rate 400 --report-json report.json --html report.html]`
//!
//! For a before/after verdict: `--record run.json` writes a run record (see docs/RUN_RECORD.md),
//! `--phases warm-up=400:2s,baseline=400:10s,burst=1200:2s,recovery=400:10s` runs a phase plan
//! instead of the constant rate, and `--slow-stage persist=10%` injects a known slowdown into one
//! stage's work, so `perf-instrument compare` can show what a regression looks like.
//!
//! Events flow Enrich → Persist → ViewUpdate → Publish → Complete, one thread per stage, through
//! instrumented channels. Persist appends to an event store behind an instrumented lock and
//! hands the event to a write-behind buffer that a flusher writes out in batches (holding the
//! buffer's lock while it writes, so Persist waits on it now and then). Publish sends
//! it on a simulated bus and waits for the reply as a pending completion; a few replies never
//! come and are orphaned by the sweeper. Complete starts an order saga for every fourth event
//! across three simulated services (inventory, payment, shipping) with injected failures and
//! compensations; a few sagas never finish and are found stuck, then timed out. An open-loop load
//! driver submits events at a constant arrival rate. The stage functions and the saga runner
//! are `#[timed]`. `/metrics`, `/sagas` and `/report` (the live report page in a browser, its
//! JSON with `?format=json`) are served on `--listen`; at the end (after `--duration`, e.g. `40s` or `2m`,
//! or at Ctrl-C with `--duration 0`) the service prints its performance report; `--html FILE`
//! also writes it as one HTML page with charts, including the load's timelines.
//!
//! Each event that is the slowest so far finishes with its trace id as the exemplar of its
//! end-to-end time (sagas slower than 50 ms with their saga id), so in OpenMetrics or protobuf
//! the slowest bucket names the event to look up; the id of the slowest is printed at the end.
//! `--linger 4s` keeps `/metrics` up that long after the run, for a last scrape.

#[path = "common/args.rs"]
mod args;

use perf_instrument::load::{recovery_seconds, Call, LoadDriver, Phase, Plan, Rate, RunRecord};
use perf_instrument::saga::{SagaFailureReason, SagaStep, SagaViewFormat};
use perf_instrument::{
    channel, timed, BatchRecorder, EventToken, Mutex, PendingTracker, Pipeline, QueueProbe,
    Registry, Report, ReportHistory, Route, RwLock, SagaTracker, Server, Stage,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A small deterministic generator, so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1e6 < p
    }
    /// A duration between `lo` and `hi` microseconds.
    fn micros(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(lo + self.next() % (hi - lo + 1))
    }
}

/// The stage slowed down by `--slow-stage`, and the factor of its work.
static SLOW: std::sync::OnceLock<(String, f64)> = std::sync::OnceLock::new();

/// `d`, longer by the `--slow-stage` factor when `stage` is the slowed one.
fn scaled(stage: &str, d: Duration) -> Duration {
    match SLOW.get() {
        Some((name, factor)) if name == stage => d.mul_f64(*factor),
        _ => d,
    }
}

/// Parses `--phases name=rate:duration,...` (`warm-up` is left out of the verdict).
fn parse_phases(text: &str) -> Result<Plan, String> {
    let mut phases = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let err = || format!("--phases: `{part}` is not name=rate:duration (e.g. burst=1200:2s)");
        let (name, rest) = part.trim().split_once('=').ok_or_else(err)?;
        let (rate, duration) = rest.split_once(':').ok_or_else(err)?;
        let rate: f64 = rate
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r >= 0.0)
            .ok_or_else(err)?;
        let duration = args::parse_duration(duration).ok_or_else(err)?;
        phases.push(if name == "warm-up" {
            Phase::warm_up(rate, duration)
        } else {
            Phase::constant(name, rate, duration)
        });
    }
    Plan::new(phases).map_err(|e| format!("--phases: {e}"))
}

/// Parses `--slow-stage stage=10%`.
fn parse_slow(text: &str) -> Result<(String, f64), String> {
    let err = || format!("--slow-stage: `{text}` is not stage=percent (e.g. persist=10%)");
    let (stage, pct) = text.split_once('=').ok_or_else(err)?;
    let stages = ["enrich", "persist", "view_update", "publish", "complete"];
    if !stages.contains(&stage) {
        return Err(format!(
            "--slow-stage: no stage `{stage}` (one of {})",
            stages.join(", ")
        ));
    }
    let pct: f64 = pct
        .trim_end_matches('%')
        .parse()
        .ok()
        .filter(|p: &f64| p.is_finite() && *p >= 0.0)
        .ok_or_else(err)?;
    Ok((stage.to_string(), 1.0 + pct / 100.0))
}

/// Spins for `d`: CPU work a stage does (sleeping would not occupy the core).
fn work(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

struct Event {
    id: u64,
    token: EventToken,
    payload: Vec<u8>,
}

struct Stages {
    enrich: Stage,
    persist: Stage,
    view_update: Stage,
    publish: Stage,
    complete: Stage,
}

/// The order saga's steps and the failure reason it records.
struct OrderSaga {
    tracker: SagaTracker,
    reserve: SagaStep,
    charge: SagaStep,
    ship: SagaStep,
    declined: SagaFailureReason,
}

struct App {
    pipeline: Pipeline,
    stages: Stages,
    store: Mutex<Vec<(u64, usize)>>,
    view: RwLock<HashMap<u64, usize>>,
    write_behind: Mutex<Vec<u64>>,
    flushes: BatchRecorder,
    replies: PendingTracker<u64>,
    orders: OrderSaga,
    /// The slowest event so far (end to end) and its trace id.
    slowest: std::sync::Mutex<Option<(Duration, String)>>,
}

/// The trace id the example gives event `id`: 32 hex digits, as a W3C trace id.
fn trace_id(id: u64) -> String {
    format!("{:016x}{:016x}", 0x0e0e_0e0e_u64, id)
}

/// Finishes `event`; if it is the slowest so far, with its trace id as the exemplar of its
/// end-to-end time, so the slowest bucket leads to it.
fn finish_event(app: &App, event: Event) {
    let so_far = app.pipeline.elapsed(&event.token);
    let mut slowest = app.slowest.lock().unwrap_or_else(|e| e.into_inner());
    if slowest.as_ref().is_none_or(|(d, _)| so_far > *d) {
        let id = trace_id(event.id);
        let took = app
            .pipeline
            .finish_with_exemplar(event.token, &[("trace_id", &id)]);
        *slowest = Some((took, id));
    } else {
        app.pipeline.finish(event.token);
    }
}

/// Runs `stage` of the pipeline on every event from `rx`, then passes it on to `tx`.
fn stage_thread(
    app: Arc<App>,
    stage: Stage,
    rx: channel::Receiver<Event>,
    tx: Option<channel::Sender<Event>>,
    body: impl Fn(&App, &mut Event, &mut Rng) + Send + 'static,
    seed: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rng = Rng(seed);
        for mut event in rx.iter() {
            app.pipeline.stage_started(&mut event.token, stage);
            body(&app, &mut event, &mut rng);
            app.pipeline.stage_finished(&mut event.token, stage);
            match &tx {
                Some(tx) => {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                None => finish_event(&app, event),
            }
        }
    })
}

#[timed]
fn enrich(_: &App, event: &mut Event, rng: &mut Rng) {
    work(scaled("enrich", rng.micros(40, 160)));
    event.payload.extend_from_slice(&event.id.to_le_bytes());
}

#[timed]
fn persist(app: &App, event: &mut Event, rng: &mut Rng) {
    {
        let mut store = app.store.lock();
        store.push((event.id, event.payload.len()));
        // Now and then (one append in 500, well beyond p99, so that the p99 a before/after
        // comparison gates on is the common append's) an expensive one, a segment roll, while
        // holding the store lock.
        work(scaled(
            "persist",
            if rng.chance(0.002) {
                rng.micros(2_000, 4_000)
            } else {
                rng.micros(150, 450)
            },
        ));
    }
    app.write_behind.lock().push(event.id);
}

#[timed]
fn view_update(app: &App, event: &mut Event, rng: &mut Rng) {
    let mut view = app.view.write();
    view.insert(event.id % 10_000, event.payload.len());
    work(scaled("view_update", rng.micros(20, 80)));
}

#[timed]
fn publish(app: &App, event: &mut Event, rng: &mut Rng) {
    app.replies.register(event.id);
    work(scaled("publish", rng.micros(10, 40)));
}

#[timed]
fn complete(app: &App, event: &mut Event, rng: &mut Rng) {
    work(scaled("complete", rng.micros(10, 30)));
    let _ = app.view.read().get(&(event.id % 10_000)).copied();
}

/// One order saga across the simulated services, with failures and compensations; a few stop
/// mid-way for good (their service never answers) and are left to the sweeper.
#[timed(in_flight)]
fn run_saga(orders: &OrderSaga, id: u64, rng: &mut Rng) {
    let t = &orders.tracker;
    t.start(id);
    let mut done: Vec<SagaStep> = Vec::new();
    for (step, service_time, failure) in [
        (orders.reserve, (200, 800), 0.03),
        (orders.charge, (500, 2_500), 0.06),
        (orders.ship, (300, 1_200), 0.02),
    ] {
        t.step_started(id, step);
        if rng.chance(0.01) {
            return; // the service never answers: stuck, then timed out
        }
        std::thread::sleep(rng.micros(service_time.0, service_time.1));
        if rng.chance(failure) {
            t.step_failed(id, step);
            for undo in done.iter().rev() {
                t.compensating(id, *undo);
                std::thread::sleep(rng.micros(100, 400));
                t.compensated(id, *undo);
            }
            if done.is_empty() {
                t.failed(id, orders.declined);
            } else {
                t.compensated_saga(id);
            }
            return;
        }
        t.step_completed(id, step);
        done.push(step);
    }
    t.completed(id);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse(
        "event_pipeline",
        &[
            ("--listen", "ADDR"),
            ("--duration", "20s"),
            ("--rate", "400"),
            ("--report-json", "FILE"),
            ("--html", "FILE"),
            ("--record", "FILE"),
            ("--phases", "warm-up=400:2s,baseline=400:10s"),
            ("--slow-stage", "persist=10%"),
            ("--revision", "REV"),
            ("--linger", "0s"),
        ],
    );
    let listen = args
        .string("--listen")
        .unwrap_or_else(|| perf_instrument::DEFAULT_ADDR.to_string());
    let run_for = args.duration("--duration", Duration::from_secs(20));
    let rate: f64 = args.value("--rate", 400.0);
    let report_json = args.string("--report-json");
    // How long to keep serving after the run, so a last scrape sees its final state.
    let linger = args.duration("--linger", Duration::ZERO);
    let record_path = args.string("--record");
    let html_path = args.string("--html");
    let revision = args.string("--revision");
    let slow = args.string("--slow-stage");
    if let Some(text) = &slow {
        let parsed = parse_slow(text).unwrap_or_else(|e| args.fail(&e));
        let _ = SLOW.set(parsed);
    }
    let plan = match args.string("--phases") {
        Some(text) => Some(parse_phases(&text).unwrap_or_else(|e| args.fail(&e))),
        None if (record_path.is_some() || html_path.is_some()) && !run_for.is_zero() => Some(
            Plan::new(vec![
                Phase::warm_up(rate, Duration::from_secs(1).min(run_for)),
                Phase::constant("steady", rate, run_for),
            ])
            .unwrap_or_else(|e| args.fail(&e.to_string())),
        ),
        None => None,
    };

    let registry = Registry::global().clone();
    let pipeline = Pipeline::builder("orders")
        .stages(["enrich", "persist", "view_update", "publish", "complete"])
        .build(&registry)?;
    let stage = |name: &str| pipeline.stage(name).ok_or("no such stage");
    let stages = Stages {
        enrich: stage("enrich")?,
        persist: stage("persist")?,
        view_update: stage("view_update")?,
        publish: stage("publish")?,
        complete: stage("complete")?,
    };
    let tracker = SagaTracker::builder("order")
        .steps(["reserve_stock", "charge_payment", "ship"])
        .failure_reasons(["declined"])
        .deadline(Duration::from_secs(5))
        .stuck_after(Duration::from_secs(2))
        .max_active(10_000)
        // Sagas slower than 50 ms carry their id as an exemplar of their duration.
        .exemplars_over(Duration::from_millis(50))
        .build(&registry)?;
    let orders = OrderSaga {
        reserve: tracker.step("reserve_stock")?,
        charge: tracker.step("charge_payment")?,
        ship: tracker.step("ship")?,
        declined: tracker.failure_reason("declined")?,
        tracker,
    };
    let app = Arc::new(App {
        stages,
        store: Mutex::builder("event_store")
            .hold_timing(true)
            .watchdog(Duration::from_millis(500))
            .build(Vec::new(), &registry)?,
        view: RwLock::builder("read_model").build(HashMap::new(), &registry)?,
        write_behind: Mutex::builder("write_behind_buffer").build(Vec::new(), &registry)?,
        flushes: BatchRecorder::new(&registry, "write_behind")?,
        replies: PendingTracker::builder("bus_replies")
            .timeout(Duration::from_secs(1))
            .max_pending(100_000)
            .build(&registry)?,
        orders,
        pipeline,
        slowest: std::sync::Mutex::new(None),
    });

    // `/report`: the live page in a browser, text or `?format=json` otherwise, over the whole
    // run (or `?minutes=N` of it, from snapshots every 5 s).
    let history = ReportHistory::start(&registry, Duration::from_secs(5), 720)?;
    let server = Server::builder(registry.clone())
        .bind(listen.parse()?)
        .route(Route::saga_view(
            &app.orders.tracker,
            "/sagas",
            SagaViewFormat::Json,
        ))
        .route(Route::report(&history, "/report"))
        .start()?;
    println!(
        "event_pipeline: serving http://{0}/metrics, http://{0}/sagas and http://{0}/report",
        server.local_addr()
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))?;
    }
    let watchdog =
        perf_instrument::lock::LockWatchdog::start(&registry, Duration::from_millis(100))?;
    let sweeper = app.replies.spawn_sweeper(Duration::from_millis(200))?;
    let saga_sweeper = app
        .orders
        .tracker
        .spawn_sweeper(Duration::from_millis(250))?;

    // The stages, each on its own thread, joined by instrumented bounded channels.
    let queue = |name: &str| QueueProbe::new(&registry, name);
    let (ingest_tx, ingest_rx) = channel::bounded::<Event>(1_000, queue("ingest")?);
    let (persist_tx, persist_rx) = channel::bounded::<Event>(1_000, queue("to_persist")?);
    let (view_tx, view_rx) = channel::bounded::<Event>(1_000, queue("to_view")?);
    let (publish_tx, publish_rx) = channel::bounded::<Event>(1_000, queue("to_publish")?);
    let (complete_tx, complete_rx) = channel::bounded::<Event>(1_000, queue("to_complete")?);
    let (bus_tx, bus_rx) = channel::unbounded::<u64>(queue("bus")?);
    let (saga_tx, saga_rx) = channel::bounded::<u64>(10_000, queue("sagas")?);
    let s = &app.stages;
    let mut threads = vec![
        stage_thread(
            app.clone(),
            s.enrich,
            ingest_rx,
            Some(persist_tx),
            enrich,
            1,
        ),
        stage_thread(
            app.clone(),
            s.persist,
            persist_rx,
            Some(view_tx),
            persist,
            2,
        ),
        stage_thread(
            app.clone(),
            s.view_update,
            view_rx,
            Some(publish_tx),
            view_update,
            3,
        ),
        stage_thread(
            app.clone(),
            s.publish,
            publish_rx,
            Some(complete_tx),
            move |a, e, r| {
                publish(a, e, r);
                let _ = bus_tx.send(e.id);
            },
            4,
        ),
        stage_thread(
            app.clone(),
            s.complete,
            complete_rx,
            None,
            move |a, e, r| {
                complete(a, e, r);
                if e.id % 4 == 0 {
                    let _ = saga_tx.try_send(e.id);
                }
            },
            5,
        ),
    ];
    // The bus: replies after a few milliseconds; 2% are lost and end up orphaned.
    threads.push({
        let app = app.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(6);
            for id in bus_rx.iter() {
                if !rng.chance(0.02) {
                    work(rng.micros(5, 30));
                    app.replies.complete(&id);
                }
            }
        })
    });
    // Two saga workers.
    for seed in [7, 8] {
        let (app, rx) = (app.clone(), saga_rx.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng(seed);
            for id in rx.iter() {
                run_saga(&app.orders, id, &mut rng);
            }
        }));
    }
    drop(saga_rx);
    // The write-behind flusher: every 50 ms, whatever accumulated, as one batch.
    let flushing = Arc::new(AtomicBool::new(true));
    let flusher = {
        let (app, flushing) = (app.clone(), flushing.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(9);
            while flushing.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                // Writes the batch out while still holding the buffer (a common shortcut):
                // Persist waits for the flush, which the report shows as lock contention.
                let mut buffer = app.write_behind.lock();
                let batch = std::mem::take(&mut *buffer);
                if !batch.is_empty() {
                    let timer = app.flushes.start();
                    work(rng.micros(200, 500) + Duration::from_micros(batch.len() as u64 * 2));
                    timer.finish(batch.len() as u64);
                }
                drop(buffer);
            }
        })
    };

    let start = registry.snapshot();
    let duration = if run_for.is_zero() {
        Duration::from_secs(365 * 24 * 3600)
    } else {
        run_for
    };
    let load = LoadDriver::new(Rate::Constant { per_second: rate }, duration)
        .threads(2)
        .queue(50_000);
    // Each event is dated from its intended start, so time spent waiting for a free submitter
    // while the service is slow counts in its end-to-end latency (coordinated omission).
    let submit = |call: Call| {
        let event = Event {
            id: call.index,
            token: app.pipeline.begin_at(call.intended),
            payload: Vec::with_capacity(64),
        };
        let _ = ingest_tx.send(event);
    };
    let (result, phases) = match &plan {
        // A phase plan: calls fail (and are counted by kind) when the pipeline has shut down.
        Some(plan) => {
            let phases = load.run_plan_in(plan, &registry, |call: Call| {
                let event = Event {
                    id: call.index,
                    token: app.pipeline.begin_at(call.intended),
                    payload: Vec::with_capacity(64),
                };
                ingest_tx.send(event).map_err(|_| "pipeline closed")
            })?;
            (None, Some(phases))
        }
        None => (
            Some(load.run_until(|| stop.load(Ordering::Relaxed), submit)),
            None,
        ),
    };
    drop(ingest_tx);
    for t in threads {
        let _ = t.join();
    }
    flushing.store(false, Ordering::Relaxed);
    let _ = flusher.join();
    app.replies.sweep();
    app.orders.tracker.sweep();
    let report = Report::between(&start, &registry.snapshot())
        .with_config("rate", format!("{rate}/s"))
        .with_config("duration", format!("{run_for:?}"))
        .with_config("submitters", 2);
    drop((watchdog, sweeper, saga_sweeper));

    println!();
    if let Some(result) = result {
        println!("load: {result}");
    }
    if let Some(phases) = &phases {
        println!("load phases:\n{phases}");
        if let (Some(base), Some(rec)) = (phases.phase("baseline"), phases.phase("recovery")) {
            let reference = base.latency.quantile(0.99).unwrap_or(0.0);
            match recovery_seconds(rec, reference, 0.10) {
                Some(s) => println!("recovery: p99 back within 10% of baseline after {s:.1} s"),
                None => println!("recovery: p99 never back within 10% of baseline"),
            }
        }
    }
    println!();
    report.print();
    if record_path.is_some() || html_path.is_some() {
        let record = RunRecord::new()
            .with_config("rate", format!("{rate}/s"))
            .with_config("submitters", 2)
            .with_config("slow_stage", slow.as_deref().unwrap_or("none"));
        // The registry's rows over the phases in the verdict: the warm-up left out.
        let end = registry.snapshot();
        let mut record = match phases.as_ref().and_then(|p| p.verdict_start.as_ref()) {
            Some(start) => record.with_registry_between(start, &end),
            None => record.with_registry(&end),
        };
        if let Some(rev) = revision {
            record = record.with_revision(rev);
        }
        record.findings = report
            .findings()
            .iter()
            .map(|f| format!("{}: {}", f.subject, f.summary))
            .collect();
        if let Some(phases) = phases {
            record = phases.into_record(record);
        }
        if let Some(path) = record_path {
            record.write(&path)?;
            println!("run record: {path}");
        }
        if let Some(path) = html_path {
            std::fs::write(&path, report.to_html_with_runs(&[record]))?;
            println!("html report: {path}");
        }
    }
    if let Some(path) = report_json {
        std::fs::write(path, report.to_json())?;
    }
    if let Some((took, id)) = app
        .slowest
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        println!(
            "slowest event: trace_id={id} end to end {:.3} ms (its exemplar)",
            took.as_secs_f64() * 1e3
        );
    }
    std::thread::sleep(linger);
    server.shutdown();
    Ok(())
}
