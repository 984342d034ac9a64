//! A Raft/WAL-style log writer: producers append through a group commit that batches writes
//! and makes them durable with a real `File::sync_data` on a temporary file, while a node lock
//! guards the metadata. Partway through, a snapshot holds the node lock for seconds on purpose:
//! the lock watchdog reports it *while it happens* (a `tracing` warning naming the lock, the
//! holder's call site and how long), and the report at the end shows the stall.
//!
//! `cargo run --release --example wal_group_commit [-- --listen 127.0.0.1:9465 --duration 10s]`

#[path = "common/args.rs"]
mod args;

use perf_instrument::lock::LockWatchdog;
use perf_instrument::{channel, BatchRecorder, Mutex, QueueProbe, Registry, Report, Server, Unit};
use std::io::Write;
use std::time::{Duration, Instant};

/// What the node lock protects.
#[derive(Default)]
struct NodeState {
    term: u64,
    commit_index: u64,
    last_snapshot: u64,
}

/// An append waiting for its group commit: the record and where to send the committed index.
type Append = (Vec<u8>, crossbeam_channel::Sender<u64>);

/// Writes every append that is waiting as one batch, syncs it, and answers each producer.
fn committer(
    rx: channel::Receiver<Append>,
    file: std::fs::File,
    commits: BatchRecorder,
    node: &Mutex<NodeState>,
) {
    let mut file = std::io::BufWriter::new(file);
    let mut index = 0u64;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(1_023));
        let timer = commits.start();
        for (record, _) in &batch {
            let _ = file.write_all(&(record.len() as u32).to_le_bytes());
            let _ = file.write_all(record);
        }
        let _ = file.flush();
        let _ = file.get_ref().sync_data();
        timer.finish(batch.len() as u64);
        index += batch.len() as u64;
        node.lock().commit_index = index;
        for (_, reply) in batch {
            let _ = reply.send(index);
        }
    }
}

/// How long the run lasts and how the stall looks.
struct Run {
    /// The producers' run time.
    duration: Duration,
    /// When the snapshot takes the node lock, from the start.
    stall_after: Duration,
    /// How long the snapshot holds it.
    stall_for: Duration,
    /// The node lock's watchdog threshold.
    threshold: Duration,
}

/// Runs the log writer on `registry` and returns the report of the run, with the call site
/// (`file:line`) where the snapshot took the node lock.
fn run(registry: &Registry, plan: &Run) -> Result<(Report, String), Box<dyn std::error::Error>> {
    let node = Mutex::builder("raft_node")
        .hold_timing(true)
        .watchdog(plan.threshold)
        .build(NodeState::default(), registry)?;
    let commits = BatchRecorder::new(registry, "wal_group_commit")?;
    let append_latency = registry.histogram(
        "wal_append_duration_seconds",
        "Time from append to durable commit, as a producer sees it.",
        Unit::Seconds,
    )?;
    let watchdog = LockWatchdog::start(registry, Duration::from_millis(100))?;

    let path = std::env::temp_dir().join(format!(
        "perf-instrument-wal-{}-{:?}.log",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = std::fs::File::create(&path)?;
    let (tx, rx) = channel::bounded::<Append>(4_096, QueueProbe::new(registry, "wal_appends")?);
    let start = registry.snapshot();
    let deadline = Instant::now() + plan.duration;
    let mut snapshot_site = String::new();
    std::thread::scope(|s| {
        s.spawn(|| committer(rx, file, commits.clone(), &node));
        for producer in 0..3u64 {
            let (tx, node, latency) = (tx.clone(), &node, &append_latency);
            s.spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let record = format!("producer {producer} entry {n}").into_bytes();
                    let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
                    let timer = latency.start_timer();
                    if tx.send((record, reply_tx)).is_err() {
                        return;
                    }
                    let Ok(committed) = reply_rx.recv() else {
                        return;
                    };
                    drop(timer);
                    // Raft bookkeeping under the node lock after every commit.
                    node.lock().term = committed / 1_000 + 1;
                    n += 1;
                }
            });
        }
        drop(tx);
        // The stall: a snapshot that holds the node lock for seconds.
        let site = &mut snapshot_site;
        s.spawn(|| {
            std::thread::sleep(plan.stall_after);
            let mut state = node.lock();
            *site = format!("{}:{}", file!(), line!() - 1);
            println!(
                "snapshot: holding raft_node for {:?} (the watchdog should report it)",
                plan.stall_for
            );
            std::thread::sleep(plan.stall_for);
            state.last_snapshot = state.commit_index;
        });
    });
    // One last scan, so a stall that ended between two scans is counted.
    let _ = LockWatchdog::scan();
    let report = Report::between(&start, &registry.snapshot())
        .with_config("producers", 3)
        .with_config("duration", format!("{:?}", plan.duration))
        .with_config("stall", format!("raft_node held {:?}", plan.stall_for));
    drop(watchdog);
    let _ = std::fs::remove_file(&path);
    Ok((report, snapshot_site))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse(
        "wal_group_commit",
        &[("--listen", "ADDR"), ("--duration", "10s")],
    );
    tracing_subscriber::fmt().with_target(false).init();
    let listen = args
        .string("--listen")
        .unwrap_or_else(|| "127.0.0.1:9465".to_string());
    let seconds = args
        .duration("--duration", Duration::from_secs(10))
        .as_secs();

    let registry = Registry::global().clone();
    let server = Server::builder(registry.clone())
        .bind(listen.parse()?)
        .start()?;
    println!(
        "wal_group_commit: serving http://{}/metrics",
        server.local_addr()
    );
    let plan = Run {
        duration: Duration::from_secs(seconds),
        stall_after: Duration::from_secs(seconds.min(10) / 3),
        stall_for: Duration::from_secs(3),
        threshold: Duration::from_secs(1),
    };
    let (report, _) = run(&registry, &plan)?;
    println!();
    report.print();
    server.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use perf_instrument::FindingKind;

    /// The example's own run, shortened: its report names the stall of the node lock, with
    /// the snapshot's call site as the holder.
    #[test]
    fn the_report_names_the_node_lock_stall_and_the_holders_call_site() {
        let registry = Registry::builder().process_metrics(false).build().unwrap();
        let plan = Run {
            duration: Duration::from_millis(1_500),
            stall_after: Duration::from_millis(200),
            stall_for: Duration::from_millis(700),
            threshold: Duration::from_millis(300),
        };
        let (report, site) = run(&registry, &plan).unwrap();
        assert!(site.starts_with("examples/wal_group_commit.rs:"), "{site}");
        let hold = report
            .findings()
            .iter()
            .find(|f| f.kind == FindingKind::LongLockHold)
            .unwrap_or_else(|| panic!("no long-hold finding in\n{report}"));
        assert_eq!(hold.subject, "raft_node");
        assert!(hold.summary.contains(&site), "{report}");
        assert_eq!(hold.threshold.value, "300.00ms");
        assert_eq!(
            report.findings()[0].kind,
            FindingKind::LongLockHold,
            "the stall comes first:\n{report}"
        );
        assert!(report
            .to_string()
            .contains(&format!("held by {site}: 1 time(s)")));
    }
}
