//! The verdict of a comparison on a test service with a controlled latency distribution:
//! five stages whose latencies are drawn from seeded log-normal distributions (no sleeps, no
//! timing), end to end the sum of the stages. An injected +5% in one stage must be judged worse
//! for that stage and end to end, and for no other row, in at least 19 of 20 comparisons of 3
//! runs per side; identical configurations (A/A) must be judged "no significant change" in at
//! least 19 of 20. The measured rates are in docs/VERDICT.md.
#![cfg(feature = "load")]

use perf_instrument::load::{
    compare, HistogramRecord, Judgement, PhaseRecord, RecordError, RowRecord, RunRecord,
};
use perf_instrument::{Histogram, Unit};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};

/// (stage, median in nanoseconds): persist dominates, as a database write does.
const STAGES: [(&str, f64); 5] = [
    ("enrich", 150_000.0),
    ("persist", 2_000_000.0),
    ("view-update", 300_000.0),
    ("publish", 200_000.0),
    ("complete", 100_000.0),
];
const EVENTS: usize = 20_000;
const SIGMA: f64 = 0.25;

/// One run of the simulated service: `slow` stage scaled by `factor`.
fn run(seed: u64, slow: Option<(&str, f64)>) -> RunRecord {
    let mut rng = StdRng::seed_from_u64(seed);
    let hists: Vec<Histogram> = STAGES
        .iter()
        .map(|_| Histogram::new(Unit::Seconds))
        .collect();
    let e2e = Histogram::new(Unit::Seconds);
    let dists: Vec<LogNormal<f64>> = STAGES
        .iter()
        .map(|(_, median)| LogNormal::new(median.ln(), SIGMA).unwrap())
        .collect();
    for _ in 0..EVENTS {
        let mut total = 0u64;
        for (i, (name, _)) in STAGES.iter().enumerate() {
            let mut v = dists[i].sample(&mut rng);
            if let Some((s, f)) = slow {
                if s == *name {
                    v *= f;
                }
            }
            let ns = v as u64;
            hists[i].record(ns);
            total += ns;
        }
        e2e.record(total);
    }
    let mut record = RunRecord::new();
    record.seconds = 10.0;
    for (i, (name, _)) in STAGES.iter().enumerate() {
        record.rows.push(RowRecord {
            table: "stages".into(),
            name: format!("orders/{name}"),
            histogram: HistogramRecord::from_snapshot(&hists[i].snapshot()),
        });
    }
    record.rows.push(RowRecord {
        table: "stages".into(),
        name: "orders/end-to-end".into(),
        histogram: HistogramRecord::from_snapshot(&e2e.snapshot()),
    });
    record
}

#[test]
fn five_percent_slowdown_is_worse_for_that_stage_and_end_to_end_only_and_a_a_is_no_change() {
    let (mut detected, mut quiet) = (0, 0);
    for trial in 0..20u64 {
        let seed = trial * 100;
        let base: Vec<RunRecord> = (0..3).map(|r| run(seed + r, None)).collect();
        let same: Vec<RunRecord> = (3..6).map(|r| run(seed + r, None)).collect();
        let slow: Vec<RunRecord> = (6..9)
            .map(|r| run(seed + r, Some(("persist", 1.05))))
            .collect();

        let ab = compare(&base, &slow).unwrap();
        let worse: Vec<&str> = ab.worse().map(|r| r.name.as_str()).collect();
        if worse == ["orders/persist", "orders/end-to-end"] {
            detected += 1;
        } else {
            let d: Vec<_> = ab
                .rows
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        r.change,
                        r.t,
                        r.old.per_run.clone(),
                        r.new.per_run.clone(),
                    )
                })
                .collect();
            eprintln!("trial {trial}: A/B judged worse: {worse:?} {d:?}");
        }
        let aa = compare(&base, &same).unwrap();
        if aa
            .rows
            .iter()
            .all(|r| r.judgement == Judgement::NoSignificantChange)
        {
            quiet += 1;
        } else {
            let flagged: Vec<_> = aa
                .rows
                .iter()
                .filter(|r| r.judgement != Judgement::NoSignificantChange)
                .map(|r| (&r.name, r.judgement, r.change))
                .collect();
            eprintln!("trial {trial}: A/A flagged {flagged:?}");
        }
    }
    eprintln!("+5% persist detected (persist and end-to-end only): {detected}/20; A/A no change: {quiet}/20");
    assert!(detected >= 19, "detected {detected}/20");
    assert!(quiet >= 19, "A/A quiet {quiet}/20");
}

