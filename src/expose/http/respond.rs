//! One request to one response. The checks run in a fixed order — framing (`400` for
//! HTTP/1.1 without exactly one `Host`), the client's basic-auth failure budget (`429`),
//! authentication (`401`), path (`404`), method (`405`), declared body size (`413`), an
//! acceptable format (`406`) — and only a request that passes them all costs a render: a
//! shared one (running, or recent) when there is one, else its own on the blocking pool if a
//! render slot is free (`503` otherwise).

use super::route::{Handler, RouteRequest};
use super::share::{self, Key, Lookup, Rendered, Ticket};
use super::shared::{take_slot, Config, Slot};
use super::{BasicAuth, Route};
use crate::expose::{render_as, Format};
use crate::registry::Registry;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Reply = Response<Full<Bytes>>;

/// Answers `request` from `client`: a refusal at once, a shared render, or a render on the
/// blocking pool.
pub(super) async fn respond(config: &Config, client: IpAddr, request: Request<Incoming>) -> Reply {
    let settings = &config.settings;
    if let Err(refusal) = check_host(&request) {
        return refusal.reply();
    }
    if let Some(auth) = settings.basic_auth.as_ref() {
        let now = Instant::now();
        if let Err(wait) = config.auth_failures.check(client, now) {
            config.events.auth_throttled.inc();
            return Refusal::Throttled(wait).reply();
        }
        if check_auth(Some(auth), request.headers()).is_err() {
            config.auth_failures.fail(client, now);
            config.events.auth_failed.inc();
            return Refusal::Unauthorized.reply();
        }
    }
    let target = match admit(&settings.routes, None, settings.max_request_bytes, &request) {
        Ok(target) => target,
        Err(refusal) => return refusal.reply(),
    };
    let gzip = header_str(request.headers(), header::ACCEPT_ENCODING).is_some_and(accepts_gzip);
    match target {
        Target::Metrics(format) => metrics(config, &settings.registry, (format, gzip)).await,
        Target::Route(handler, route_request) => {
            let Some(scrape) = take_slot(&config.scrapes, settings.max_concurrent_scrapes) else {
                config.events.busy.inc();
                return Refusal::Busy.reply();
            };
            let job = Job {
                target: Target::Route(handler, route_request),
                registry: settings.registry.clone(),
                gzip,
            };
            render_on_pool(job, scrape, None).await
        }
    }
}

/// Serves `/metrics` in `key`'s format and encoding: a shared render if one is running or
/// recent, else a render of its own (whose result it shares).
async fn metrics(config: &Config, registry: &Registry, key: Key) -> Reply {
    match config.renders.lookup(key) {
        Lookup::Fresh(rendered) => {
            config.events.render_shared.inc();
            success(&rendered)
        }
        Lookup::Wait(receiver) => match share::wait(receiver).await {
            Some(rendered) => {
                config.events.render_shared.inc();
                success(&rendered)
            }
            // The render it waited for found no slot, or failed.
            None => Refusal::Busy.reply(),
        },
        Lookup::Render(ticket) => {
            let Some(scrape) = take_slot(&config.scrapes, config.settings.max_concurrent_scrapes)
            else {
                config.events.busy.inc();
                return Refusal::Busy.reply();
            };
            let job = Job {
                target: Target::Metrics(key.0),
                registry: registry.clone(),
                gzip: key.1,
            };
            render_on_pool(job, scrape, Some(ticket)).await
        }
    }
}

/// What a request is for: the registry's metrics in a format, or an extra route.
enum Target {
    Metrics(Format),
    Route(Arc<Handler>, RouteRequest),
}

/// Why a request is answered without a render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    Throttled(Duration),
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    TooLarge,
    NotAcceptable,
    Busy,
}

