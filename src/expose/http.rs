//! The built-in `/metrics` endpoint: hyper on its own OS thread (feature `http`, on by default).
//!
//! It answers while the service's own async runtime is wedged, because it has its own thread and
//! its own single-threaded runtime; renders run on a small blocking pool so a slow render never
//! delays the fast `503` that a scrape past the concurrency cap gets.

use super::render;
use crate::instrument::saga::{SagaTracker, SagaViewFormat};
use crate::registry::Registry;
use crate::sync::{AtomicUsize, Ordering};
use base64::Engine as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::fmt;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Default address: loopback only.
///
/// ```
/// let addr: std::net::SocketAddr = perf_instrument::DEFAULT_ADDR.parse().unwrap();
/// assert!(addr.ip().is_loopback());
/// assert_eq!(addr.port(), 9464);
/// ```
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Why the endpoint could not start.
///
/// ```
/// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = taken.local_addr().unwrap();
/// let err = perf_instrument::Server::builder(perf_instrument::Registry::new())
///     .bind(addr)
///     .start()
///     .unwrap_err();
/// assert!(matches!(err, perf_instrument::ServerError::Bind { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server thread or its runtime could not be created.
    #[error("cannot start the metrics server thread: {0}")]
    Start(std::io::Error),
}

/// Credentials for HTTP basic authentication.
///
/// ```
/// let auth = perf_instrument::BasicAuth::new("prometheus", "s3cret");
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    /// `base64(user:password)`, what follows the scheme.
    credentials: Vec<u8>,
}

impl BasicAuth {
    /// Requests must carry `Authorization: Basic base64(user:password)`; the scheme name is
    /// matched without regard to case (`basic`, `BASIC`), as RFC 7617 requires.
    ///
    /// ```
    /// let _ = perf_instrument::BasicAuth::new("user", "pass");
    /// ```
    #[must_use]
    pub fn new(user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self {
            credentials: token.into_bytes(),
        }
    }

    fn allows(&self, header: Option<&HeaderValue>) -> bool {
        let given = header.map_or(&[][..], HeaderValue::as_bytes);
        // `credentials = auth-scheme 1*SP token68`; the scheme is case-insensitive.
        let Some(space) = given.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, rest) = given.split_at(space);
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        let credentials = &rest[start..];
        // Compare the credentials in time independent of where the first difference is.
        scheme.eq_ignore_ascii_case(b"Basic")
            && credentials.len() == self.credentials.len()
            && credentials
                .iter()
                .zip(&self.credentials)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth(..)")
    }
}

type Handler = dyn Fn() -> (String, Vec<u8>) + Send + Sync;

/// An extra path the endpoint serves (for example `/sagas`): a function returning the content
/// type and body, run on the render pool like `/metrics`.
///
/// ```
/// let route = perf_instrument::Route::new("/health", || ("text/plain".to_string(), b"ok".to_vec()));
/// # let _ = route;
/// ```
#[derive(Clone)]
pub struct Route {
    path: String,
    handler: Arc<Handler>,
}

impl Route {
    /// Serves `handler()` on GET/HEAD `path`.
    ///
    /// ```
    /// let _ = perf_instrument::Route::new("/sagas", || ("application/json".into(), b"[]".to_vec()));
    /// ```
    pub fn new(
        path: impl Into<String>,
        handler: impl Fn() -> (String, Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            path: path.into(),
            handler: Arc::new(handler),
        }
    }
}

