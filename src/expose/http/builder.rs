//! [`ServerBuilder`]: the endpoint's settings and their defaults.

use super::{BasicAuth, Route, Server, ServerError, DEFAULT_ADDR};
use crate::registry::Registry;
use std::net::SocketAddr;
use std::time::Duration;

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
    pub(super) registry: Registry,
    pub(super) addr: SocketAddr,
    pub(super) header_read_timeout: Duration,
    pub(super) connection_timeout: Duration,
    pub(super) max_request_bytes: usize,
    pub(super) max_concurrent_scrapes: usize,
    pub(super) max_connections: usize,
    pub(super) basic_auth: Option<BasicAuth>,
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
            header_read_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(30),
            max_request_bytes: 8 * 1024,
            max_concurrent_scrapes: 4,
            max_connections: 64,
            basic_auth: None,
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
        super::server::start(self)
    }
}
