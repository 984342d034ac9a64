//! One request to one response. The checks run in a fixed order — path (`404`), method
//! (`405`), authentication (`401`), declared body size (`413`), a free scrape slot (`503`) —
//! and only a request that passes them all costs a render, on the blocking pool.

use super::route::Handler;
use super::shared::{take_slot, Config, Slot};
use super::{BasicAuth, Route};
use crate::expose::render;
use crate::registry::Registry;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::io::Write as _;
use std::sync::Arc;

type Reply = Response<Full<Bytes>>;

/// Answers `request`: a refusal at once, or a render on the blocking pool.
pub(super) async fn respond(config: &Config, request: Request<Incoming>) -> Reply {
    let settings = &config.settings;
    let target = match admit(
        &settings.routes,
        settings.basic_auth.as_ref(),
        settings.max_request_bytes,
        &request,
    ) {
        Ok(target) => target,
        Err(refusal) => return refusal.reply(),
    };
    let Some(scrape) = take_slot(&config.scrapes, settings.max_concurrent_scrapes) else {
        return Refusal::Busy.reply();
    };
    let job = Job {
        target,
        registry: settings.registry.clone(),
        accept: header_string(request.headers(), header::ACCEPT),
        gzip: header_string(request.headers(), header::ACCEPT_ENCODING)
            .as_deref()
            .is_some_and(accepts_gzip),
    };
    render_on_pool(job, scrape).await
}

/// What a request is for: the registry's metrics, or an extra route.
enum Target {
    Metrics,
    Route(Arc<Handler>),
}

/// Why a request is answered without a render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    TooLarge,
    Busy,
}

impl Refusal {
    fn reply(self) -> Reply {
        let (status, text, extra) = match self {
            Refusal::NotFound => (
                StatusCode::NOT_FOUND,
                "not found; metrics are at /metrics\n",
                None,
            ),
            Refusal::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD\n",
                Some((header::ALLOW, "GET, HEAD")),
            ),
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "authentication required\n",
                Some((
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"metrics\", charset=\"UTF-8\"",
                )),
            ),
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request too large\n", None),
            Refusal::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many concurrent scrapes\n",
                Some((header::RETRY_AFTER, "1")),
            ),
        };
        let mut response = plain(status, text);
        if let Some((name, value)) = extra {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// The checks before a render, in order; the first that fails decides the answer.
fn admit<B>(
    routes: &[Route],
    auth: Option<&BasicAuth>,
    max_request_bytes: usize,
    request: &Request<B>,
) -> Result<Target, Refusal> {
    let target = target(routes, request.uri().path())?;
    check_method(request.method())?;
    check_auth(auth, request.headers())?;
    check_declared_body(max_request_bytes, request.headers())?;
    Ok(target)
}

fn target(routes: &[Route], path: &str) -> Result<Target, Refusal> {
    if path == "/metrics" {
        return Ok(Target::Metrics);
    }
    routes
        .iter()
        .find(|route| route.path == path)
        .map(|route| Target::Route(route.handler.clone()))
        .ok_or(Refusal::NotFound)
}

fn check_method(method: &Method) -> Result<(), Refusal> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(Refusal::MethodNotAllowed)
    }
}

fn check_auth(auth: Option<&BasicAuth>, headers: &HeaderMap) -> Result<(), Refusal> {
    match auth {
        Some(auth) if !auth.allows(headers.get(header::AUTHORIZATION)) => {
            Err(Refusal::Unauthorized)
        }
        _ => Ok(()),
    }
}

fn check_declared_body(max_request_bytes: usize, headers: &HeaderMap) -> Result<(), Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared > max_request_bytes {
        Err(Refusal::TooLarge)
    } else {
        Ok(())
    }
}

/// A render to run on the blocking pool, with what it needs from the request.
struct Job {
    target: Target,
    registry: Registry,
    accept: Option<String>,
    gzip: bool,
}

/// A rendered body, gzipped when the client accepts it.
struct Rendered {
    content_type: String,
    body: Vec<u8>,
    gzipped: bool,
}

impl Job {
    fn run(self) -> Rendered {
        let (content_type, body) = match self.target {
            Target::Metrics => {
                let (content_type, body) = render(&self.registry, self.accept.as_deref());
                (content_type.to_string(), body)
            }
            Target::Route(handler) => handler(),
        };
        match self.gzip.then(|| compress(&body)).flatten() {
            Some(zipped) => Rendered {
                content_type,
                body: zipped,
                gzipped: true,
            },
            None => Rendered {
                content_type,
                body,
                gzipped: false,
            },
        }
    }
}

/// Runs `job` on the blocking pool holding `scrape`. The slot moves into the render: if the
/// client goes away, hyper drops this future but the blocking render runs on, and it must go
/// on counting against the cap until it ends.
async fn render_on_pool(job: Job, scrape: Slot) -> Reply {
    let rendered = tokio::task::spawn_blocking(move || {
        let _scrape = scrape;
        job.run()
    })
    .await;
    match rendered {
        Ok(rendered) => success(rendered),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n"),
    }
}

fn success(rendered: Rendered) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(rendered.body)));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&rendered.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if rendered.gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
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

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn refusal(result: Result<Target, Refusal>) -> Option<Refusal> {
        result.err()
    }

    #[test]
    fn the_first_failing_check_decides() {
        let routes = [Route::new("/ready", || (String::new(), Vec::new()))];
        let auth = BasicAuth::new("user", "pass");
        let admit = |r: &Request<()>| admit(&routes, Some(&auth), 100, r);
        let good = ("authorization", "Basic dXNlcjpwYXNz");
        // Unknown path beats a wrong method, which beats missing credentials, which beat size.
        let big = ("content-length", "101");
        assert_eq!(
            refusal(admit(&request("POST", "/nope", &[big]))),
            Some(Refusal::NotFound)
        );
        assert_eq!(
            refusal(admit(&request("POST", "/metrics", &[big]))),
            Some(Refusal::MethodNotAllowed)
        );
        assert_eq!(
            refusal(admit(&request("GET", "/ready", &[big]))),
            Some(Refusal::Unauthorized)
        );
        assert_eq!(
            refusal(admit(&request("GET", "/ready", &[good, big]))),
            Some(Refusal::TooLarge)
        );
        assert!(matches!(
            admit(&request(
                "HEAD",
                "/ready",
                &[good, ("content-length", "100")]
            )),
            Ok(Target::Route(_))
        ));
        assert!(matches!(
            admit(&request("GET", "/metrics", &[good])),
            Ok(Target::Metrics)
        ));
    }

    #[test]
    fn refusals_carry_their_headers() {
        let allow = Refusal::MethodNotAllowed.reply();
        assert_eq!(allow.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(allow.headers()[header::ALLOW], "GET, HEAD");
        let busy = Refusal::Busy.reply();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let auth = Refusal::Unauthorized.reply();
        assert!(auth.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(
            Refusal::NotFound.reply().headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn a_render_is_gzipped_only_when_asked() {
        let registry = Registry::new();
        let job = |gzip| Job {
            target: Target::Metrics,
            registry: registry.clone(),
            accept: None,
            gzip,
        };
        let plain = job(false).run();
        assert!(!plain.gzipped);
        assert!(plain.content_type.starts_with("text/plain; version=0.0.4"));
        let zipped = job(true).run();
        assert!(zipped.gzipped);
        assert_eq!(&zipped.body[..2], &[0x1f, 0x8b]);
    }
}
