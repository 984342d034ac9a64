//! The resources collector (Linux): machine and process CPU, memory against the cgroup v2
//! limit and the machine, CPU quota and throttling, disk busy time, network and process I/O
//! bytes, context switches — read from `/proc` and the process's cgroup at scrape time.
//! Elsewhere it registers its families and exports nothing.

mod parse;

use super::{
    Collector, Descriptor, FamilyDef, FamilySnapshot, Registry, RegistryError, SeriesSnapshot,
    SeriesValue,
};
use std::path::PathBuf;
use std::sync::Arc;

/// The catalogue entries of the resources collector's families (not in
/// [`catalogue`](crate::catalogue): like the process collector, it is opt-in per registry).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::FamilyDef;

    /// CPU time by scope (`machine`, `process`) and mode (`busy`, `idle`).
    pub(crate) const CPU_SECONDS: FamilyDef = FamilyDef::counter(
        "resource_cpu_seconds",
        "CPU time of the machine (busy, idle) and of this process (busy).",
    )
    .unit(Unit::Seconds)
    .labels(&["scope", "mode"])
    .not_tabled("a counter (the report's resources and CPU finding read it)");
    /// CPU capacity in cores by scope.
    pub(crate) const CPU_CAPACITY: FamilyDef = FamilyDef::gauge(
        "resource_cpu_capacity_cores",
        "Cores available: the machine's, and the process's (cgroup cpu.max quota, a declared limit, or the cores it may run on).",
    )
    .labels(&["scope"])
    .not_tabled("a gauge");
    /// cgroup CPU periods, all and throttled.
    pub(crate) const CPU_PERIODS: FamilyDef = FamilyDef::counter(
        "resource_cpu_periods",
        "cgroup CPU enforcement periods (cpu.stat), all and throttled.",
    )
    .labels(&["kind"])
    .not_tabled("a counter");
    /// cgroup throttled time.
    pub(crate) const CPU_THROTTLED: FamilyDef = FamilyDef::counter(
        "resource_cpu_throttled_seconds",
        "Time the cgroup was throttled by its CPU quota (cpu.stat throttled_usec).",
    )
    .unit(Unit::Seconds)
    .not_tabled("a counter");
    /// Memory used by scope.
    pub(crate) const MEMORY_USED: FamilyDef = FamilyDef::gauge(
        "resource_memory_used_bytes",
        "Memory used: by the machine (MemTotal - MemAvailable), the cgroup (memory.current), the process (resident).",
    )
    .unit(Unit::Bytes)
    .labels(&["scope"])
    .not_tabled("a gauge (the memory finding reads it)");
    /// Memory limit by scope.
    pub(crate) const MEMORY_LIMIT: FamilyDef = FamilyDef::gauge(
        "resource_memory_limit_bytes",
        "Memory limit: the machine's MemTotal, the cgroup's memory.max (when set), the process's declared limit.",
    )
    .unit(Unit::Bytes)
    .labels(&["scope"])
    .not_tabled("a gauge (the memory finding reads it)");
    /// Disk busy time by device.
    pub(crate) const DISK_BUSY: FamilyDef = FamilyDef::counter(
        "resource_disk_busy_seconds",
        "Time each disk spent doing I/O (/proc/diskstats); its rate is the disk's utilisation.",
    )
    .unit(Unit::Seconds)
    .labels(&["device"])
    .not_tabled("a counter (the I/O finding reads it)");
    /// Process I/O bytes.
    pub(crate) const PROCESS_IO: FamilyDef = FamilyDef::counter(
        "resource_process_io_bytes",
        "Bytes this process read from and wrote to storage (/proc/self/io).",
    )
    .unit(Unit::Bytes)
    .labels(&["direction"])
    .not_tabled("a counter");
    /// Network bytes.
    pub(crate) const NETWORK: FamilyDef = FamilyDef::counter(
        "resource_network_bytes",
        "Bytes received and sent on the network interfaces but loopback (/proc/net/dev).",
    )
    .unit(Unit::Bytes)
    .labels(&["direction"])
    .not_tabled("a counter");
    /// Context switches of the process.
    pub(crate) const CONTEXT_SWITCHES: FamilyDef = FamilyDef::counter(
        "resource_context_switches",
        "Context switches of this process's main thread, voluntary and involuntary (/proc/self/status).",
    )
    .labels(&["kind"])
    .not_tabled("a counter");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &CPU_SECONDS,
        &CPU_CAPACITY,
        &CPU_PERIODS,
        &CPU_THROTTLED,
        &MEMORY_USED,
        &MEMORY_LIMIT,
        &DISK_BUSY,
        &PROCESS_IO,
        &NETWORK,
        &CONTEXT_SWITCHES,
    ];
}

/// Most disks exported.
const MAX_DISKS: usize = 16;

