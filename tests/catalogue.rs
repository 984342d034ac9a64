//! The catalogue of metric families: what it declares is what registers, what the report
//! tables and what `docs/ARCHITECTURE.md` lists.
#![cfg(not(perf_instrument_loom))]

mod common;

use common::quiet_registry as registry;

use perf_instrument::{
    catalogue, BatchRecorder, Clock, FamilyDef, LongTaskTimer, MetricKind, Opts, PendingTracker,
    Report, TableSpec, Tabling, Unit,
};
use std::collections::BTreeSet;
use std::time::Duration;

/// The row of the catalogue table in `docs/ARCHITECTURE.md` for `def`.
fn doc_row(def: &FamilyDef) -> String {
    let mut name = def.name().to_string();
    if def.has_caller_prefix() {
        name = format!("<name>_{name}");
    }
    if def.kind() == MetricKind::Counter {
        name.push_str("_total");
    }
    let mut labels: Vec<String> = def.label_names().iter().map(|l| format!("`{l}`")).collect();
    if def.has_caller_labels() {
        labels.push("…".into());
    }
    let labels = if labels.is_empty() {
        "-".to_string()
    } else {
        labels.join(", ")
    };
    let unit = match def.unit_of() {
        Unit::Seconds => "seconds",
        Unit::Bytes => "bytes",
        Unit::Count => "-",
    };
    let table = match def.tabling() {
        Tabling::Table(spec) => format!("{} (`{}`)", spec.title(), spec.row_template()),
        Tabling::NotTabled(why) => format!("not tabled: {why}"),
    };
    format!(
        "| `{name}` | {} | {unit} | {labels} | {table} |",
        def.kind().name()
    )
}

/// The rows of the catalogue table in the architecture document (between its heading and the
/// next blank line).
fn documented_rows() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ARCHITECTURE.md"))
        .unwrap();
    let start = doc
        .find("| family | kind | unit | labels | report |")
        .expect("the catalogue table in docs/ARCHITECTURE.md");
    doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

#[test]
#[cfg(all(feature = "tracing-layer", feature = "macros"))]
fn the_architecture_document_lists_every_family_of_the_catalogue_and_no_other() {
    let expected: Vec<String> = catalogue().into_iter().map(doc_row).collect();
    let documented = documented_rows();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|r| !documented.contains(r))
        .collect();
    let extra: Vec<&String> = documented
        .iter()
        .filter(|r| !expected.contains(r))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/ARCHITECTURE.md lacks\n{}\nand lists, unknown to the catalogue,\n{}\nthe table should read\n{}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        expected.join("\n"),
    );
}

#[test]
fn names_are_unique_and_only_histograms_are_tabled() {
    let all = catalogue();
    let names: BTreeSet<&str> = all.iter().map(|d| d.name()).collect();
    assert_eq!(names.len(), all.len(), "a family declared twice");
    for def in &all {
        match def.tabling() {
            Tabling::Table(spec) => {
                assert_eq!(
                    def.kind(),
                    MetricKind::Histogram,
                    "{} is tabled",
                    def.name()
                );
                assert!(!spec.title().is_empty());
            }
            Tabling::NotTabled(why) => assert!(!why.is_empty(), "{} says why not", def.name()),
        }
    }
}

