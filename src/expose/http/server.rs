//! [`Server`]: binding, the server thread and its runtime, the accept loop, and the connection
//! and scrape slots that bound what clients can hold.

use super::respond::respond;
use super::shared::{take_slot, Config};
use super::ServerBuilder;
use crate::registry::Registry;
use crate::sync::AtomicUsize;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

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
    #[must_use]
    pub fn builder(registry: Registry) -> ServerBuilder {
        ServerBuilder::new(registry)
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

/// Binds `settings.addr` and starts the server thread (what [`ServerBuilder::start`] does).
pub(super) fn start(settings: ServerBuilder) -> Result<Server, ServerError> {
    let listener = TcpListener::bind(settings.addr).map_err(|source| ServerError::Bind {
        addr: settings.addr.to_string(),
        source,
    })?;
    let local_addr = listener.local_addr().map_err(ServerError::Start)?;
    listener.set_nonblocking(true).map_err(ServerError::Start)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(settings.max_concurrent_scrapes)
        .thread_name("perf-instrument-render")
        .build()
        .map_err(ServerError::Start)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = Arc::new(Config {
        settings,
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
        tokio::spawn(serve_connection(stream, config.clone()));
    }
}

/// Serves one connection within its connection slot, its header limits and its deadline.
async fn serve_connection(stream: tokio::net::TcpStream, config: Arc<Config>) {
    let Some(_connection) = take_slot(&config.connections, config.settings.max_connections) else {
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
        // Past the deadline: no further request; a response being written (to a client that
        // may never read it) gets as long again, then the connection is dropped.
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(deadline, connection).await;
    }
}
