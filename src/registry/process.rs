//! The process collector: CPU, memory, file descriptors, threads and start time of this
//! process, read from `/proc` at scrape time (Linux), under the names Prometheus client
//! libraries use.

use super::{Registry, RegistryError};

/// Registers the process collector in `registry` (a no-op outside Linux).
pub(crate) fn register_process_collector(registry: &Registry) -> Result<(), RegistryError> {
    #[cfg(target_os = "linux")]
    {
        registry.register_collector(std::sync::Arc::new(linux::Process::new()?))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = registry;
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use crate::recorder::Unit;
    use crate::registry::{
        Collector, Descriptor, FamilySnapshot, MetricKind, Opts, RegistryError, SeriesSnapshot,
        SeriesValue,
    };
    use std::sync::Arc;

    pub(super) struct Process {
        cpu: Arc<Descriptor>,
        resident: Arc<Descriptor>,
        virtual_memory: Arc<Descriptor>,
        open_fds: Arc<Descriptor>,
        max_fds: Arc<Descriptor>,
        threads: Arc<Descriptor>,
        start_time: Arc<Descriptor>,
        ticks_per_second: f64,
        page_size: f64,
    }

    fn desc(
        kind: MetricKind,
        name: &str,
        help: &str,
        unit: Unit,
    ) -> Result<Arc<Descriptor>, RegistryError> {
        Descriptor::new(kind, Opts::new(name, help).unit(unit)).map(Arc::new)
    }

    impl Process {
        pub(super) fn new() -> Result<Self, RegistryError> {
            use MetricKind::{Counter, Gauge};
            Ok(Self {
                cpu: desc(
                    Counter,
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    Unit::Seconds,
                )?,
                resident: desc(
                    Gauge,
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    Unit::Bytes,
                )?,
                virtual_memory: desc(
                    Gauge,
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    Unit::Bytes,
                )?,
                open_fds: desc(
                    Gauge,
                    "process_open_fds",
                    "Number of open file descriptors.",
                    Unit::Count,
                )?,
                max_fds: desc(
                    Gauge,
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    Unit::Count,
                )?,
                threads: desc(
                    Gauge,
                    "process_threads",
                    "Number of OS threads in the process.",
                    Unit::Count,
                )?,
                start_time: desc(
                    Gauge,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    Unit::Seconds,
                )?,
                ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
                page_size: rustix::param::page_size() as f64,
            })
        }
    }

    /// The fields of `/proc/self/stat` after the command name, from field 3 (`state`) on.
    fn stat_fields(stat: &str) -> Vec<&str> {
        stat.rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default()
    }

    fn field(fields: &[&str], number: usize) -> Option<f64> {
        // `number` is the 1-based field number of proc(5); field 3 is at index 0.
        fields.get(number.checked_sub(3)?)?.parse().ok()
    }

    fn boot_time() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }

    fn max_open_files() -> Option<f64> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        let soft = line
            .trim_start_matches("Max open files")
            .split_whitespace()
            .next()?;
        // "unlimited" reads as +Inf, the value client_golang reports then.
        Some(soft.parse().unwrap_or(f64::INFINITY))
    }

    impl Collector for Process {
        fn describe(&self) -> Vec<Arc<Descriptor>> {
            vec![
                self.cpu.clone(),
                self.resident.clone(),
                self.virtual_memory.clone(),
                self.open_fds.clone(),
                self.max_fds.clone(),
                self.threads.clone(),
                self.start_time.clone(),
            ]
        }

        fn collect(&self, out: &mut Vec<FamilySnapshot>) {
            let mut push = |desc: &Arc<Descriptor>, value: Option<f64>| {
                if let Some(v) = value {
                    out.push(FamilySnapshot {
                        desc: desc.clone(),
                        series: vec![SeriesSnapshot::new(Vec::new(), SeriesValue::Float(v))],
                    });
                }
            };
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let fields = stat_fields(&stat);
            let ticks = self.ticks_per_second;
            let cpu = field(&fields, 14)
                .zip(field(&fields, 15))
                .map(|(u, s)| (u + s) / ticks);
            push(&self.cpu, cpu);
            push(
                &self.resident,
                field(&fields, 24).map(|pages| pages * self.page_size),
            );
            push(&self.virtual_memory, field(&fields, 23));
            let open = std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64);
            push(&self.open_fds, open);
            push(&self.max_fds, max_open_files());
            push(&self.threads, field(&fields, 20));
            let start = field(&fields, 22)
                .zip(boot_time())
                .map(|(t, boot)| boot + t / ticks);
            push(&self.start_time, start);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_survive_a_command_name_with_spaces_and_parens() {
            let stat =
                "42 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22";
            let fields = stat_fields(stat);
            assert_eq!(fields[0], "S");
            assert_eq!(field(&fields, 14), Some(11.0));
            assert_eq!(field(&fields, 24), Some(21.0));
        }

        #[test]
        fn every_process_metric_is_read() {
            let process = Process::new().unwrap();
            let mut out = Vec::new();
            process.collect(&mut out);
            let names: Vec<&str> = out.iter().map(|f| f.desc.name()).collect();
            assert_eq!(names.len(), 7, "{names:?}");
            let value =
                |name: &str| match &out.iter().find(|f| f.desc.name() == name).unwrap().series[0]
                    .value
                {
                    SeriesValue::Float(v) => *v,
                    other => panic!("{other:?}"),
                };
            assert!(value("process_resident_memory_bytes") > 1e6);
            assert!(value("process_threads") >= 1.0);
            assert!(value("process_open_fds") >= 3.0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let start = value("process_start_time_seconds");
            assert!(
                start <= now + 1.0 && start > now - 86_400.0 * 365.0,
                "{start}"
            );
        }
    }
}
