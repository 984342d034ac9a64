//! [`Route`]: an extra read-only path served beside `/metrics`, with the same limits.

use crate::instrument::saga::{SagaTracker, SagaViewFormat};
use crate::report::ReportHistory;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a route runs on the render pool: the content type and the body.
pub(super) type Handler = dyn Fn(&RouteRequest) -> (String, Vec<u8>) + Send + Sync;

/// What a [`Route`] handler may read of its request: the query string and the `Accept` header.
///
/// ```
/// let request = perf_instrument::RouteRequest::new(Some("format=json&minutes=5"), None);
/// assert_eq!(request.query_value("minutes"), Some("5"));
/// assert_eq!(request.query_value("format"), Some("json"));
/// assert_eq!(request.query_value("other"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteRequest {
    /// The query string, without the `?`.
    pub query: Option<String>,
    /// The `Accept` header, if it is text.
    pub accept: Option<String>,
}

impl RouteRequest {
    /// A request with `query` and `accept`.
    ///
    /// ```
    /// let r = perf_instrument::RouteRequest::new(None, Some("application/json"));
    /// assert_eq!(r.accept.as_deref(), Some("application/json"));
    /// ```
    #[must_use]
    pub fn new(query: Option<&str>, accept: Option<&str>) -> Self {
        Self {
            query: query.map(str::to_string),
            accept: accept.map(str::to_string),
        }
    }

    /// The value of `key` in the query string (`a=1&b=2`), undecoded.
    ///
    /// ```
    /// let r = perf_instrument::RouteRequest::new(Some("a=1&b=2"), None);
    /// assert_eq!(r.query_value("b"), Some("2"));
    /// ```
    #[must_use]
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

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
    /// Serves `handler()` on GET/HEAD `path` (any query string ignored).
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
            handler: Arc::new(move |_: &RouteRequest| handler()),
        }
    }

    /// Serves `handler(request)` on GET/HEAD `path`: the handler sees the query string and
    /// the `Accept` header.
    ///
    /// ```
    /// let route = perf_instrument::Route::with_request("/echo", |r| {
    ///     ("text/plain".to_string(), r.query.clone().unwrap_or_default().into_bytes())
    /// });
    /// assert!(format!("{route:?}").contains("/echo"));
    /// ```
    #[must_use]
    pub fn with_request(
        path: impl Into<String>,
        handler: impl Fn(&RouteRequest) -> (String, Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            path: path.into(),
            handler: Arc::new(handler),
        }
    }

    /// Serves reports of a [`ReportHistory`] on GET/HEAD `path` (conventionally `/report`):
    /// over the last `minutes` minutes given in the query (`?minutes=5`; default: everything
    /// the history keeps), as text, or as the JSON of [`Report::to_json`](crate::Report::to_json)
    /// with `?format=json` or an `Accept` header naming `application/json`
    /// (`?format=markdown` gives Markdown). With feature `html`, `?format=html` or an `Accept`
    /// header naming `text/html` (a browser) gets the live page
    /// ([`live_page`](crate::live_page)), which redraws itself from this route's JSON every
    /// few seconds. Each request takes a snapshot and reports; the page costs nothing until
    /// someone opens it.
    ///
    /// ```
    /// use perf_instrument::{Registry, ReportHistory, Route, Server};
    /// let registry = Registry::new();
    /// let history = ReportHistory::start(&registry, std::time::Duration::from_secs(10), 60).unwrap();
    /// let server = Server::builder(registry)
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .route(Route::report(&history, "/report"))
    ///     .start()
    ///     .unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// ```
    #[must_use]
    pub fn report(history: &ReportHistory, path: impl Into<String>) -> Self {
        let history = history.clone();
        let path = path.into();
        #[cfg(feature = "html")]
        let own_path = path.clone();
        Self::with_request(path, move |request| {
            #[cfg(feature = "html")]
            if let Some(page) = live_page_for(&own_path, request) {
                return page;
            }
            let span = request
                .query_value("minutes")
                .and_then(|m| m.parse::<f64>().ok())
                .filter(|m| m.is_finite() && *m > 0.0)
                .map_or(Duration::MAX, |m| {
                    Duration::from_secs_f64((m * 60.0).min(1e12))
                });
            let report = history.report_last(span);
            let json = request.query_value("format") == Some("json")
                || (request.query_value("format").is_none()
                    && request
                        .accept
                        .as_deref()
                        .is_some_and(|a| a.contains("application/json")));
            if json {
                (
                    "application/json".to_string(),
                    report.to_json().into_bytes(),
                )
            } else if request.query_value("format") == Some("markdown") {
                (
                    "text/markdown; charset=utf-8".to_string(),
                    report.to_markdown().into_bytes(),
                )
            } else {
                (
                    "text/plain; charset=utf-8".to_string(),
                    report.to_string().into_bytes(),
                )
            }
        })
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

/// The live report page for a request to a report route at `path` that asks for HTML (an
/// explicit `?format=html`, or no `format` and an `Accept` naming `text/html`): it polls the
/// same route's JSON over the same `minutes`.
#[cfg(feature = "html")]
fn live_page_for(path: &str, request: &RouteRequest) -> Option<(String, Vec<u8>)> {
    let format = request.query_value("format");
    let html = format == Some("html")
        || (format.is_none()
            && request
                .accept
                .as_deref()
                .is_some_and(|a| a.contains("text/html")));
    if !html {
        return None;
    }
    let mut json_url = format!("{path}?format=json");
    if let Some(minutes) = request
        .query_value("minutes")
        .and_then(|m| m.parse::<f64>().ok())
        .filter(|m| m.is_finite() && *m > 0.0)
    {
        json_url.push_str(&format!("&minutes={minutes}"));
    }
    Some((
        "text/html; charset=utf-8".to_string(),
        crate::report::live_page(&json_url).into_bytes(),
    ))
}