/// Configures the resources collector: where to read from, and limits to compare against
/// when the cgroup sets none (or to test the findings with an injected limit).
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// perf_instrument::Resources::builder().memory_limit_bytes(1 << 30).register(&registry).unwrap();
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// if cfg!(target_os = "linux") {
///     assert!(text.contains("resource_memory_limit_bytes{scope=\"process\"} 1.073741824e+09"));
/// }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `register` is called"]
pub struct ResourcesBuilder {
    proc_root: PathBuf,
    cgroup_dir: Option<PathBuf>,
    cpu_limit_cores: Option<f64>,
    memory_limit_bytes: Option<u64>,
}

/// The resources collector: see [`Resources::builder`].
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// perf_instrument::Resources::register(&registry).unwrap();
/// let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
/// assert_eq!(text.contains("resource_cpu_seconds_total"), cfg!(target_os = "linux"));
/// ```
#[derive(Debug)]
pub struct Resources;

impl Resources {
    /// A builder with the defaults: `/proc`, the process's cgroup v2 directory (from
    /// `/proc/self/cgroup` under `/sys/fs/cgroup`), no declared limits.
    ///
    /// ```
    /// let b = perf_instrument::Resources::builder().cpu_limit_cores(2.0);
    /// assert!(format!("{b:?}").contains("2.0"));
    /// ```
    pub fn builder() -> ResourcesBuilder {
        ResourcesBuilder {
            proc_root: PathBuf::from("/proc"),
            cgroup_dir: None,
            cpu_limit_cores: None,
            memory_limit_bytes: None,
        }
    }

    /// Registers the collector with the defaults in `registry`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if its family names are taken in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::Resources::register(&r).is_ok());
    /// assert!(perf_instrument::Resources::register(&r).is_err(), "once per registry");
    /// ```
    pub fn register(registry: &Registry) -> Result<(), RegistryError> {
        Self::builder().register(registry)
    }
}

impl ResourcesBuilder {
    /// Where `/proc` is (for tests on fixture files).
    ///
    /// ```
    /// let b = perf_instrument::Resources::builder().proc_root("/proc");
    /// assert!(format!("{b:?}").contains("/proc"));
    /// ```
    pub fn proc_root(mut self, path: impl Into<PathBuf>) -> Self {
        self.proc_root = path.into();
        self
    }

    /// The cgroup v2 directory to read `memory.max`, `memory.current`, `cpu.max` and
    /// `cpu.stat` from (default: the process's own).
    ///
    /// ```
    /// let b = perf_instrument::Resources::builder().cgroup_dir("/sys/fs/cgroup");
    /// assert!(format!("{b:?}").contains("cgroup"));
    /// ```
    pub fn cgroup_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.cgroup_dir = Some(path.into());
        self
    }

    /// Cores the process may use, in place of the cgroup quota (`cpu.max`) or, without one,
    /// the cores it may run on: the CPU finding compares the process's CPU time against it.
    /// Non-finite or non-positive values are ignored.
    ///
    /// ```
    /// let b = perf_instrument::Resources::builder().cpu_limit_cores(0.5);
    /// assert!(format!("{b:?}").contains("0.5"));
    /// ```
    pub fn cpu_limit_cores(mut self, cores: f64) -> Self {
        self.cpu_limit_cores = (cores.is_finite() && cores > 0.0).then_some(cores);
        self
    }

    /// A memory budget for the process, exported as the `process` scope's limit beside its
    /// resident memory (the memory finding compares them).
    ///
    /// ```
    /// let b = perf_instrument::Resources::builder().memory_limit_bytes(1 << 20);
    /// assert!(format!("{b:?}").contains("1048576"));
    /// ```
    pub fn memory_limit_bytes(mut self, bytes: u64) -> Self {
        self.memory_limit_bytes = Some(bytes);
        self
    }

    /// Registers the collector in `registry`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if its family names are taken in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::Resources::builder().register(&r).is_ok());
    /// ```
    pub fn register(self, registry: &Registry) -> Result<(), RegistryError> {
        let descs = families::ALL
            .iter()
            .map(|def| Descriptor::new(def.kind(), def.opts()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let cgroup_dir = self
            .cgroup_dir
            .clone()
            .or_else(|| own_cgroup(&self.proc_root));
        registry.register_collector(Arc::new(Collect {
            config: self,
            cgroup_dir,
            descs,
        }))
    }
}

/// The process's cgroup v2 directory: `/sys/fs/cgroup` + the `0::` line of `/proc/self/cgroup`.
fn own_cgroup(proc_root: &std::path::Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(proc_root.join("self/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/')))
}

struct Collect {
    config: ResourcesBuilder,
    cgroup_dir: Option<PathBuf>,
    descs: Vec<Arc<Descriptor>>,
}

impl Collect {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.config.proc_root.join(path)).ok()
    }

    fn cgroup(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.cgroup_dir.as_ref()?.join(file)).ok()
    }
}

