//! [`Server`]: binding, the server thread and its runtime, the accept loop, and the connection
//! budget and per-connection deadlines that bound what clients can hold.

use super::conns::{Admission, Connections, Member, Watched};
use super::respond::respond;
use super::shared::Config;
use super::ServerBuilder;
use crate::registry::Registry;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Connections the kernel may queue before the accept loop takes them: a burst of attackers'
/// connects must not fill the queue a scraper's connect waits in.
const LISTEN_BACKLOG: u32 = 1024;

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
    let addr = settings.addr;
    let bind_error = |source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(settings.max_concurrent_scrapes)
        .thread_name("perf-instrument-render")
        .build()
        .map_err(ServerError::Start)?;
    let listener = {
        let _runtime = runtime.enter();
        listen(addr).map_err(bind_error)?
    };
    let local_addr = listener.local_addr().map_err(ServerError::Start)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let connections = Arc::new(Connections::new(settings.max_connections));
    let config = Arc::new(Config::new(settings));
    let thread = std::thread::Builder::new()
        .name("perf-instrument-http".into())
        .spawn(move || runtime.block_on(accept_loop(listener, config, connections, stopped)))
        .map_err(ServerError::Start)?;
    Ok(Server {
        local_addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Binds `addr` with a deeper accept queue than the std default of 128 (within the runtime
/// entered by the caller).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's `TcpListener::bind` does on Unix: rebinding right after a restart works.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    config: Arc<Config>,
    connections: Arc<Connections>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of descriptors, most likely: free one held by an idle connection,
                    // or back off briefly, and go on.
                    if connections.close_idlest() {
                        config.events.idle_closed.inc();
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    continue;
                }
            },
        };
        let member = match connections.admit() {
            Admission::Admitted(member) => member,
            Admission::Evicted(member) => {
                config.events.idle_closed.inc();
                member
            }
            Admission::Refused => {
                config.events.connection_refused.inc();
                continue; // dropping the stream closes it
            }
        };
        tokio::spawn(serve_connection(stream, peer.ip(), config.clone(), member));
        // Let the connections run before the next accept: a flood of connects must not starve
        // the tasks that read the requests already accepted (a new connection not yet polled
        // looks idle, and would be closed for room before its request is read).
        tokio::task::yield_now().await;
    }
}

/// Serves one connection within its place in the connection budget, its header limits and its
/// deadline.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    client: IpAddr,
    config: Arc<Config>,
    member: Member,
) {
    // Most sockets of an attack send nothing: wait for the first byte before building the
    // HTTP machinery, within the header timeout and until told to close for room.
    tokio::select! {
        ready = stream.readable() => if ready.is_err() { return },
        () = tokio::time::sleep(config.settings.header_read_timeout) => return,
        () = member.state().close.notified() => return,
    }
    let _ = stream.set_nodelay(true);
    let state = member.state().clone();
    let service = hyper::service::service_fn(|request| {
        let config = config.clone();
        let busy = state.request();
        async move {
            let reply = respond(&config, client, request).await;
            drop(busy);
            Ok::<_, std::convert::Infallible>(reply)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(config.settings.header_read_timeout)
        .max_buf_size(config.settings.max_request_bytes.max(8192))
        .max_header_size(config.settings.max_request_bytes)
        .serve_connection(Watched::new(TokioIo::new(stream), state.clone()), service);
    let mut connection = std::pin::pin!(connection);
    let deadline = config.settings.connection_timeout;
    let grace = tokio::select! {
        _ = connection.as_mut() => return,
        () = tokio::time::sleep(deadline) => deadline,
        // Closed to make room: it had no request in progress when chosen. An idle
        // connection, or one still sending headers, closes at once; one whose request started
        // since finishes its response within the header timeout.
        () = member.state().close.notified() => config.settings.header_read_timeout,
    };
    // No further request; a response being written (to a client that may never read it) gets
    // `grace`, then the connection is dropped.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, connection).await;
}
