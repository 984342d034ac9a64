//! Resource use over a report's window (from the resources collector's families), and the
//! resource findings: CPU above 75%, memory above 80% of a limit, a disk busy above 80%.

use super::finding::{Finding, FindingKind, Threshold, FIXED};
use super::text::{duration, ratio};
use super::window::{label, Window};
use crate::registry::resources::families as r;
use serde::Serialize;

/// CPU utilisation above which the CPU finding fires.
pub const CPU_THRESHOLD: f64 = 0.75;
/// Share of a memory limit above which the memory finding fires.
pub const MEMORY_THRESHOLD: f64 = 0.8;
/// Disk utilisation (busy time over wall time) above which the I/O finding fires.
pub const IO_THRESHOLD: f64 = 0.8;
/// Share of the target throughput below which a busy CPU is the bottleneck.
pub const TARGET_SHARE: f64 = 0.8;

/// Memory used against one limit.
///
/// ```
/// let m = perf_instrument::MemoryUse { scope: "cgroup".into(), used_bytes: 80.0, limit_bytes: Some(100.0) };
/// assert_eq!(m.share(), Some(0.8));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryUse {
    /// `machine`, `cgroup` or `process`.
    pub scope: String,
    /// Bytes used at the end of the window.
    pub used_bytes: f64,
    /// The limit, when there is one.
    pub limit_bytes: Option<f64>,
}

impl MemoryUse {
    /// Used over limit.
    ///
    /// ```
    /// let m = perf_instrument::MemoryUse { scope: "machine".into(), used_bytes: 1.0, limit_bytes: None };
    /// assert_eq!(m.share(), None);
    /// ```
    #[must_use]
    pub fn share(&self) -> Option<f64> {
        self.limit_bytes
            .filter(|l| *l > 0.0)
            .map(|l| self.used_bytes / l)
    }
}

/// What the machine and the process used over a report's window (Linux, with
/// [`Resources`](crate::Resources) registered; empty otherwise). Rates and utilisations need
/// a window.
///
/// ```
/// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
/// assert!(report.resources().is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResourceUse {
    /// The machine's CPU busy share.
    pub machine_cpu: Option<f64>,
    /// The process's CPU time over wall time × its cores.
    pub process_cpu: Option<f64>,
    /// Cores the process may use (quota, declared limit, or the cores it runs on).
    pub process_cores: Option<f64>,
    /// Share of the cgroup's CPU periods that were throttled.
    pub throttled_share: Option<f64>,
    /// Memory against each limit.
    pub memory: Vec<MemoryUse>,
    /// Per disk: busy time over wall time.
    pub disks: Vec<(String, f64)>,
    /// Network bytes per second received and sent.
    pub network_per_second: Option<(f64, f64)>,
    /// Process storage bytes per second read and written.
    pub process_io_per_second: Option<(f64, f64)>,
    /// Process context switches per second, voluntary and involuntary.
    pub context_switches_per_second: Option<(f64, f64)>,
}

impl ResourceUse {
    /// Whether nothing was measured.
    ///
    /// ```
    /// assert!(perf_instrument::ResourceUse::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.machine_cpu.is_none() && self.process_cpu.is_none() && self.memory.is_empty()
    }
}

fn pair(w: &Window<'_>, def: &crate::registry::FamilyDef, a: &str, b: &str) -> Option<(f64, f64)> {
    let seconds = w.seconds.filter(|s| *s > 0.0)?;
    let by = w.counter_by(def, label_name(def));
    Some((by.get(a)? / seconds, by.get(b)? / seconds))
}

fn label_name(def: &crate::registry::FamilyDef) -> &'static str {
    def.label_names().first().copied().unwrap_or("")
}