impl Collector for Collect {
    fn describe(&self) -> Vec<Arc<Descriptor>> {
        self.descs.clone()
    }

    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        if !cfg!(target_os = "linux") {
            return;
        }
        use families as f;
        let mut series: Vec<(&FamilyDef, Vec<&str>, f64)> = Vec::new();
        let ticks = ticks_per_second();
        if let Some((busy, idle)) = self.read("stat").as_deref().and_then(parse::proc_stat_cpu) {
            series.push((
                &f::CPU_SECONDS,
                vec!["machine", "busy"],
                busy as f64 / ticks,
            ));
            series.push((
                &f::CPU_SECONDS,
                vec!["machine", "idle"],
                idle as f64 / ticks,
            ));
        }
        if let Some(t) = self
            .read("self/stat")
            .as_deref()
            .and_then(parse::proc_self_stat_cpu)
        {
            series.push((&f::CPU_SECONDS, vec!["process", "busy"], t as f64 / ticks));
        }
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        series.push((&f::CPU_CAPACITY, vec!["machine"], cores));
        let quota = self
            .cgroup("cpu.max")
            .as_deref()
            .and_then(parse::cgroup_cpu_max);
        let process_cores = self
            .config
            .cpu_limit_cores
            .or(quota)
            .map_or(cores, |q| q.min(cores));
        series.push((&f::CPU_CAPACITY, vec!["process"], process_cores));
        if let Some((periods, throttled, usec)) = self
            .cgroup("cpu.stat")
            .as_deref()
            .and_then(parse::cgroup_cpu_stat)
        {
            series.push((&f::CPU_PERIODS, vec!["total"], periods as f64));
            series.push((&f::CPU_PERIODS, vec!["throttled"], throttled as f64));
            series.push((&f::CPU_THROTTLED, vec![], usec as f64 / 1e6));
        }
        if let Some(meminfo) = self.read("meminfo") {
            if let (Some(total), Some(available)) = (
                parse::kv(&meminfo, "MemTotal"),
                parse::kv(&meminfo, "MemAvailable"),
            ) {
                series.push((
                    &f::MEMORY_USED,
                    vec!["machine"],
                    total.saturating_sub(available) as f64,
                ));
                series.push((&f::MEMORY_LIMIT, vec!["machine"], total as f64));
            }
        }
        if let Some(current) = self
            .cgroup("memory.current")
            .as_deref()
            .and_then(parse::cgroup_value)
        {
            series.push((&f::MEMORY_USED, vec!["cgroup"], current as f64));
            if let Some(max) = self
                .cgroup("memory.max")
                .as_deref()
                .and_then(parse::cgroup_value)
            {
                series.push((&f::MEMORY_LIMIT, vec!["cgroup"], max as f64));
            }
        }
        let status = self.read("self/status").unwrap_or_default();
        if let Some(rss) = parse::kv(&status, "VmRSS") {
            series.push((&f::MEMORY_USED, vec!["process"], rss as f64));
        }
        if let Some(limit) = self.config.memory_limit_bytes {
            series.push((&f::MEMORY_LIMIT, vec!["process"], limit as f64));
        }
        for (kind, key) in [
            ("voluntary", "voluntary_ctxt_switches"),
            ("involuntary", "nonvoluntary_ctxt_switches"),
        ] {
            if let Some(n) = parse::kv(&status, key) {
                series.push((&f::CONTEXT_SWITCHES, vec![kind], n as f64));
            }
        }
        let disks = self
            .read("diskstats")
            .map(|t| parse::diskstats(&t, MAX_DISKS))
            .unwrap_or_default();
        let io = self.read("self/io").unwrap_or_default();
        for (direction, key) in [("read", "read_bytes"), ("write", "write_bytes")] {
            if let Some(n) = parse::kv(&io, key) {
                series.push((&f::PROCESS_IO, vec![direction], n as f64));
            }
        }
        if let Some((rx, tx)) = self.read("net/dev").as_deref().and_then(parse::net_dev) {
            series.push((&f::NETWORK, vec!["receive"], rx as f64));
            series.push((&f::NETWORK, vec!["transmit"], tx as f64));
        }
        for (def, desc) in families::ALL.iter().zip(&self.descs) {
            let mut s: Vec<SeriesSnapshot> = series
                .iter()
                .filter(|(d, _, _)| std::ptr::eq(*d, *def))
                .map(|(_, labels, v)| {
                    SeriesSnapshot::new(
                        labels
                            .iter()
                            .map(|l| (*l).to_string())
                            .collect::<Vec<String>>(),
                        SeriesValue::Float(*v),
                    )
                })
                .collect();
            if std::ptr::eq(*def, &f::DISK_BUSY) {
                s = disks
                    .iter()
                    .map(|(name, ms)| {
                        SeriesSnapshot::new(
                            vec![name.clone()],
                            SeriesValue::Float(*ms as f64 / 1e3),
                        )
                    })
                    .collect();
            }
            if !s.is_empty() {
                out.push(FamilySnapshot {
                    desc: desc.clone(),
                    series: s,
                });
            }
        }
    }
}

fn ticks_per_second() -> f64 {
    #[cfg(target_os = "linux")]
    {
        rustix::param::clock_ticks_per_second() as f64
    }
    #[cfg(not(target_os = "linux"))]
    {
        100.0
    }
}