/// The saga tracker's views as routes of the endpoint (here, since routes belong to the
/// exposition layer, above the instruments).
impl SagaTracker {
    /// A route serving [`view`](SagaTracker::view) at `path` on the built-in HTTP endpoint (feature
    /// `http`), e.g. next to `/metrics`.
    ///
    /// ```
    /// use perf_instrument::saga::SagaViewFormat;
    /// use perf_instrument::{Registry, SagaTracker, Server};
    /// let registry = Registry::new();
    /// let orders = SagaTracker::builder("order").steps(["a"]).build(&registry).unwrap();
    /// let server = Server::builder(registry)
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .route(orders.route("/sagas", SagaViewFormat::Json))
    ///     .route(orders.route("/sagas.txt", SagaViewFormat::Text))
    ///     .start()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    #[must_use]
    pub fn route(&self, path: impl Into<String>, format: SagaViewFormat) -> Route {
        let tracker = self.clone();
        Route::new(path, move || {
            let (content_type, body) = tracker.view(format);
            (content_type.to_string(), body)
        })
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route").field("path", &self.path).finish()
    }
}

/// Configures the endpoint. Defaults: `127.0.0.1:9464`, 5 s to send request headers, 30 s per
/// connection, 8 KiB of request headers, 4 concurrent scrapes (the next one gets `503` at once),
/// 64 connections, gzip when asked, no authentication.
///
/// ```no_run
/// use perf_instrument::{BasicAuth, Registry, Server};
/// use std::time::Duration;
/// let server = Server::builder(Registry::global().clone())
///     .bind("0.0.0.0:9464".parse().unwrap())
///     .header_read_timeout(Duration::from_secs(2))
///     .connection_timeout(Duration::from_secs(20))
///     .max_concurrent_scrapes(2)
///     .basic_auth(BasicAuth::new("prometheus", "s3cret"))
///     .start()
///     .unwrap();
/// println!("metrics on http://{}/metrics", server.local_addr());
/// ```
#[derive(Debug)]
pub struct ServerBuilder {
    registry: Registry,
    addr: SocketAddr,
    header_read_timeout: Duration,
    connection_timeout: Duration,
    max_request_bytes: usize,
    max_concurrent_scrapes: usize,
    max_connections: usize,
    basic_auth: Option<BasicAuth>,
    routes: Vec<Route>,
}

