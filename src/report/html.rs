//! The HTML renderings (feature `html`): one self-contained file per report or comparison, and
//! the live page. Each is the report's JSON inside a page that carries its own chart library
//! (uPlot, MIT, under `assets/`) and a small renderer (`assets/report.js`) that draws the
//! findings, the tables and the charts from that JSON, so a field added to the JSON shows up
//! without a change here. Nothing is fetched from the network to open a file.

use super::Report;
#[cfg(feature = "load")]
use crate::load::{Comparison, HistogramRecord, RunRecord};
use serde_json::{json, Value};

const UPLOT_JS: &str = include_str!("../../assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/uPlot.min.css");
const REPORT_JS: &str = include_str!("../../assets/report.js");
const REPORT_CSS: &str = include_str!("../../assets/report.css");

/// Text made safe inside an HTML element or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON made safe inside a `<script>` element: a `<` can only stand inside a JSON string,
/// where `\u003c` means the same.
fn script_json(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// The page around `body`: styles, uPlot and the renderer inline.
fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(UPLOT_JS.len() + REPORT_JS.len() + body.len() + 8192);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No icon to fetch: a browser would otherwise ask the endpoint for `/favicon.ico`.
    out.push_str("<link rel=\"icon\" href=\"data:,\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(title)));
    out.push_str("<style>");
    out.push_str(UPLOT_CSS);
    out.push('\n');
    out.push_str(REPORT_CSS);
    out.push_str("</style>\n</head><body>\n");
    out.push_str(body);
    out.push_str("\n<div id=\"report\"></div>\n<script>");
    out.push_str(UPLOT_JS);
    out.push_str("</script>\n<script>");
    out.push_str(REPORT_JS);
    out.push_str("</script>\n</body></html>\n");
    out
}

fn static_page(title: &str, data: &Value) -> String {
    page(
        title,
        &format!(
            "<script type=\"application/json\" id=\"report-data\">{}</script>",
            script_json(data)
        ),
    )
}

/// The live report page: it loads the report's JSON from `json_url` every few seconds and
/// redraws the findings, tables and charts. The page is the same for every request, so an
/// endpoint can build it once; it asks for the JSON only while it is open in a browser.
///
/// ```
/// let page = perf_instrument::live_page("/report?format=json");
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// assert!(page.contains(r#"data-url="/report?format=json""#));
/// ```
#[must_use]
pub fn live_page(json_url: &str) -> String {
    page(
        "perf-instrument live report",
        &format!(
            "<p id=\"status\">loading {url}</p>\n<div id=\"live-url\" hidden data-url=\"{url}\" data-every-ms=\"3000\"></div>",
            url = escape(json_url)
        ),
    )
}

impl Report {
    /// The report as one self-contained HTML page: the findings first, then per table its
    /// rows and a percentile spectrum chart (value against percentile, on a log axis of
    /// nines). Opens with no network access.
    ///
    /// ```
    /// use perf_instrument::{QueueProbe, Registry, Report};
    /// let registry = Registry::new();
    /// let probe = QueueProbe::new(&registry, "ingest").unwrap();
    /// let _ = probe.pickup(probe.submit());
    /// let html = Report::from_registry(&registry).to_html();
    /// assert!(html.contains("id=\"report-data\"") && html.contains("\"ingest\""));
    /// assert!(!html.contains("<script src"));
    /// ```
    #[must_use]
    pub fn to_html(&self) -> String {
        static_page(
            "perf-instrument report",
            &json!({ "kind": "report", "report": self, "runs": [] }),
        )
    }

    /// As [`to_html`](Report::to_html), with the timelines of `runs` (throughput, errors,
    /// dropped calls, p50 and p99, and the calls in flight per interval, the load phases
    /// shaded) under the findings.
    ///
    /// ```
    /// use perf_instrument::load::{PhaseRecord, RunRecord};
    /// use perf_instrument::{Registry, Report};
    /// let mut run = RunRecord::new();
    /// run.phases.push(PhaseRecord::empty("steady", "constant 100/s", 0.0));
    /// let html = Report::from_registry(&Registry::new()).to_html_with_runs(&[run]);
    /// assert!(html.contains("\"steady\""));
    /// ```
    #[cfg(feature = "load")]
    #[must_use]
    pub fn to_html_with_runs(&self, runs: &[RunRecord]) -> String {
        let runs: Vec<Value> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| timeline(&format!("run {}", i + 1), r))
            .collect();
        static_page(
            "perf-instrument report",
            &json!({ "kind": "report", "report": self, "runs": runs }),
        )
    }
}

/// A run's intervals as columns for a chart, and its phases as spans, in seconds from the
/// start of the run.
#[cfg(feature = "load")]
fn timeline(label: &str, run: &RunRecord) -> Value {
    let (mut t, mut throughput, mut errors, mut dropped, mut p50, mut p99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut running, mut running_max, mut queued) = (vec![], vec![], vec![]);
    let mut phases = Vec::new();
    for phase in &run.phases {
        phases.push(json!({
            "name": phase.name,
            "start": phase.start_seconds,
            "end": phase.start_seconds + phase.seconds,
            "in_verdict": phase.in_verdict,
        }));
        for i in &phase.intervals {
            let per_second = |n: u64| {
                if i.seconds > 0.0 {
                    n as f64 / i.seconds
                } else {
                    0.0
                }
            };
            t.push(phase.start_seconds + i.start_seconds + i.seconds);
            throughput.push(i.throughput());
            errors.push(per_second(i.errors));
            dropped.push(per_second(i.dropped));
            p50.push(i.latency.quantile(0.5));
            p99.push(i.latency.quantile(0.99));
            running.push(i.in_flight.map(|f| f.running));
            running_max.push(i.in_flight.map(|f| f.running_max));
            queued.push(i.in_flight.map(|f| f.queued));
        }
    }
    let label = match &run.revision {
        Some(rev) => format!("{label} ({rev})"),
        None => label.to_string(),
    };
    json!({
        "label": label,
        "phases": phases,
        "points": {
            "t": t, "throughput": throughput, "errors": errors, "dropped": dropped,
            "p50": p50, "p99": p99,
            "running": running, "running_max": running_max, "queued": queued,
        },
    })
}

