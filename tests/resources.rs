//! The resources collector and its findings: a CPU-bound and a memory-bound service trigger
//! the CPU and memory findings with their thresholds shown; a cgroup's limits (injected as
//! fixture files where the machine sets none) are read and weighed.
#![cfg(all(target_os = "linux", not(perf_instrument_loom)))]

use perf_instrument::{FindingKind, Pipeline, Registry, Report, Resources};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn registry() -> Registry {
    Registry::builder().process_metrics(false).build().unwrap()
}

fn spin(threads: usize, for_how_long: Duration) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                let start = Instant::now();
                let mut x = 0u64;
                while start.elapsed() < for_how_long {
                    x = black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            });
        }
    });
}

#[test]
fn a_cpu_bound_service_triggers_the_cpu_finding_unless_it_meets_its_target() {
    let registry = registry();
    Resources::builder()
        .cpu_limit_cores(0.1)
        .register(&registry)
        .unwrap();
    let p = Pipeline::builder("work")
        .stages(["compute"])
        .build(&registry)
        .unwrap();
    let before = registry.snapshot();
    spin(2, Duration::from_millis(400));
    for _ in 0..100 {
        let mut e = p.begin();
        p.time_stage(&mut e, p.stage("compute").unwrap(), || ());
        p.finish(e);
    }
    let after = registry.snapshot();
    let report = Report::between(&before, &after);
    let u = report.resources();
    assert_eq!(u.process_cores, Some(0.1));
    // Two spinning threads against a declared tenth of a core (even a loaded machine gives
    // them more than 0.075 cores between them).
    assert!(u.process_cpu.unwrap() > 0.75, "{report}");
    let f = report
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::CpuSaturated && f.subject == "process")
        .unwrap_or_else(|| panic!("no CPU finding in\n{report}"));
    assert!(
        f.threshold.value.starts_with("75.0% CPU"),
        "{:?}",
        f.threshold
    );
    assert!(report.to_string().contains("threshold: 75.0% CPU"));
    // 100 events in well under a second: more than 80% of a 10/s target, so not a bottleneck.
    let met = Report::between(&before, &after).with_target_throughput(10.0);
    assert!(!met
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::CpuSaturated && f.subject == "process"));
    // A target far above what was done keeps the finding, with the throughput as evidence.
    let missed = Report::between(&before, &after).with_target_throughput(1e9);
    let f = missed
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::CpuSaturated && f.subject == "process")
        .unwrap();
    assert!(
        f.evidence.iter().any(|e| e.contains("of the target")),
        "{:?}",
        f.evidence
    );
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn a_memory_bound_service_triggers_the_memory_finding_past_eighty_percent() {
    let registry = registry();
    let limit = resident_bytes() + (40 << 20);
    Resources::builder()
        .memory_limit_bytes(limit)
        .register(&registry)
        .unwrap();
    let calm = Report::from_registry(&registry);
    assert!(
        !calm
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::MemoryPressure && f.subject == "process"),
        "{calm}"
    );
    // 64 MiB, touched so that it is resident.
    let hog = black_box(vec![1u8; 64 << 20]);
    let report = Report::from_registry(&registry);
    let f = report
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::MemoryPressure && f.subject == "process")
        .unwrap_or_else(|| panic!("no memory finding in\n{report}"));
    assert_eq!(f.threshold.value, "80.0% of the limit");
    assert!(f.threshold.set_by.contains("memory_limit_bytes"));
    assert!(report.to_string().contains("process memory"));
    drop(hog);
}

#[test]
fn cgroup_limits_and_throttling_are_read_from_the_cgroup_files() {
    // This machine sets no cgroup v2 limits on the test process, so the limits are injected
    // as the files the kernel would show.
    let dir = std::env::temp_dir().join(format!("perf-instrument-cgroup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("memory.current"), "900000000\n").unwrap();
    std::fs::write(dir.join("memory.max"), "1000000000\n").unwrap();
    std::fs::write(dir.join("cpu.max"), "50000 100000\n").unwrap();
    std::fs::write(
        dir.join("cpu.stat"),
        "usage_usec 10\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
    )
    .unwrap();
    let registry = registry();
    Resources::builder()
        .cgroup_dir(&dir)
        .register(&registry)
        .unwrap();
    let before = registry.snapshot();
    std::fs::write(
        dir.join("cpu.stat"),
        "usage_usec 10\nnr_periods 10\nnr_throttled 4\nthrottled_usec 200000\n",
    )
    .unwrap();
    let report = Report::between(&before, &registry.snapshot());
    let u = report.resources();
    assert_eq!(u.process_cores, Some(0.5));
    assert_eq!(u.throttled_share, Some(0.4));
    let cgroup = u.memory.iter().find(|m| m.scope == "cgroup").unwrap();
    assert_eq!((cgroup.used_bytes, cgroup.limit_bytes), (9e8, Some(1e9)));
    let f = report
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::MemoryPressure && f.subject == "cgroup")
        .unwrap_or_else(|| panic!("no cgroup memory finding in\n{report}"));
    assert!(f.threshold.set_by.contains("memory.max"));
    assert_eq!(f.severity, perf_instrument::Severity::Warning);
    let text = String::from_utf8(perf_instrument::render(&registry, None).1).unwrap();
    assert!(
        text.contains("resource_memory_limit_bytes{scope=\"cgroup\"} 1e+09"),
        "{text}"
    );
    assert!(
        text.contains("resource_cpu_throttled_seconds_total 0.2"),
        "{text}"
    );
    assert!(text.contains("resource_cpu_seconds_total{scope=\"machine\",mode=\"busy\"}"));
    assert!(text.contains("resource_network_bytes_total{direction=\"receive\"}"));
    assert!(text.contains("resource_context_switches_total{kind=\"voluntary\"}"));
    let _ = std::fs::remove_dir_all(&dir);
}