pub(crate) fn resource_use(w: &Window<'_>) -> ResourceUse {
    let seconds = w.seconds.filter(|s| *s > 0.0);
    let cpu = w.counters(&r::CPU_SECONDS);
    let cpu_of = |scope: &str, mode: &str| {
        cpu.iter()
            .find(|(l, _)| label(l, "scope") == scope && label(l, "mode") == mode)
            .map(|(_, v)| *v)
    };
    let machine_cpu = match (cpu_of("machine", "busy"), cpu_of("machine", "idle")) {
        (Some(b), Some(i)) if seconds.is_some() && b + i > 0.0 => Some(b / (b + i)),
        _ => None,
    };
    let capacity = w.gauge_by(&r::CPU_CAPACITY, "scope");
    let process_cores = capacity.get("process").copied();
    let process_cpu = match (cpu_of("process", "busy"), seconds, process_cores) {
        (Some(b), Some(s), Some(c)) if c > 0.0 => Some(b / (s * c)),
        _ => None,
    };
    let periods = w.counter_by(&r::CPU_PERIODS, "kind");
    let throttled_share = match (periods.get("total"), periods.get("throttled")) {
        (Some(t), Some(n)) if *t > 0.0 => Some(n / t),
        _ => None,
    };
    let limits = w.gauge_by(&r::MEMORY_LIMIT, "scope");
    let memory = w
        .gauge_by(&r::MEMORY_USED, "scope")
        .into_iter()
        .map(|(scope, used)| MemoryUse {
            limit_bytes: limits.get(&scope).copied(),
            scope,
            used_bytes: used,
        })
        .collect();
    let disks = match seconds {
        Some(s) => w
            .counters(&r::DISK_BUSY)
            .into_iter()
            .map(|(l, busy)| (label(&l, "device").to_string(), busy / s))
            .collect(),
        None => Vec::new(),
    };
    ResourceUse {
        machine_cpu,
        process_cpu,
        process_cores,
        throttled_share,
        memory,
        disks,
        network_per_second: pair(w, &r::NETWORK, "receive", "transmit"),
        process_io_per_second: pair(w, &r::PROCESS_IO, "read", "write"),
        context_switches_per_second: pair(w, &r::CONTEXT_SWITCHES, "voluntary", "involuntary"),
    }
}

fn gib(bytes: f64) -> String {
    format!("{:.2} GiB", bytes / f64::from(1u32 << 30))
}

/// The resource findings of `u`.
pub(crate) fn resource_findings(u: &ResourceUse, out: &mut Vec<Finding>) {
    for (scope, busy) in [("process", u.process_cpu), ("machine", u.machine_cpu)] {
        let Some(busy) = busy.filter(|b| *b > CPU_THRESHOLD) else {
            continue;
        };
        let mut evidence = vec![format!("{scope} CPU {} busy over the window", ratio(busy))];
        if scope == "process" {
            if let Some(cores) = u.process_cores {
                evidence.push(format!("of {cores:.2} core(s) it may use"));
            }
        }
        if let Some(t) = u.throttled_share.filter(|t| *t > 0.0) {
            evidence.push(format!(
                "{} of CPU periods throttled by the cgroup quota",
                ratio(t)
            ));
        }
        out.push(Finding::new(
            FindingKind::CpuSaturated,
            scope,
            format!("{scope} CPU is {} busy: CPU is the likely bottleneck", ratio(busy)),
            Threshold::new(
                format!(
                    "{} CPU, while throughput is below {} of the target (Report::with_target_throughput)",
                    ratio(CPU_THRESHOLD),
                    ratio(TARGET_SHARE)
                ),
                FIXED,
            ),
            evidence,
            "profile the hottest stages (perf, flamegraph) or give the service more cores",
        ));
    }
    for m in &u.memory {
        let Some(share) = m.share().filter(|s| *s > MEMORY_THRESHOLD) else {
            continue;
        };
        let limit = m.limit_bytes.unwrap_or(0.0);
        let mut finding = Finding::new(
            FindingKind::MemoryPressure,
            m.scope.clone(),
            format!("{} memory at {} of its limit", m.scope, ratio(share)),
            Threshold::new(
                format!("{} of the limit", ratio(MEMORY_THRESHOLD)),
                match m.scope.as_str() {
                    "cgroup" => "fixed by the report; the limit is the cgroup's memory.max",
                    "process" => "fixed by the report; the limit is Resources::builder().memory_limit_bytes(..)",
                    _ => "fixed by the report; the limit is the machine's MemTotal",
                },
            ),
            vec![format!("{} used of {}", gib(m.used_bytes), gib(limit))],
            "find what grows (caches, queues, buffers) and bound it, or raise the limit",
        );
        if share > 0.95 {
            finding.severity = super::Severity::Critical;
        }
        out.push(finding);
    }
    for (device, busy) in &u.disks {
        if *busy <= IO_THRESHOLD {
            continue;
        }
        out.push(Finding::new(
            FindingKind::IoSaturated,
            device.clone(),
            format!("disk {device} busy {} of the window", ratio(*busy)),
            Threshold::new(format!("{} busy", ratio(IO_THRESHOLD)), FIXED),
            vec![format!(
                "busy {} per second of wall time",
                duration(busy.min(1.0))
            )],
            "batch or coalesce writes (group commit), or move the hot files to a faster device",
        ));
    }
}