impl Refusal {
    fn reply(self) -> Reply {
        let (status, text, extra) = match self {
            Refusal::BadRequest => (
                StatusCode::BAD_REQUEST,
                "HTTP/1.1 requests need exactly one Host header\n",
                None,
            ),
            Refusal::Throttled(wait) => {
                let mut response = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed authentication attempts\n",
                );
                // Whole seconds, rounded up (RFC 9110 delay-seconds).
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
                return response;
            }
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
            Refusal::NotAcceptable => (
                StatusCode::NOT_ACCEPTABLE,
                "acceptable: text/plain;version=0.0.4, application/openmetrics-text;version=1.0.0\n",
                None,
            ),
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

/// HTTP/1.1 requires exactly one `Host` (RFC 9112, section 3.2); HTTP/1.0 at most one.
fn check_host<B>(request: &Request<B>) -> Result<(), Refusal> {
    let hosts = request.headers().get_all(header::HOST).iter().count();
    let required = request.version() != Version::HTTP_10 && request.version() != Version::HTTP_09;
    if hosts > 1 || (required && hosts == 0) {
        Err(Refusal::BadRequest)
    } else {
        Ok(())
    }
}

/// The checks before a render, in order; the first that fails decides the answer.
fn admit<B>(
    routes: &[Route],
    auth: Option<&BasicAuth>,
    max_request_bytes: usize,
    request: &Request<B>,
) -> Result<Target, Refusal> {
    check_host(request)?;
    check_auth(auth, request.headers())?;
    let target = match target(routes, request.uri().path())? {
        Target::Route(handler, _) => Target::Route(
            handler,
            RouteRequest::new(
                request.uri().query(),
                header_str(request.headers(), header::ACCEPT),
            ),
        ),
        other => other,
    };
    check_method(request.method())?;
    check_declared_body(max_request_bytes, request.headers())?;
    match target {
        Target::Metrics(_) => Format::negotiate(header_str(request.headers(), header::ACCEPT))
            .map(Target::Metrics)
            .ok_or(Refusal::NotAcceptable),
        route => Ok(route),
    }
}

fn target(routes: &[Route], path: &str) -> Result<Target, Refusal> {
    if path == "/metrics" {
        return Ok(Target::Metrics(Format::PrometheusText));
    }
    routes
        .iter()
        .find(|route| route.path == path)
        .map(|route| Target::Route(route.handler.clone(), RouteRequest::default()))
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
    gzip: bool,
}

impl Job {
    fn run(self) -> Rendered {
        let (content_type, body) = match self.target {
            Target::Metrics(format) => (
                format.content_type().to_string(),
                render_as(&self.registry, format),
            ),
            Target::Route(handler, request) => handler(&request),
        };
        match self.gzip.then(|| compress(&body)).flatten() {
            Some(zipped) => Rendered {
                content_type,
                body: Bytes::from(zipped),
                gzipped: true,
            },
            None => Rendered {
                content_type,
                body: Bytes::from(body),
                gzipped: false,
            },
        }
    }
}

/// Runs `job` on the blocking pool holding `scrape`, and publishes the result with `ticket`
/// for the scrapes that share it. The slot and the ticket move into the render: if the client
/// goes away, hyper drops this future but the blocking render runs on, and it must go on
/// counting against the cap until it ends, and hand its result to those waiting.
async fn render_on_pool(job: Job, scrape: Slot, ticket: Option<Ticket>) -> Reply {
    let rendered = tokio::task::spawn_blocking(move || {
        let _scrape = scrape;
        let rendered = job.run();
        match ticket {
            Some(ticket) => ticket.publish(rendered),
            None => Arc::new(rendered),
        }
    })
    .await;
    match rendered {
        Ok(rendered) => success(&rendered),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n"),
    }
}

fn success(rendered: &Rendered) -> Reply {
    let mut response = Response::new(Full::new(rendered.body.clone()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&rendered.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
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

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
        let host = ("host", "x");
        let good = ("authorization", "Basic dXNlcjpwYXNz");
        let big = ("content-length", "101");
        let json = ("accept", "application/json");
        // A missing Host beats everything; then authentication, before the path or method
        // says anything; then the path, the method, the size and the format.
        assert_eq!(
            refusal(admit(&request("POST", "/nope", &[good, big]))),
            Some(Refusal::BadRequest)
        );
        assert_eq!(
            refusal(admit(&request("POST", "/nope", &[host, big]))),
            Some(Refusal::Unauthorized)
        );
        assert_eq!(
            refusal(admit(&request("POST", "/nope", &[host, good, big]))),
            Some(Refusal::NotFound)
        );
        assert_eq!(
            refusal(admit(&request("POST", "/metrics", &[host, good, big]))),
            Some(Refusal::MethodNotAllowed)
        );
        assert_eq!(
            refusal(admit(&request("GET", "/ready", &[host, good, big]))),
            Some(Refusal::TooLarge)
        );
        assert_eq!(
            refusal(admit(&request("GET", "/metrics", &[host, good, json]))),
            Some(Refusal::NotAcceptable)
        );
        // A route's format is its own business.
        assert!(matches!(
            admit(&request(
                "HEAD",
                "/ready",
                &[host, good, json, ("content-length", "100")]
            )),
            Ok(Target::Route(..))
        ));
        assert!(matches!(
            admit(&request("GET", "/metrics", &[host, good])),
            Ok(Target::Metrics(Format::PrometheusText))
        ));
        assert!(matches!(
            admit(&request(
                "GET",
                "/metrics",
                &[host, good, ("accept", "application/openmetrics-text")]
            )),
            Ok(Target::Metrics(Format::OpenMetrics))
        ));
    }

    #[test]
    fn host_is_required_once_in_http_1_1_and_at_most_once_in_1_0() {
        let with = |version, hosts: &[&str]| {
            let mut builder = Request::builder().version(version).uri("/metrics");
            for host in hosts {
                builder = builder.header("host", *host);
            }
            check_host(&builder.body(()).unwrap())
        };
        assert_eq!(with(Version::HTTP_11, &[]), Err(Refusal::BadRequest));
        assert_eq!(
            with(Version::HTTP_11, &["a", "b"]),
            Err(Refusal::BadRequest)
        );
        assert_eq!(with(Version::HTTP_11, &["a"]), Ok(()));
        assert_eq!(with(Version::HTTP_10, &[]), Ok(()));
        assert_eq!(
            with(Version::HTTP_10, &["a", "b"]),
            Err(Refusal::BadRequest)
        );
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
        let throttled = Refusal::Throttled(Duration::from_millis(41_200)).reply();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "42");
        assert_eq!(
            Refusal::NotAcceptable.reply().status(),
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            Refusal::NotFound.reply().headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn a_render_is_gzipped_only_when_asked() {
        let registry = Registry::new();
        let job = |gzip| Job {
            target: Target::Metrics(Format::PrometheusText),
            registry: registry.clone(),
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
