//! [`Route`]: an extra read-only path served beside `/metrics`, with the same limits.

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
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route").field("path", &self.path).finish()
    }
}