#[test]
fn run_record_round_trips_losslessly() {
    let record = run(7, None)
        .with_revision("abc")
        .with_config("rate", "400/s");
    let back = RunRecord::from_json(&record.to_json()).unwrap();
    assert_eq!(back, record);
    let h = &back.rows[1].histogram;
    assert_eq!(h.count, EVENTS as u64);
    assert_eq!(
        h.buckets.iter().map(|b| b.1).sum::<u64>() + h.zero_count,
        h.count
    );
}

#[test]
fn bad_records_give_clear_errors() {
    let json = run(1, None).to_json();
    let truncated = &json[..json.len() / 2];
    let err = RunRecord::from_json(truncated).unwrap_err();
    assert!(matches!(err, RecordError::Json(_)), "{err}");
    assert!(err.to_string().contains("truncated"));
    assert!(matches!(
        RunRecord::from_json("  \n"),
        Err(RecordError::Empty)
    ));
    assert!(matches!(
        RunRecord::from_json(r#"{"name":"package.json","version":"1.0"}"#),
        Err(RecordError::Foreign)
    ));
    assert!(matches!(
        RunRecord::from_json("[1,2]"),
        Err(RecordError::Foreign)
    ));
    assert!(matches!(
        RunRecord::many_from_json("[]"),
        Err(RecordError::Empty)
    ));
    let other = json.replace("\"schema_version\": 1", "\"schema_version\": 2");
    let err = RunRecord::from_json(&other).unwrap_err();
    assert!(
        err.to_string()
            .contains("schema version 2 is not supported"),
        "{err}"
    );
    let broken = json.replace("\"seconds\": 10.0", "\"seconds\": \"ten\"");
    assert!(matches!(
        RunRecord::from_json(&broken),
        Err(RecordError::Schema(_))
    ));
}

#[test]
fn mismatched_rows_and_zero_length_phases_are_errors() {
    let a = run(1, None);
    let mut b = run(2, None);
    b.rows.pop();
    let err = compare(&[a.clone(), b.clone()], std::slice::from_ref(&a)).unwrap_err();
    assert!(
        err.to_string()
            .contains("lacks `stages: orders/end-to-end`"),
        "{err}"
    );
    let err = compare(&[b, a.clone()], std::slice::from_ref(&a)).unwrap_err();
    assert!(err.to_string().contains("has an extra"), "{err}");
    let mut phased = a.clone();
    phased
        .phases
        .push(PhaseRecord::empty("steady", "constant 100/s", 0.0));
    let err = compare(&[a], &[phased]).unwrap_err();
    assert!(err.to_string().contains("zero length"), "{err}");
}

#[test]
fn interpolated_quantiles_see_a_shift_smaller_than_a_bucket() {
    let one = run(11, None);
    let two = run(11, Some(("persist", 1.02)));
    let p = |r: &RunRecord| r.rows[1].histogram.quantile(0.99).unwrap();
    let change = p(&two) / p(&one) - 1.0;
    assert!((change - 0.02).abs() < 0.01, "{change}");
}

#[test]
fn load_latency_row_uses_the_steady_part_of_a_phase() {
    use perf_instrument::load::IntervalRecord;
    let hist = |index: i32, n: u64| HistogramRecord {
        count: n,
        sum: n as f64 * 2f64.powf(f64::from(index) / 8.0),
        max: Some(2f64.powf(f64::from(index) / 8.0)),
        buckets: vec![(index, n)],
        ..HistogramRecord::empty("seconds")
    };
    let interval = |start: f64, index: i32| IntervalRecord {
        start_seconds: start,
        seconds: 1.0,
        completed: 100,
        dropped: 0,
        errors: 0,
        latency: hist(index, 100),
        in_flight: None,
    };
    let mut record = RunRecord::new();
    record.seconds = 3.0;
    let mut phase = PhaseRecord::empty("steady", "constant 100/s", 0.0);
    phase.seconds = 3.0;
    phase.completed = 300;
    phase.intervals = vec![interval(0.0, 40), interval(1.0, 0), interval(2.0, 0)];
    phase.latency = hist(40, 100);
    phase.latency.merge(&hist(0, 200));
    phase.steady_from = Some(1);
    record.phases.push(phase);
    let c = compare(std::slice::from_ref(&record), std::slice::from_ref(&record)).unwrap();
    let row = c.row("load", "latency").unwrap();
    // Only the steady intervals (all at 1 s): the slow first interval is left out.
    assert!(row.old.max.unwrap() <= 1.0, "{:?}", row.old.max);
    assert!((row.old.throughput.unwrap() - 100.0).abs() < 1e-9);
}
