//! The built-in `/metrics` endpoint: hyper on its own OS thread (feature `http`, on by default).
//!
//! It answers while the service's own async runtime is wedged, because it has its own thread and
//! its own single-threaded runtime; renders run on a small blocking pool so a slow render never
//! delays the fast `503` that a scrape past the concurrency cap gets.
//!
//! * `builder.rs` — [`ServerBuilder`]: the settings and their defaults;
//! * `server.rs` — [`Server`] and [`ServerError`]: binding, the accept loop, per-connection
//!   deadlines;
//! * `conns.rs` — the connection budget: which connection is idle the longest, closed to make
//!   room;
//! * `shared.rs` — what connections share: settings, render slots, event counters;
//! * `respond.rs` — one request to one response: framing, failure budget, authentication,
//!   path, method, size, format and slot checks, the render on the blocking pool, gzip;
//! * `share.rs` — renders shared by concurrent and closely following scrapes;
//! * `route.rs` — [`Route`], the extra read-only paths (the saga view among them);
//! * `report_page.rs` — the live report page and the report's JSON as routes (feature `html`);
//! * `auth.rs` — [`BasicAuth`] and the per-client failure budget.

mod auth;
mod builder;
mod conns;
#[cfg(feature = "html")]
mod report_page;
mod respond;
mod route;
mod server;
mod share;
mod shared;

pub use auth::BasicAuth;
pub use builder::ServerBuilder;
pub use route::{Route, RouteRequest};
pub use server::{Server, ServerError};
#[cfg(perf_instrument_loom)]
pub use shared::{take_slot, Slot};

use crate::registry::Registry;
use std::net::SocketAddr;

/// Default address: loopback only.
///
/// ```
/// let addr: std::net::SocketAddr = perf_instrument::DEFAULT_ADDR.parse().unwrap();
/// assert!(addr.ip().is_loopback());
/// assert_eq!(addr.port(), 9464);
/// ```
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

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
