//! Rolling history: a bounded ring of snapshots, reports over the last N minutes, and the
//! `/report` route in text and JSON.
#![cfg(all(feature = "http", not(perf_instrument_loom)))]

use perf_instrument::{QueueProbe, Registry, ReportHistory, Route, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `(head, body)` of a GET of `target` with extra header lines.
fn get(addr: SocketAddr, target: &str, headers: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn the_history_keeps_at_most_its_capacity() {
    let registry = Registry::new();
    let history = ReportHistory::manual(&registry, 3).unwrap();
    for _ in 0..5 {
        history.take_now();
    }
    assert_eq!(history.len(), 3);
    assert!(ReportHistory::manual(&registry, 0).is_err());
}

#[test]
fn a_report_over_the_last_minutes_covers_what_happened_since_the_kept_snapshot() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let ingest = QueueProbe::new(&registry, "ingest").unwrap();
    for _ in 0..100 {
        let _ = ingest.submit();
    }
    let history = ReportHistory::manual(&registry, 10).unwrap();
    history.take_now();
    // Before the kept snapshot: 100 items; within the window: nothing more. A depth that did
    // not grow in the window is no finding.
    let quiet = history.report_last(Duration::from_secs(300));
    assert!(quiet.window_seconds().is_some());
    assert!(quiet.findings().is_empty(), "{quiet}");
    for _ in 0..100 {
        let _ = ingest.submit();
    }
    let busy = history.report_last(Duration::from_secs(300));
    assert_eq!(
        busy.findings()[0].kind,
        perf_instrument::FindingKind::GrowingQueue
    );
}

#[test]
fn report_is_served_as_text_and_as_json() {
    let registry = Registry::builder().process_metrics(false).build().unwrap();
    let ingest = QueueProbe::new(&registry, "ingest").unwrap();
    let history = ReportHistory::start(&registry, Duration::from_secs(3600), 10).unwrap();
    for _ in 0..100 {
        let _ = ingest.submit();
    }
    let server = Server::builder(registry.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .route(Route::report(&history, "/report"))
        .start()
        .unwrap();
    let addr = server.local_addr();

    let (head, text) = get(addr, "/report?minutes=5", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; charset=utf-8"), "{head}");
    assert!(
        text.contains("WARNING [growing_queue] queue ingest is growing"),
        "{text}"
    );

    for (target, headers) in [
        ("/report?format=json", ""),
        ("/report", "Accept: application/json\r\n"),
    ] {
        let (head, body) = get(addr, target, headers);
        assert!(head.contains("application/json"), "{head}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        for key in [
            "machine",
            "config",
            "window_seconds",
            "generated_at_unix",
            "tables",
            "utilisation",
            "findings",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {body}");
        }
        let f = &json["findings"][0];
        assert_eq!(f["kind"], "growing_queue");
        assert_eq!(f["severity"], "warning");
        assert_eq!(f["subject"], "ingest");
        assert!(f["threshold"]["value"].is_string() && f["threshold"]["set_by"].is_string());
        assert!(f["evidence"].is_array() && f["next_step"].is_string());
    }
    let (_, md) = get(addr, "/report?format=markdown", "");
    assert!(md.contains("### Findings"), "{md}");
    server.shutdown();
}
