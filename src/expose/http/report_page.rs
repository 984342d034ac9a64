//! The report over HTTP: the live page ([`crate::live_page`]) and the registry's report as
//! JSON, as [`Route`]s. Both are rendered only when asked for, so they cost the service
//! nothing while nobody has the page open.

use super::Route;
use crate::registry::Registry;
use crate::report::Report;
use std::sync::Arc;

impl Route {
    /// Serves the live report page on GET/HEAD `path`: it loads the report's JSON from
    /// `json_url` every few seconds while it is open, and redraws. The page is built once.
    ///
    /// ```
    /// use perf_instrument::{Registry, Route, Server};
    /// let registry = Registry::new();
    /// let server = Server::builder(registry.clone())
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .route(Route::report_page("/report", "/report.json"))
    ///     .route(Route::report_json(&registry, "/report.json"))
    ///     .start()
    ///     .unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// ```
    #[must_use]
    pub fn report_page(path: impl Into<String>, json_url: &str) -> Self {
        let page: Arc<[u8]> = crate::report::live_page(json_url).into_bytes().into();
        Self::new(path, move || {
            ("text/html; charset=utf-8".to_string(), page.to_vec())
        })
    }

    /// Serves the cumulative [`Report`] of `registry` (everything since start) as JSON on
    /// GET/HEAD `path`, built for each request.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let route = perf_instrument::Route::report_json(&registry, "/report.json");
    /// assert!(format!("{route:?}").contains("/report.json"));
    /// ```
    #[must_use]
    pub fn report_json(registry: &Registry, path: impl Into<String>) -> Self {
        let registry = registry.clone();
        Self::new(path, move || {
            (
                "application/json".to_string(),
                Report::from_registry(&registry).to_json().into_bytes(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Server;
    use super::*;
    use crate::instrument::QueueProbe;
    use std::io::{Read, Write};

    fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn the_page_and_its_json_are_served_and_the_json_follows_the_registry() {
        let registry = Registry::new();
        let probe = QueueProbe::new(&registry, "ingest").unwrap();
        let server = Server::builder(registry.clone())
            .bind("127.0.0.1:0".parse().unwrap())
            .route(Route::report_page("/report", "/report.json"))
            .route(Route::report_json(&registry, "/report.json"))
            .start()
            .unwrap();
        let page = get(server.local_addr(), "/report");
        assert!(page.contains("text/html; charset=utf-8"));
        assert!(page.contains("data-url=\"/report.json\""));
        let count = |text: &str| {
            let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            json["tables"][0]["rows"][0]["count"].as_u64()
        };
        let _ = probe.pickup(probe.submit());
        assert_eq!(count(&get(server.local_addr(), "/report.json")), Some(1));
        let _ = probe.pickup(probe.submit());
        assert_eq!(count(&get(server.local_addr(), "/report.json")), Some(2));
        server.shutdown();
    }
}
