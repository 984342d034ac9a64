//! The built-in `/metrics` endpoint on a `127.0.0.1:0` listener.
#![cfg(all(not(perf_instrument_loom), feature = "http"))]

use perf_instrument::{BasicAuth, Registry, Route, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a raw request (the test adds `Connection: close`) and reads the whole reply.
fn request(addr: SocketAddr, head: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "{head}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

/// Like [`request`], but `None` when the server closes without a reply (past
/// `max_connections`), and a panic if no reply comes within `patience`.
fn try_request(addr: SocketAddr, head: &str, patience: Duration) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(patience)).unwrap();
    write!(stream, "{head}Connection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) if raw.is_empty() => None,
        Ok(_) => Some(parse_reply(&raw)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
        Err(e) => panic!("no reply within {patience:?}: {e}"),
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn server(registry: Registry) -> Server {
    Server::builder(registry)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .unwrap()
}

fn registry() -> Registry {
    let registry = Registry::new();
    registry.counter("jobs", "Jobs done.").unwrap().inc_by(3);
    registry
}

#[test]
fn content_negotiation_picks_the_format_and_exact_content_type() {
    let s = server(registry());
    let om = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n",
    );
    assert_eq!(om.status, 200);
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let body = String::from_utf8(om.body).unwrap();
    assert!(body.contains("jobs_total 3\n") && body.ends_with("# EOF\n"));

    for accept in [
        "*/*",
        "text/html,application/xhtml+xml,*/*;q=0.8",
        "garbage;;q=",
        "",
    ] {
        let text = request(
            s.local_addr(),
            &format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n"),
        );
        assert_eq!(text.status, 200);
        assert_eq!(
            text.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "{accept:?}"
        );
        assert!(String::from_utf8(text.body)
            .unwrap()
            .contains("# TYPE jobs_total counter"));
    }
}

#[test]
fn only_get_and_head_on_known_paths() {
    let s = server(registry());
    let missing = request(s.local_addr(), "GET /other HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(missing.status, 404);
    let post = request(
        s.local_addr(),
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n",
    );
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    let get = request(s.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    let head = request(s.local_addr(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert!(head.body.is_empty(), "HEAD has no body");
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    // The two renders differ only in self metrics; both are real expositions.
    assert!(length > 100);
}

#[test]
fn gzip_when_asked() {
    let s = server(registry());
    let zipped = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate\r\n",
    );
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("jobs_total 3"));
    let plain = request(s.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(plain.header("content-encoding"), None);
}

#[test]
fn scrapes_past_the_cap_get_a_fast_503() {
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let s = Server::builder(registry())
        .bind("127.0.0.1:0".parse().unwrap())
        .max_concurrent_scrapes(1)
        .route(Route::new("/slow", move || {
            let _ = entered_tx.lock().unwrap().send(());
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            ("text/plain".into(), b"slow".to_vec())
        }))
        .start()
        .unwrap();
    let addr = s.local_addr();
    let slow = std::thread::spawn(move || request(addr, "GET /slow HTTP/1.1\r\nHost: x\r\n"));
    entered.recv_timeout(Duration::from_secs(30)).unwrap();
    // The only render slot is taken: the next scrape is refused without waiting.
    let refused = request(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    release.send(()).unwrap();
    assert_eq!(slow.join().unwrap().body, b"slow");
    assert_eq!(
        request(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n").status,
        200
    );
}

#[test]
fn clients_that_hang_up_cannot_push_renders_past_the_cap() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    let entered = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (renders, open) = (entered.clone(), gate.clone());
    let s = Server::builder(registry())
        .bind("127.0.0.1:0".parse().unwrap())
        .max_concurrent_scrapes(2)
        .route(Route::new("/slow", move || {
            renders.fetch_add(1, Ordering::SeqCst);
            let (lock, cvar) = &*open;
            let guard = lock.lock().unwrap();
            let _ = cvar
                .wait_timeout_while(guard, Duration::from_secs(30), |open| !*open)
                .unwrap();
            ("text/plain".into(), b"slow".to_vec())
        }))
        .start()
        .unwrap();
    let addr = s.local_addr();
    let hang_up = || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream
    };
    // Fill the cap, then hang up: the renders go on, and so must their slots.
    let callers: Vec<TcpStream> = (0..2).map(|_| hang_up()).collect();
    let patience = std::time::Instant::now();
    while entered.load(Ordering::SeqCst) < 2 {
        assert!(
            patience.elapsed() < Duration::from_secs(30),
            "renders did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(callers);
    // Give the server time to see the hang-ups and drop those requests.
    std::thread::sleep(Duration::from_millis(500));
    // More callers that hang up at once start no render either.
    for _ in 0..2 {
        drop(hang_up());
    }
    std::thread::sleep(Duration::from_millis(200));
    // Both renders still run: a normal scrape is refused at once, not queued behind them.
    let refused = try_request(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(5),
    )
    .expect("a reply");
    assert_eq!(refused.status, 503);
    {
        let (lock, cvar) = &*gate;
        *lock.lock().unwrap() = true;
        cvar.notify_all();
    }
    // Once the renders end their slots are free again.
    let patience = std::time::Instant::now();
    loop {
        let reply = request(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503);
        assert!(
            patience.elapsed() < Duration::from_secs(30),
            "slots never freed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        entered.load(Ordering::SeqCst),
        2,
        "more renders than the cap"
    );
}

#[test]
fn a_client_that_never_reads_is_cut_off_at_the_connection_timeout() {
    const BODY: usize = 32 << 20; // far more than the socket buffers hold
    let s = Server::builder(registry())
        .bind("127.0.0.1:0".parse().unwrap())
        .connection_timeout(Duration::from_millis(300))
        .max_connections(1)
        .route(Route::new("/big", || {
            ("text/plain".into(), vec![b'x'; BODY])
        }))
        .start()
        .unwrap();
    let addr = s.local_addr();
    let mut stuck = TcpStream::connect(addr).unwrap();
    stuck
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stuck
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The only connection is held by a client that does not read; once the deadline (and the
    // grace for the response in flight) passes, it is closed and others get in again.
    let patience = std::time::Instant::now();
    let served = loop {
        if let Some(reply) = try_request(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\n",
            Duration::from_secs(10),
        ) {
            break reply;
        }
        assert!(
            patience.elapsed() < Duration::from_secs(15),
            "the non-reading client kept its connection"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(served.status, 200);
    // What the stuck client can still read is a cut-off response, then the end of the stream.
    let mut got = Vec::new();
    match stuck.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(got.len() < BODY, "the whole body arrived: {}", got.len());
}

#[test]
fn a_slow_header_client_is_cut_off_while_scrapes_go_on() {
    let s = Server::builder(registry())
        .bind("127.0.0.1:0".parse().unwrap())
        .header_read_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    let mut slow = TcpStream::connect(s.local_addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A client that connects and sends nothing at all is cut off too.
    let mut silent = TcpStream::connect(s.local_addr()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Headers never finish. A normal scrape meanwhile is served.
    assert_eq!(
        request(s.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n").status,
        200
    );
    let mut rest = Vec::new();
    let outcome = slow.read_to_end(&mut rest);
    // The server closed the connection (possibly after a 408), rather than our read timing out.
    match outcome {
        Ok(_) => {
            let text = String::from_utf8_lossy(&rest);
            assert!(
                rest.is_empty() || text.starts_with("HTTP/1.1 408"),
                "{text}"
            );
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let mut nothing = Vec::new();
    match silent.read_to_end(&mut nothing) {
        Ok(_) => assert!(nothing.is_empty() || nothing.starts_with(b"HTTP/1.1 408")),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn oversized_requests_are_rejected() {
    let s = Server::builder(registry())
        .bind("127.0.0.1:0".parse().unwrap())
        .max_request_bytes(4096)
        .start()
        .unwrap();
    let huge = "x".repeat(64 * 1024);
    let mut stream = TcpStream::connect(s.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n"
    );
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    // Either a 4xx before closing, or a plain close: never a scrape.
    if !raw.is_empty() {
        let status = parse_reply(&raw).status;
        assert!(status == 431 || status == 413 || status == 400, "{status}");
    }
    let body = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n",
    );
    assert_eq!(body.status, 413);
    assert_eq!(
        request(s.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n").status,
        200
    );
}

#[test]
fn basic_auth_when_configured() {
    let s = Server::builder(registry())
        .bind("127.0.0.1:0".parse().unwrap())
        .basic_auth(BasicAuth::new("prometheus", "s3cret"))
        .start()
        .unwrap();
    let denied = request(s.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(denied.status, 401);
    assert!(denied
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    let wrong = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic cHJvbWV0aGV1czp3cm9uZw==\r\n",
    );
    assert_eq!(wrong.status, 401);
    // base64("prometheus:s3cret")
    let ok = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic cHJvbWV0aGV1czpzM2NyZXQ=\r\n",
    );
    assert_eq!(ok.status, 200);
    // The scheme name is case-insensitive (RFC 7617).
    let lower = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: basic cHJvbWV0aGV1czpzM2NyZXQ=\r\n",
    );
    assert_eq!(lower.status, 200);
}

#[test]
fn the_endpoint_answers_while_the_service_runtime_is_wedged() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let service = std::thread::spawn(move || {
        runtime.block_on(async move {
            let s = server(registry());
            addr_tx.send(s.local_addr()).unwrap();
            // Wedge the service's only runtime thread with a blocking wait.
            let _ = done_rx.recv_timeout(Duration::from_secs(60));
            s
        })
    });
    let addr = addr_rx.recv().unwrap();
    let reply = request(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(reply.status, 200);
    assert!(String::from_utf8(reply.body)
        .unwrap()
        .contains("jobs_total 3"));
    done_tx.send(()).unwrap();
    drop(service.join().unwrap());
}

#[test]
fn an_accept_that_allows_no_served_format_gets_406() {
    let s = server(registry());
    for accept in ["application/json", "text/html", "text/plain;q=0"] {
        let reply = request(
            s.local_addr(),
            &format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n"),
        );
        assert_eq!(reply.status, 406, "{accept}");
        assert!(String::from_utf8(reply.body)
            .unwrap()
            .contains("application/openmetrics-text"));
    }
    let fallback = request(
        s.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/json, */*;q=0.1\r\n",
    );
    assert_eq!(fallback.status, 200);
}

#[test]
fn http_1_1_without_exactly_one_host_is_a_bad_request() {
    let s = server(registry());
    assert_eq!(
        request(s.local_addr(), "GET /metrics HTTP/1.1\r\n").status,
        400
    );
    assert_eq!(
        request(
            s.local_addr(),
            "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
        )
        .status,
        400
    );
    // HTTP/1.0 predates Host.
    assert_eq!(
        request(s.local_addr(), "GET /metrics HTTP/1.0\r\n").status,
        200
    );
}

#[test]
fn authentication_comes_before_routing_and_failures_are_budgeted() {
    let registry = registry();
    let s = Server::builder(registry.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .basic_auth(BasicAuth::new("prometheus", "s3cret"))
        .auth_failure_budget(3, Duration::from_secs(3600))
        .start()
        .unwrap();
    let addr = s.local_addr();
    let good = "Authorization: Basic cHJvbWV0aGV1czpzM2NyZXQ=\r\n";
    // Unauthenticated clients learn nothing of paths or methods.
    assert_eq!(
        request(addr, "GET /secret HTTP/1.1\r\nHost: x\r\n").status,
        401
    );
    assert_eq!(
        request(addr, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n").status,
        401
    );
    assert_eq!(
        request(addr, &format!("GET /secret HTTP/1.1\r\nHost: x\r\n{good}")).status,
        404
    );
    assert_eq!(
        request(addr, &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{good}")).status,
        200
    );
    // The third failure spends the budget: from then on every request of this client is
    // refused until the window ends, right credentials included, so guessing tells nothing.
    assert_eq!(
        request(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9vOmJhcg==\r\n"
        )
        .status,
        401
    );
    for _ in 0..3 {
        let throttled = request(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9vOmJhcg==\r\n",
        );
        assert_eq!(throttled.status, 429);
        let wait: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&wait), "{wait}");
    }
    assert_eq!(
        request(addr, &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{good}")).status,
        429
    );
    let snapshot = registry.snapshot();
    let events = |event| {
        snapshot
            .value("perf_instrument_http_events", &[("event", event)])
            .unwrap()
    };
    assert_eq!(events("auth_failed"), 3.0);
    assert_eq!(events("auth_throttled"), 4.0);
}

#[test]
fn concurrent_scrapes_share_one_render() {
    let registry = registry();
    let s = Server::builder(registry.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .render_reuse(Duration::from_secs(3600))
        .start()
        .unwrap();
    let addr = s.local_addr();
    let scrapes: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || request(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n")))
        .collect();
    let bodies: Vec<Vec<u8>> = scrapes
        .into_iter()
        .map(|s| {
            let reply = s.join().unwrap();
            assert_eq!(reply.status, 200);
            reply.body
        })
        .collect();
    // Within the reuse interval every scrape gets the same render, counted once.
    assert!(bodies.iter().all(|b| b == &bodies[0]));
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.value("perf_instrument_scrapes", &[]), Some(1.0));
    assert_eq!(
        snapshot.value("perf_instrument_http_events", &[("event", "render_shared")]),
        Some(7.0)
    );
    // Another format is a render of its own.
    let om = request(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n",
    );
    assert!(String::from_utf8(om.body).unwrap().ends_with("# EOF\n"));
    assert_eq!(
        registry.snapshot().value("perf_instrument_scrapes", &[]),
        Some(2.0)
    );
}

#[test]
fn idle_connections_cannot_fill_the_connection_budget() {
    let registry = registry();
    let s = Server::builder(registry.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .max_connections(8)
        .header_read_timeout(Duration::from_secs(60))
        .start()
        .unwrap();
    let addr = s.local_addr();
    // Four times the budget in sockets that never send a request, and some that trickle.
    let mut idle: Vec<TcpStream> = (0..32).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for stream in idle.iter_mut().take(8) {
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHo").unwrap();
    }
    for _ in 0..10 {
        let reply = try_request(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\n",
            Duration::from_secs(10),
        )
        .expect("a scrape is admitted past idle sockets");
        assert_eq!(reply.status, 200);
    }
    let closed = registry
        .snapshot()
        .value("perf_instrument_http_events", &[("event", "idle_closed")])
        .unwrap();
    assert!(closed >= 24.0, "{closed}");
    drop(idle);
}
