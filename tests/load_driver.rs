//! The open-loop load driver: stalls show in the corrected latency, saturation drops calls,
//! rates plan the right number of calls, calls in flight show per interval.
#![cfg(all(not(perf_instrument_loom), feature = "load"))]

use perf_instrument::load::{LoadDriver, Phase, Plan, Rate};
use std::sync::Barrier;
use std::time::Duration;

#[test]
fn a_stall_shows_in_the_corrected_p99_and_not_in_the_service_time() {
    // 1,000 calls/s for 2 s on one worker; call 500 stalls for 200 ms. About 200 planned calls
    // queue behind it and each waits the rest of the stall: the 20 slowest of 2,000 (the top
    // 1%) waited 181–200 ms, so the corrected p99 is about 181 ms. Only one call was slow to
    // serve, so the service-time p99 stays tiny.
    let stall = Duration::from_millis(200);
    let result = LoadDriver::new(
        Rate::Constant {
            per_second: 1_000.0,
        },
        Duration::from_secs(2),
    )
    .threads(1)
    .run(|call| {
        if call.index == 500 {
            std::thread::sleep(stall);
        }
    });
    assert_eq!(result.dropped, 0, "{result}");
    assert_eq!(result.completed, result.planned);
    let expected = 0.181;
    let corrected = result.latency.quantile(0.99).unwrap();
    // Tolerance: the bucket error (4.33%) and scheduling noise on a shared machine.
    assert!(
        corrected > expected * 0.7 && corrected < expected * 1.6,
        "corrected p99 {corrected} s, expected about {expected} s: {result}"
    );
    let uncorrected = result.service_time.quantile(0.99).unwrap();
    assert!(
        uncorrected < 0.02,
        "service-time p99 {uncorrected} s should not see the stall"
    );
    assert!(
        result.service_time.max().unwrap() >= 0.19,
        "the stalled call itself"
    );
}

#[test]
fn a_saturated_pool_drops_and_counts_calls() {
    let result = LoadDriver::new(
        Rate::Constant {
            per_second: 1_000.0,
        },
        Duration::from_millis(300),
    )
    .threads(1)
    .queue(5)
    .run(|_| std::thread::sleep(Duration::from_millis(5)));
    assert!(result.dropped > 0, "{result}");
    assert_eq!(result.completed + result.dropped, result.planned);
    assert!(
        result.min_throughput(900.0).is_err(),
        "the gate fails: {result}"
    );
}

#[test]
fn rates_plan_the_expected_number_of_calls() {
    let run = |rate| {
        LoadDriver::new(rate, Duration::from_millis(400))
            .threads(2)
            .run(|_| ())
            .planned as f64
    };
    let close = |got: f64, want: f64| (got - want).abs() <= want * 0.05 + 2.0;
    let constant = run(Rate::Constant { per_second: 500.0 });
    assert!(close(constant, 200.0), "{constant}");
    let ramp = run(Rate::Ramp {
        from: 0.0,
        to: 1_000.0,
    });
    assert!(close(ramp, 200.0), "{ramp}");
    let burst = run(Rate::Burst {
        baseline: 100.0,
        burst: 1_000.0,
        start: Duration::from_millis(100),
        length: Duration::from_millis(100),
    });
    assert!(close(burst, 0.3 * 100.0 + 0.1 * 1_000.0), "{burst}");
    assert_eq!(run(Rate::Constant { per_second: 0.0 }), 0.0);
}

#[test]
fn a_slow_plan_stops_soon_after_it_is_told() {
    // One call every 100 s: the first is planned 100 s in, yet a stop after 50 ms ends the run
    // within the stop poll (10 ms), not at the next planned call.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        LoadDriver::new(
            Rate::Constant { per_second: 0.01 },
            Duration::from_secs(3_600),
        )
        .run_until(|| stop.load(std::sync::atomic::Ordering::Relaxed), |_| ())
    });
    assert_eq!(result.planned, 0);
    assert!(started.elapsed() < Duration::from_secs(10), "{result}");
}

#[test]
fn each_call_knows_its_intended_start_and_the_calls_are_numbered_in_order() {
    let seen = std::sync::Mutex::new(Vec::new());
    let result = LoadDriver::new(
        Rate::Constant { per_second: 200.0 },
        Duration::from_millis(100),
    )
    .threads(1)
    .run(|call| {
        assert!(call.intended <= std::time::Instant::now());
        seen.lock().unwrap().push(call);
    });
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len() as u64, result.completed);
    for (k, pair) in seen.windows(2).enumerate() {
        assert_eq!(pair[0].index, k as u64);
        // 200 calls/s: intended starts 5 ms apart (a microsecond of float rounding aside).
        let gap = pair[1].intended - pair[0].intended;
        assert!(
            gap.abs_diff(Duration::from_millis(5)) < Duration::from_micros(2),
            "{gap:?}"
        );
    }
}

#[test]
fn calls_in_flight_rise_to_the_pool_while_calls_block() {
    // Four workers; the first four calls wait for each other, so at the moment the last of
    // them is taken up all four are running.
    let plan = Plan::new(vec![Phase::constant(
        "a",
        200.0,
        Duration::from_millis(200),
    )])
    .unwrap()
    .with_interval(Duration::from_millis(50))
    .unwrap();
    let barrier = Barrier::new(4);
    let result = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
        .threads(4)
        .run_plan(&plan, |call| {
            if call.index < 4 {
                barrier.wait();
            }
            Ok::<(), String>(())
        });
    let phase = &result.phases[0];
    assert_eq!(phase.intervals.len(), 4);
    let in_flight: Vec<_> = phase
        .intervals
        .iter()
        .map(|i| {
            i.in_flight
                .expect("every interval measures calls in flight")
        })
        .collect();
    assert_eq!(
        in_flight.iter().map(|f| f.running_max).max(),
        Some(4),
        "{in_flight:?}"
    );
    for f in &in_flight {
        assert!(f.running <= f.running_max && f.running_max <= 4, "{f:?}");
    }
}

#[test]
fn calls_in_flight_when_the_plan_ends_show_in_its_last_interval() {
    // One worker; the first call outlasts the plan, so every call after it is still queued
    // when the plan ends, and the first is still running.
    let plan = Plan::new(vec![Phase::constant(
        "a",
        200.0,
        Duration::from_millis(100),
    )])
    .unwrap()
    .with_interval(Duration::from_millis(50))
    .unwrap();
    let result = LoadDriver::new(Rate::Constant { per_second: 0.0 }, Duration::ZERO)
        .threads(1)
        .run_plan(&plan, |call| {
            if call.index == 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok::<(), String>(())
        });
    let phase = &result.phases[0];
    assert_eq!(phase.dropped, 0);
    assert!(phase.planned > 1, "{result}");
    for i in &phase.intervals {
        let f = i.in_flight.unwrap();
        assert_eq!((f.running, f.running_max), (1, 1), "{f:?}");
    }
    let last = phase.intervals.last().unwrap().in_flight.unwrap();
    assert_eq!(last.queued, phase.planned - 1, "{last:?}");
    assert_eq!(last.outstanding(), phase.planned);
}
