//! The Prometheus Pushgateway target (feature `push-gateway`).
//!
//! The body is the protobuf exposition (length-delimited `MetricFamily` messages, native
//! histograms and classic buckets in one message) written by the same [`ProtobufEncoder`] as
//! the pull endpoint. The group is the URL path: `/metrics/job/<job>/<label>/<value>…`, a value
//! that is empty or holds anything but `[A-Za-z0-9._~-]` (a `/` above all) written as
//! `<label>@base64/<base64url of the value>`, as the Pushgateway documents.
//!
//! PUT (the default) replaces the whole group with this push: a family that left the registry
//! leaves the group. POST replaces only the families named in the push and keeps the others:
//! for several processes or pushers sharing one group with different families. Either way a
//! Prometheus scrapes the Pushgateway (with `honor_labels: true`, so `job` and the grouping
//! labels stay as pushed), and the pushed values stay there until the next push or a delete:
//! a dead job's last values do not go stale.

use super::pusher::{PushBatch, PushError, PushTarget};
use super::transport::{valid_label_name, Http, Method, DEFAULT_TIMEOUT};
use crate::expose::{Encoder, ProtobufEncoder};
use base64::Engine;
use std::time::Duration;

/// How a push replaces what the group holds.
///
/// ```
/// use perf_instrument::export::pushgateway::PushMethod;
/// assert_eq!(PushMethod::default(), PushMethod::Put);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PushMethod {
    /// Replace every metric of the group (HTTP PUT).
    #[default]
    Put,
    /// Replace only the metric families named in the push (HTTP POST).
    Post,
}

/// Pushes the registry to a Pushgateway group. Build it with [`Pushgateway::builder`] and
/// give it to a [`Pusher`](crate::export::Pusher).
///
/// ```
/// use perf_instrument::export::pushgateway::Pushgateway;
/// let gateway = Pushgateway::builder("http://127.0.0.1:9091", "nightly_load")
///     .grouping_label("instance", "runner-7")
///     .grouping_label("branch", "feature/push")
///     .build()
///     .unwrap();
/// assert_eq!(
///     gateway.url(),
///     "http://127.0.0.1:9091/metrics/job/nightly_load/instance/runner-7/branch@base64/ZmVhdHVyZS9wdXNo"
/// );
/// ```
#[derive(Debug)]
pub struct Pushgateway {
    http: Http,
    url: String,
    method: Method,
}

