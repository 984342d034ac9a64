//! `MetricsRecorder::install`: the process's global `metrics` recorder (its own test binary, as
//! a global recorder can be installed only once per process).
#![cfg(all(feature = "metrics", not(perf_instrument_loom)))]

use perf_instrument::{render_as, Format, InstallError, MetricsRecorder, Registry};

#[test]
fn an_installed_recorder_receives_the_macros_of_any_thread_and_only_once() {
    MetricsRecorder::new(Registry::global()).install().unwrap();
    assert_eq!(
        MetricsRecorder::new(Registry::global()).install(),
        Err(InstallError::AlreadyInstalled)
    );
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for _ in 0..250 {
                    metrics::counter!("global_jobs_total", "thread" => (t % 2).to_string())
                        .increment(1);
                    metrics::histogram!("global_job_seconds").record(0.002);
                }
            });
        }
    });
    let text = String::from_utf8(render_as(Registry::global(), Format::PrometheusText)).unwrap();
    assert!(
        text.contains("global_jobs_total{thread=\"0\"} 500"),
        "{text}"
    );
    assert!(
        text.contains("global_jobs_total{thread=\"1\"} 500"),
        "{text}"
    );
    assert!(text.contains("global_job_seconds_count 1000"), "{text}");
}
