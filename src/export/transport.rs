//! The push targets' blocking HTTP/1.1 client: `ureq` without its TLS stack or gzip, one
//! agent (and so one kept-alive connection pool) per target, a global timeout per request.

use super::pusher::PushError;
use std::time::Duration;

/// How much of a refusal's body goes into the error.
const BODY_EXCERPT: u64 = 512;

/// The default time one request may take, connect to last byte.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// PUT or POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    #[cfg_attr(not(feature = "push-gateway"), allow(dead_code))]
    Put,
    Post,
}

/// A blocking HTTP client.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    timeout: Duration,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Self {
        let timeout = if timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            timeout
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("perf-instrument/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            timeout,
        }
    }

    /// Sends `body` to `url`; `Ok` on a 2xx answer.
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), PushError> {
        let transport = |e: ureq::Error| PushError::Transport {
            url: url.to_string(),
            message: e.to_string(),
        };
        let result = match method {
            Method::Put => {
                let mut request = self.agent.put(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.send(body)
            }
            Method::Post => {
                let mut request = self.agent.post(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.send(body)
            }
        };
        let mut response = result.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_EXCERPT)
            .read_to_vec()
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
            .unwrap_or_default();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(PushError::Refused {
                url: url.to_string(),
                status,
                body: text,
            })
        }
    }
}

/// Milliseconds since the Unix epoch (0 before it).
#[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
pub(crate) fn unix_millis(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Nanoseconds since the Unix epoch (0 before it).
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn unix_nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*`.
#[cfg_attr(not(feature = "push-gateway"), allow(dead_code))]
pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
