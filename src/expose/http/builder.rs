//! [`ServerBuilder`]: the endpoint's settings and their defaults.

use super::{BasicAuth, Route, Server, ServerError, DEFAULT_ADDR};
use crate::registry::Registry;
use std::net::SocketAddr;
use std::time::Duration;

/// Configures the endpoint. Defaults: `127.0.0.1:9464`, 2 s to send request headers, 30 s per
/// connection, 8 KiB of request headers, 4 concurrent renders (the next scrape that needs one
/// gets `503` at once), renders shared by the scrapes of the same second, half the process's
/// open-file limit in connections, at most 2,048 (the one idle the longest is closed to admit
/// a new one; see [`max_connections`](Self::max_connections)), gzip when asked, no authentication
/// (with it: 10 failures per client address per minute, then `429`).
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
    pub(super) registry: Registry,
    pub(super) addr: SocketAddr,
    pub(super) header_read_timeout: Duration,
    pub(super) connection_timeout: Duration,
    pub(super) max_request_bytes: usize,
    pub(super) max_concurrent_scrapes: usize,
    pub(super) max_connections: usize,
    pub(super) render_reuse: Duration,
    pub(super) basic_auth: Option<BasicAuth>,
    pub(super) auth_failures: u32,
    pub(super) auth_failure_window: Duration,
    pub(super) routes: Vec<Route>,
}

impl ServerBuilder {
    /// The defaults, serving `registry` (what [`Server::builder`] returns).
    pub(super) fn new(registry: Registry) -> Self {
        Self {
            registry,
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or_else(|_| ([127, 0, 0, 1], 9464).into()),
            header_read_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(30),
            max_request_bytes: 8 * 1024,
            max_concurrent_scrapes: 4,
            max_connections: default_max_connections(),
            render_reuse: Duration::from_secs(1),
            basic_auth: None,
            auth_failures: 10,
            auth_failure_window: Duration::from_secs(60),
            routes: Vec::new(),
        }
    }

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

    /// How long a client may take to send its request headers before the connection is closed
    /// (default 2 s). It also closes a connection that sends nothing at all. A scraper sends its
    /// few hundred bytes of headers at once; a client that trickles them (slowloris) is cut off
    /// here, and until then holds only a connection, which the connection budget can reclaim.
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

    /// Most renders running at once (default 4); a request that needs a render beyond it gets
    /// `503 Service Unavailable` with `Retry-After: 1` at once. Only renders count: open
    /// connections, idle or sending headers, take none of these slots, and a scrape answered
    /// with a shared render (see [`render_reuse`](Self::render_reuse)) takes none either.
    ///
    /// ```
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new()).max_concurrent_scrapes(1);
    /// ```
    #[must_use]
    pub fn max_concurrent_scrapes(mut self, n: usize) -> Self {
        self.max_concurrent_scrapes = n.max(1);
        self
    }

    /// The connection budget: most open connections. Each costs the process a file descriptor,
    /// so the default is half the process's soft limit on open files, within 64..=2,048 (512
    /// where the limit cannot be read; with the common soft limit of 1,024, 512). When it is full, a new connection is admitted by closing the open
    /// connection that has been idle the longest (no request in progress: idle between
    /// requests, or still sending its headers); only when every open connection has a request
    /// in progress is the new one closed at once. So sockets that never send a request cannot
    /// keep a scraper out. Closures are counted in
    /// `perf_instrument_http_events_total{event="idle_closed"|"connection_refused"}`.
    ///
    /// A larger budget is the better defence against sockets that connect and send nothing:
    /// each connection closed for room is a socket its owner can open again a moment later, so
    /// a budget far below the attacking sockets makes the server drive the churn itself, and a
    /// churn faster than it accepts keeps the kernel's accept queue full in front of every
    /// scraper (docs/HARDENING.md has the figures: 512 against 2,200 sockets served 12 of 20
    /// scrapes in time on a loaded machine, 2,048 served 39 of 40).
    ///
    /// ```
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new()).max_connections(16);
    /// ```
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a finished render of `/metrics` is served again to other scrapes (default 1 s).
    /// Scrapes that arrive while a render of the same format and encoding runs always wait for
    /// it and get its result instead of starting their own; with a non-zero interval, scrapes
    /// up to that long after it ends get it too. So any number of concurrent scrapers costs at
    /// most one render per format and encoding per interval, and a scraper may see values up to
    /// this old. `Duration::ZERO` shares only renders still running. Shared answers are
    /// counted in `perf_instrument_http_events_total{event="render_shared"}`. Extra
    /// [`Route`]s are rendered for each request.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let _ = perf_instrument::Server::builder(perf_instrument::Registry::new())
    ///     .render_reuse(Duration::from_millis(250));
    /// ```
    #[must_use]
    pub fn render_reuse(mut self, interval: Duration) -> Self {
        self.render_reuse = interval;
        self
    }

    /// Requires HTTP basic authentication. It is checked before anything else of the request
    /// except its framing (`Host`), so an unauthenticated client learns nothing of the paths
    /// and methods served. Failures are budgeted per client address (see
    /// [`auth_failure_budget`](Self::auth_failure_budget)).
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

    /// The budget of failed basic-auth attempts per client address (default 10 per 60 s): after
    /// `max_failures` failures within `window` of the first, every request from that address
    /// gets `429 Too Many Requests` with `Retry-After` until the window ends — correct
    /// credentials too, or the answer would tell a guesser which guess was right. IPv6 clients
    /// are counted by their /64 network; at most 4,096 addresses are remembered (expired
    /// windows are forgotten first, then the oldest). `max_failures` 0 turns the budget off.
    /// Failures and refusals are counted in
    /// `perf_instrument_http_events_total{event="auth_failed"|"auth_throttled"}`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use perf_instrument::{BasicAuth, Registry, Server};
    /// let _ = Server::builder(Registry::new())
    ///     .basic_auth(BasicAuth::new("u", "p"))
    ///     .auth_failure_budget(5, Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn auth_failure_budget(mut self, max_failures: u32, window: Duration) -> Self {
        self.auth_failures = max_failures;
        self.auth_failure_window = window;
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
        super::server::start(self)
    }
}

/// Half the soft limit on open files (`/proc/self/limits`), within 64..=2,048; 512 where it
/// cannot be read.
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
    soft.map_or(512, |n| (n / 2).clamp(64, 2048))
}