impl Pushgateway {
    /// A target for the Pushgateway at `base_url` (`http://host:9091`), group `job`.
    ///
    /// ```
    /// use perf_instrument::export::pushgateway::Pushgateway;
    /// let gateway = Pushgateway::builder("http://127.0.0.1:9091/", "batch").build().unwrap();
    /// assert_eq!(gateway.url(), "http://127.0.0.1:9091/metrics/job/batch");
    /// ```
    pub fn builder(base_url: &str, job: &str) -> PushgatewayBuilder {
        PushgatewayBuilder {
            base_url: base_url.trim_end_matches('/').to_string(),
            job: job.to_string(),
            grouping: Vec::new(),
            method: PushMethod::Put,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The group's URL that pushes go to.
    ///
    /// ```
    /// use perf_instrument::export::pushgateway::Pushgateway;
    /// let gateway = Pushgateway::builder("http://gw:9091", "a/b").build().unwrap();
    /// assert_eq!(gateway.url(), "http://gw:9091/metrics/job@base64/YS9i");
    /// ```
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl PushTarget for Pushgateway {
    fn name(&self) -> &str {
        "pushgateway"
    }

    fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError> {
        let encoder = ProtobufEncoder;
        let mut body = Vec::with_capacity(4096);
        encoder.encode(batch.families, batch.const_labels, &mut body);
        self.http.send(
            self.method,
            &self.url,
            &[("Content-Type", encoder.content_type())],
            &body,
        )
    }
}

/// Sets up a [`Pushgateway`] target.
///
/// ```
/// use perf_instrument::export::pushgateway::{Pushgateway, PushMethod};
/// let gateway = Pushgateway::builder("http://127.0.0.1:9091", "job")
///     .method(PushMethod::Post)
///     .timeout(std::time::Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert!(gateway.url().ends_with("/metrics/job/job"));
/// ```
#[derive(Debug)]
#[must_use]
pub struct PushgatewayBuilder {
    base_url: String,
    job: String,
    grouping: Vec<(String, String)>,
    method: PushMethod,
    timeout: Duration,
}

impl PushgatewayBuilder {
    /// Adds a grouping label (after `job`, in the order given).
    ///
    /// ```
    /// use perf_instrument::export::pushgateway::Pushgateway;
    /// let gateway = Pushgateway::builder("http://gw", "j").grouping_label("empty", "").build().unwrap();
    /// assert_eq!(gateway.url(), "http://gw/metrics/job/j/empty@base64/=");
    /// ```
    pub fn grouping_label(mut self, name: &str, value: &str) -> Self {
        self.grouping.push((name.to_string(), value.to_string()));
        self
    }

    /// PUT (default: replace the group) or POST (replace the pushed families only).
    ///
    /// ```
    /// use perf_instrument::export::pushgateway::{Pushgateway, PushMethod};
    /// assert!(Pushgateway::builder("http://gw", "j").method(PushMethod::Post).build().is_ok());
    /// ```
    pub fn method(mut self, method: PushMethod) -> Self {
        self.method = method;
        self
    }

    /// Time one request may take, connect to last byte (default 10 s).
    ///
    /// ```
    /// use perf_instrument::export::pushgateway::Pushgateway;
    /// let b = Pushgateway::builder("http://gw", "j").timeout(std::time::Duration::from_millis(500));
    /// assert!(b.build().is_ok());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The target.
    ///
    /// # Errors
    ///
    /// [`PushError::Config`] for a URL that is not `http://…` (the client has no TLS), an
    /// empty job, or a grouping label name that is not a Prometheus label name.
    ///
    /// ```
    /// use perf_instrument::export::pushgateway::Pushgateway;
    /// assert!(Pushgateway::builder("http://gw", "").build().is_err());
    /// assert!(Pushgateway::builder("http://gw", "j").grouping_label("bad-name", "v").build().is_err());
    /// assert!(Pushgateway::builder("https://gw", "j").build().is_err());
    /// ```
    pub fn build(self) -> Result<Pushgateway, PushError> {
        if !self.base_url.starts_with("http://") {
            return Err(PushError::Config(format!(
                "Pushgateway URL {:?} must start with http:// (no TLS client is built in)",
                self.base_url
            )));
        }
        if self.job.is_empty() {
            return Err(PushError::Config(
                "the Pushgateway job must not be empty".to_string(),
            ));
        }
        let mut url = format!("{}/metrics", self.base_url);
        push_segment(&mut url, "job", &self.job);
        for (name, value) in &self.grouping {
            if !valid_label_name(name) || name == "job" {
                return Err(PushError::Config(format!(
                    "grouping label name {name:?} must match [a-zA-Z_][a-zA-Z0-9_]* and not be `job`"
                )));
            }
            push_segment(&mut url, name, value);
        }
        Ok(Pushgateway {
            http: Http::new(self.timeout),
            url,
            method: match self.method {
                PushMethod::Put => Method::Put,
                PushMethod::Post => Method::Post,
            },
        })
    }
}

/// Appends `/<name>/<value>`, or `/<name>@base64/<value in base64url>` when the value is
/// empty or has a character that is not unreserved in a URL path.
fn push_segment(url: &mut String, name: &str, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    url.push('/');
    url.push_str(name);
    if plain {
        url.push('/');
        url.push_str(value);
    } else {
        url.push_str("@base64/");
        if value.is_empty() {
            url.push('=');
        } else {
            url.push_str(&base64::engine::general_purpose::URL_SAFE.encode(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_unreserved_set_are_base64url() {
        let mut url = String::new();
        push_segment(&mut url, "path", "/var/tmp");
        assert_eq!(url, "/path@base64/L3Zhci90bXA=");
        let mut url = String::new();
        push_segment(&mut url, "q", "a b?c#");
        let encoded = url.strip_prefix("/q@base64/").unwrap();
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"a b?c#");
    }

    #[test]
    fn a_closed_port_is_a_retryable_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut gateway = Pushgateway::builder(&format!("http://127.0.0.1:{port}"), "j")
            .build()
            .unwrap();
        let now = std::time::SystemTime::now();
        let error = gateway
            .push(&PushBatch {
                families: &[],
                const_labels: &[],
                time: now,
                start_time: now,
            })
            .unwrap_err();
        assert!(matches!(error, PushError::Transport { .. }), "{error}");
        assert!(error.is_retryable());
    }
}
