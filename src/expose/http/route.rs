//! [`Route`]: an extra read-only path served beside `/metrics`, with the same limits.

use crate::instrument::saga::{SagaTracker, SagaViewFormat};
use std::fmt;
use std::sync::Arc;

/// What a route runs on the render pool: the content type and the body.
pub(super) type Handler = dyn Fn() -> (String, Vec<u8>) + Send + Sync;

/// An extra path the endpoint serves (for example `/sagas`): a function returning the content
/// type and body, run on the render pool like `/metrics`.
///
/// ```
/// let route = perf_instrument::Route::new("/health", || ("text/plain".to_string(), b"ok".to_vec()));
/// assert!(format!("{route:?}").contains("/health"));
/// ```
#[derive(Clone)]
pub struct Route {
    pub(super) path: String,
    pub(super) handler: Arc<Handler>,
}

impl Route {
    /// Serves `handler()` on GET/HEAD `path`.
    ///
    /// ```
    /// let route = perf_instrument::Route::new("/sagas", || ("application/json".into(), b"[]".to_vec()));
    /// assert!(format!("{route:?}").contains("/sagas"));
    /// ```
    #[must_use]
    pub fn new(
        path: impl Into<String>,
        handler: impl Fn() -> (String, Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            path: path.into(),
            handler: Arc::new(handler),
        }
    }

    /// Serves a saga tracker's [`view`](SagaTracker::view) in `format` on GET/HEAD `path`:
    /// the stuck and oldest active sagas, within the tracker's
    /// [`view_limits`](crate::saga::SagaTrackerBuilder::view_limits), rendered on each request.
    ///
    /// ```
    /// use perf_instrument::saga::SagaViewFormat;
    /// use perf_instrument::{Registry, Route, SagaTracker, Server};
    /// let registry = Registry::new();
    /// let orders = SagaTracker::builder("order").steps(["a"]).build(&registry).unwrap();
    /// let server = Server::builder(registry)
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .route(Route::saga_view(&orders, "/sagas", SagaViewFormat::Json))
    ///     .route(Route::saga_view(&orders, "/sagas.txt", SagaViewFormat::Text))
    ///     .start()
    ///     .unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// ```
    #[must_use]
    pub fn saga_view(
        tracker: &SagaTracker,
        path: impl Into<String>,
        format: SagaViewFormat,
    ) -> Self {
        let tracker = tracker.clone();
        Self::new(path, move || {
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