/// The spectrum of a histogram merged over runs.
#[cfg(feature = "load")]
fn merged_spectrum(histograms: &[&HistogramRecord]) -> Vec<super::SpectrumPoint> {
    let Some((first, rest)) = histograms.split_first() else {
        return Vec::new();
    };
    let mut merged = (*first).clone();
    for h in rest {
        let _ = merged.merge(h);
    }
    if merged.count == 0 {
        return Vec::new();
    }
    super::spectrum(|q| merged.quantile(q), merged.max)
}

#[cfg(feature = "load")]
impl Comparison {
    /// The comparison as one self-contained HTML page: the rows judged worse first, the table
    /// of rows with the judgement of each, per row the percentile spectra of the baseline and
    /// the candidate overlaid (each side's runs merged), the calls in flight of every run
    /// overlaid, and the timeline of every run with its phases shaded. `baseline` and `candidate` are the records compared.
    ///
    /// ```
    /// use perf_instrument::load::{compare, RunRecord};
    /// let (base, cand) = (vec![RunRecord::new()], vec![RunRecord::new()]);
    /// let html = compare(&base, &cand).unwrap().to_html(&base, &cand);
    /// assert!(html.contains("\"kind\":\"comparison\""));
    /// ```
    #[must_use]
    pub fn to_html(&self, baseline: &[RunRecord], candidate: &[RunRecord]) -> String {
        let side = |runs: &[RunRecord], table: &str, name: &str| {
            let hs: Vec<&HistogramRecord> = runs
                .iter()
                .flat_map(|r| r.rows.iter())
                .filter(|row| row.table == table && row.name == name)
                .map(|row| &row.histogram)
                .collect();
            merged_spectrum(&hs)
        };
        let spectra: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "table": row.table,
                    "name": row.name,
                    "unit": row.unit,
                    "baseline": side(baseline, &row.table, &row.name),
                    "candidate": side(candidate, &row.table, &row.name),
                })
            })
            .collect();
        let runs: Vec<Value> = baseline
            .iter()
            .enumerate()
            .map(|(i, r)| timeline(&format!("baseline {}", i + 1), r))
            .chain(
                candidate
                    .iter()
                    .enumerate()
                    .map(|(i, r)| timeline(&format!("candidate {}", i + 1), r)),
            )
            .collect();
        static_page(
            "perf-instrument comparison",
            &json!({ "kind": "comparison", "comparison": self, "spectra": spectra, "runs": runs }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let v = json!({ "name": "</script><script>alert(1)</script>" });
        let text = script_json(&v);
        assert!(!text.contains("</"));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn rows_carry_a_spectrum_that_rises_to_the_maximum() {
        let registry = crate::registry::Registry::new();
        let probe = crate::instrument::QueueProbe::new(&registry, "ingest").unwrap();
        for _ in 0..1000 {
            let _ = probe.pickup(probe.submit());
        }
        let report = Report::from_registry(&registry);
        let row = &report.table("queues").unwrap()[0];
        let qs: Vec<f64> = row.spectrum.iter().map(|p| p.quantile).collect();
        let mut expected = crate::report::SPECTRUM_QUANTILES.to_vec();
        expected.push(1.0);
        assert_eq!(qs, expected);
        assert!(row.spectrum.windows(2).all(|w| w[0].value <= w[1].value));
        assert_eq!(row.spectrum.last().map(|p| p.value), row.max);
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            json["tables"][0]["rows"][0]["spectrum"]
                .as_array()
                .map(Vec::len),
            Some(10)
        );
    }

    #[cfg(feature = "load")]
    #[test]
    fn a_timeline_carries_the_calls_in_flight_and_nulls_for_older_records() {
        use crate::load::{InFlightRecord, IntervalRecord, PhaseRecord};
        let interval = |in_flight| IntervalRecord {
            start_seconds: 0.0,
            seconds: 1.0,
            completed: 1,
            dropped: 0,
            errors: 0,
            latency: HistogramRecord::empty("seconds"),
            in_flight,
        };
        let mut phase = PhaseRecord::empty("steady", "constant 1/s", 0.0);
        phase.intervals = vec![
            interval(None),
            interval(Some(InFlightRecord {
                running: 2,
                running_max: 5,
                queued: 9,
            })),
        ];
        let mut run = RunRecord::new();
        run.phases.push(phase);
        let points = &timeline("run 1", &run)["points"];
        assert_eq!(points["running_max"], json!([null, 5]));
        assert_eq!(points["running"], json!([null, 2]));
        assert_eq!(points["queued"], json!([null, 9]));
    }

    #[test]
    fn live_page_escapes_its_url() {
        let page = live_page("/r?a=1&b=<x>");
        assert!(page.contains("data-url=\"/r?a=1&amp;b=&lt;x&gt;\""));
    }

    #[test]
    fn the_page_carries_its_chart_library_and_no_external_reference() {
        let page = Report::from_registry(&crate::registry::Registry::new()).to_html();
        assert!(page.contains("uPlot"));
        assert!(!page.contains("<script src") && !page.contains("href=\"http"));
    }
}