#[test]
fn every_entry_registers_as_declared() {
    let registry = registry();
    for def in catalogue() {
        let opts = if def.has_caller_prefix() {
            def.prefixed_opts("task", "Tasks.")
        } else {
            def.opts()
        };
        let desc = match def.kind() {
            MetricKind::Counter => registry
                .register_counter(opts)
                .map(|f| f.descriptor().clone()),
            MetricKind::Gauge => registry
                .register_gauge(opts)
                .map(|f| f.descriptor().clone()),
            MetricKind::Histogram => registry
                .register_histogram(opts)
                .map(|f| f.descriptor().clone()),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", def.name()));
        assert!(desc.name().ends_with(def.name()));
        assert_eq!(desc.label_names(), def.label_names());
        assert_eq!(desc.unit(), def.unit_of());
        assert_eq!(desc.report_table(), def.tabling().spec());
    }
}

#[test]
fn a_family_registered_with_a_table_entry_shows_up_in_the_report() {
    const CACHE_FILLS: FamilyDef =
        FamilyDef::histogram("cache_fill_duration_seconds", "Time to fill a cache entry.")
            .unit(Unit::Seconds)
            .labels(&["cache", "tier"])
            .table(TableSpec::new("cache fills", "{cache}@{tier}"));
    let registry = registry();
    let fills = registry.register_histogram(CACHE_FILLS.opts()).unwrap();
    fills.with_label_values(&["users", "l2"]).record(2_000_000);
    fills.with_label_values(&["users", "l2"]).record(4_000_000);
    // A family without a table entry stays out of the tables.
    registry
        .register_histogram(Opts::new("cache_key_bytes", "Key sizes.").unit(Unit::Bytes))
        .unwrap()
        .with_label_values(&[])
        .record(10);
    let report = Report::from_registry(&registry);
    let titles: Vec<&str> = report.tables().iter().map(|t| t.title).collect();
    assert_eq!(titles, ["cache fills"]);
    let rows = report.table("cache fills").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].name.as_str(), rows[0].count), ("users@l2", 2));
    assert_eq!(rows[0].unit, "seconds");
    assert!(report.to_string().contains("users@l2"), "{report}");
}

#[test]
fn a_user_table_comes_after_the_crates_unless_ranked_before_them() {
    let registry = registry();
    let batches = BatchRecorder::new(&registry, "flush").unwrap();
    batches.record(3, Duration::from_millis(1));
    let early = registry
        .register_histogram(
            Opts::new("early", "E.")
                .labels(["k"])
                .report_table(TableSpec::new("early", "{k}").with_rank(1)),
        )
        .unwrap();
    let late = registry
        .register_histogram(
            Opts::new("late", "L.")
                .labels(["k"])
                .report_table(TableSpec::new("late", "{k}")),
        )
        .unwrap();
    early.with_label_values(&["a"]).record(1);
    late.with_label_values(&["b"]).record(1);
    let report = Report::from_registry(&registry);
    let titles: Vec<&str> = report.tables().iter().map(|t| t.title).collect();
    assert_eq!(titles, ["early", "batches", "batch durations", "late"]);
}

#[test]
fn batch_durations_pending_completions_and_long_tasks_have_tables() {
    let registry = registry();
    let (clock, hand) = Clock::manual();
    let batches = BatchRecorder::builder("wal")
        .clock(clock.clone())
        .build(&registry)
        .unwrap();
    batches.record(8, Duration::from_millis(3));
    let pending: PendingTracker<u64> = PendingTracker::builder("replies")
        .clock(clock.clone())
        .build(&registry)
        .unwrap();
    pending.register(7);
    hand.advance(Duration::from_millis(5));
    assert!(pending.complete(&7).is_some());
    let tasks = LongTaskTimer::builder("backup")
        .labels(&[("kind", "full")])
        .clock(clock)
        .build(&registry)
        .unwrap();
    let task = tasks.start();
    hand.advance(Duration::from_secs(2));
    drop(task);
    let report = Report::from_registry(&registry);
    let row = |table: &str| {
        let rows = report
            .table(table)
            .unwrap_or_else(|| panic!("no {table} in\n{report}"));
        assert_eq!(rows.len(), 1, "{table}");
        (rows[0].name.clone(), rows[0].count)
    };
    assert_eq!(row("batches"), ("wal".to_string(), 1));
    assert_eq!(row("batch durations"), ("wal".to_string(), 1));
    assert_eq!(row("pending completions"), ("replies".to_string(), 1));
    assert_eq!(row("long tasks"), ("backup/full".to_string(), 1));
}