impl ServerBuilder {
    /// Where to listen (default `127.0.0.1:9464`; port 0 picks a free port).
    ///
    /// ```
    /// let b = perf_instrument::Server::builder(perf_instrument::Registry::new())
    ///     .bind("127.0.0.1:0".parse().unwrap());
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// How long a client may take to send its request headers before the connection is closed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new())
    ///     .header_read_timeout(Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long one connection may stay open (default 30 s), so that a client that sends a
    /// request and never reads the response cannot hold a connection and its body forever.
    /// Past it the connection takes no new request (an idle one closes at once); a response
    /// still being sent gets as long again, then the connection is closed. No connection
    /// lasts more than twice this; scrapers reconnect as they would after any close.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new())
    ///     .connection_timeout(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Largest request accepted, in bytes: headers beyond it close the connection, a declared
    /// body beyond it gets `413`.
    ///
    /// ```
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new()).max_request_bytes(4096);
    /// ```
    #[must_use]
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes.max(256);
        self
    }

    /// Most renders running at once; a request beyond gets `503 Service Unavailable` at once.
    ///
    /// ```
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new()).max_concurrent_scrapes(1);
    /// ```
    #[must_use]
    pub fn max_concurrent_scrapes(mut self, n: usize) -> Self {
        self.max_concurrent_scrapes = n.max(1);
        self
    }

    /// Most open connections; further ones are closed as soon as they are accepted.
    ///
    /// ```
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new()).max_connections(16);
    /// ```
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Requires HTTP basic authentication.
    ///
    /// ```
    /// use perf_instrument::{BasicAuth, Registry, Server};
    /// let _ = Server::builder(Registry::new()).basic_auth(BasicAuth::new("u", "p"));
    /// ```
    #[must_use]
    pub fn basic_auth(mut self, auth: BasicAuth) -> Self {
        self.basic_auth = Some(auth);
        self
    }

    /// Serves an extra path besides `/metrics`.
    ///
    /// ```
    /// use perf_instrument::{Registry, Route, Server};
    /// let _ = Server::builder(Registry::new())
    ///     .route(Route::new("/ready", || ("text/plain".into(), b"ready".to_vec())));
    /// ```
    #[must_use]
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Binds the address and starts the server thread.
    ///
    /// # Errors
    ///
    /// [`ServerError::Bind`] if the address cannot be bound, [`ServerError::Start`] if the
    /// thread or runtime cannot be created.
    ///
    /// ```
    /// use perf_instrument::{Registry, Server};
    /// let server = Server::builder(Registry::new()).bind("127.0.0.1:0".parse().unwrap()).start().unwrap();
    /// assert!(server.local_addr().ip().is_loopback());
    /// ```
    pub fn start(self) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(self.addr).map_err(|source| ServerError::Bind {
            addr: self.addr.to_string(),
            source,
        })?;
        let local_addr = listener.local_addr().map_err(ServerError::Start)?;
        listener.set_nonblocking(true).map_err(ServerError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(self.max_concurrent_scrapes)
            .thread_name("perf-instrument-render")
            .build()
            .map_err(ServerError::Start)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = Arc::new(Config {
            settings: self,
            scrapes: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(AtomicUsize::new(0)),
        });
        let thread = std::thread::Builder::new()
            .name("perf-instrument-http".into())
            .spawn(move || runtime.block_on(accept_loop(listener, config, stopped)))
            .map_err(ServerError::Start)?;
        Ok(Server {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running `/metrics` endpoint; dropping it (or [`shutdown`](Server::shutdown)) stops it.
///
/// ```
/// use perf_instrument::{Registry, Server};
/// let server = Server::builder(Registry::new()).bind("127.0.0.1:0".parse().unwrap()).start().unwrap();
/// let addr = server.local_addr();
/// server.shutdown();
/// assert!(std::net::TcpStream::connect(addr).is_err());
/// ```
#[must_use = "the endpoint stops when the Server is dropped"]
pub struct Server {
    local_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A builder serving `registry`.
    ///
    /// ```
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new());
    /// ```
    pub fn builder(registry: Registry) -> ServerBuilder {
        ServerBuilder {
            registry,
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or_else(|_| ([127, 0, 0, 1], 9464).into()),
            header_read_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(30),
            max_request_bytes: 8 * 1024,
            max_concurrent_scrapes: 4,
            max_connections: 64,
            basic_auth: None,
            routes: Vec::new(),
        }
    }

    /// The address the server listens on.
    ///
    /// ```
    /// use perf_instrument::{Registry, Server};
    /// let s = Server::builder(Registry::new()).bind("127.0.0.1:0".parse().unwrap()).start().unwrap();
    /// assert_ne!(s.local_addr().port(), 0);
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, and waits for the server thread to end.
    ///
    /// ```
    /// use perf_instrument::{Registry, Server};
    /// Server::builder(Registry::new()).bind("127.0.0.1:0".parse().unwrap()).start().unwrap().shutdown();
    /// ```
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Serves the process-wide registry on `addr` with the default settings.
///
/// # Errors
///
/// As [`ServerBuilder::start`].
///
/// ```
/// let server = perf_instrument::serve("127.0.0.1:0".parse().unwrap()).unwrap();
/// println!("http://{}/metrics", server.local_addr());
/// ```
pub fn serve(addr: SocketAddr) -> Result<Server, ServerError> {
    Server::builder(Registry::global().clone())
        .bind(addr)
        .start()
}

/// What the server thread shares between connections: the settings and two counters.
struct Config {
    settings: ServerBuilder,
    /// Renders running (each holds a [`Slot`] until its render ends).
    scrapes: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

/// Decrements a counter when dropped; owns its counter so it can move into a render.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn take_slot(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
    let before = counter.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(counter.clone());
    (before < max).then_some(slot)
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<Config>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, or the peer gave up: back off briefly and go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let config = config.clone();
        tokio::spawn(async move {
            let Some(_connection) = take_slot(&config.connections, config.settings.max_connections)
            else {
                return; // dropping the stream closes it
            };
            let _ = stream.set_nodelay(true);
            let service = hyper::service::service_fn(|request| {
                let config = config.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&config, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(config.settings.header_read_timeout)
                .max_buf_size(config.settings.max_request_bytes.max(8192))
                .max_header_size(config.settings.max_request_bytes)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let deadline = config.settings.connection_timeout;
            if tokio::time::timeout(deadline, connection.as_mut())
                .await
                .is_err()
            {
                // Past the deadline: no further request; a response being written (to a client
                // that may never read it) gets as long again, then the connection is dropped.
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(deadline, connection).await;
            }
        });
    }
}

async fn respond(config: &Config, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let handler: Option<Arc<Handler>> = if path == "/metrics" {
        None
    } else {
        match config.settings.routes.iter().find(|r| r.path == path) {
            Some(route) => Some(route.handler.clone()),
            None => {
                return plain(
                    StatusCode::NOT_FOUND,
                    "not found; metrics are at /metrics\n",
                )
            }
        }
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if let Some(auth) = &config.settings.basic_auth {
        if !auth.allows(request.headers().get(header::AUTHORIZATION)) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "authentication required\n");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"metrics\", charset=\"UTF-8\""),
            );
            return response;
        }
    }
    let declared_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared_body > config.settings.max_request_bytes {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large\n");
    }
    let Some(scrape) = take_slot(&config.scrapes, config.settings.max_concurrent_scrapes) else {
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent scrapes\n",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let accept = header_string(&request, header::ACCEPT);
    let gzip = header_string(&request, header::ACCEPT_ENCODING)
        .as_deref()
        .is_some_and(accepts_gzip);
    let registry = config.settings.registry.clone();
    // The slot moves into the render: if the client goes away, hyper drops this future but the
    // blocking render runs on, and it must go on counting against the cap until it ends.
    let rendered = tokio::task::spawn_blocking(move || {
        let _scrape = scrape;
        let (content_type, body) = match handler {
            None => {
                let (content_type, body) = render(&registry, accept.as_deref());
                (content_type.to_string(), body)
            }
            Some(handler) => handler(),
        };
        match gzip.then(|| compress(&body)).flatten() {
            Some(zipped) => (content_type, zipped, true),
            None => (content_type, body, false),
        }
    })
    .await;
    let Ok((content_type, body, gzipped)) = rendered else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n");
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn header_string(request: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Whether an `Accept-Encoding` header accepts gzip (listed with a non-zero q, or `*`).
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
        (name.eq_ignore_ascii_case("gzip") || name == "*") && q.is_some_and(|q| q > 0.0)
    })
}

fn compress(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_used_only_when_accepted() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("gzip;q=x"));
    }

    #[test]
    fn basic_auth_compares_the_whole_header() {
        let auth = BasicAuth::new("user", "pass");
        let good = HeaderValue::from_static("Basic dXNlcjpwYXNz");
        assert!(auth.allows(Some(&good)));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Basic dXNlcjpwYXNy"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Basic dXNlcjpwYXN"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some(&HeaderValue::from_static("dXNlcjpwYXNz"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Bearer dXNlcjpwYXNz"))));
    }

    #[test]
    fn basic_auth_scheme_is_case_insensitive() {
        let auth = BasicAuth::new("user", "pass");
        for header in [
            "basic dXNlcjpwYXNz",
            "BASIC dXNlcjpwYXNz",
            "bAsIc dXNlcjpwYXNz",
            "Basic  dXNlcjpwYXNz",
        ] {
            assert!(
                auth.allows(Some(&HeaderValue::from_static(header))),
                "{header}"
            );
        }
        // The credentials themselves are case-sensitive (base64).
        assert!(!auth.allows(Some(&HeaderValue::from_static("basic DXNLCJPWYXNZ"))));
    }
}
