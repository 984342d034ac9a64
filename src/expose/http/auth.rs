//! HTTP basic authentication.

use crate::sync::{lock, Mutex};
use base64::Engine as _;
use hyper::header::HeaderValue;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Credentials for HTTP basic authentication.
///
/// ```
/// let auth = perf_instrument::BasicAuth::new("prometheus", "s3cret");
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    /// `base64(user:password)`, what follows the scheme.
    credentials: Vec<u8>,
}

impl BasicAuth {
    /// Requests must carry `Authorization: Basic base64(user:password)`; the scheme name is
    /// matched without regard to case (`basic`, `BASIC`), as RFC 7617 requires.
    ///
    /// ```
    /// let _ = perf_instrument::BasicAuth::new("user", "pass");
    /// ```
    #[must_use]
    pub fn new(user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self {
            credentials: token.into_bytes(),
        }
    }

    pub(super) fn allows(&self, header: Option<&HeaderValue>) -> bool {
        let given = header.map_or(&[][..], HeaderValue::as_bytes);
        // `credentials = auth-scheme 1*SP token68`; the scheme is case-insensitive.
        let Some(space) = given.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, rest) = given.split_at(space);
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        let credentials = &rest[start..];
        // Compare the credentials in time independent of where the first difference is.
        scheme.eq_ignore_ascii_case(b"Basic")
            && credentials.len() == self.credentials.len()
            && credentials
                .iter()
                .zip(&self.credentials)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth(..)")
    }
}

/// Clients whose failures are remembered at once; beyond, expired windows are forgotten first,
/// then the oldest window.
pub(super) const MAX_TRACKED_CLIENTS: usize = 4096;

/// Failed basic-auth attempts per client: after `max` failures within `window` of the first,
/// the client's requests are refused with `429` until the window ends.
pub(super) struct FailureBudget {
    max: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The key a client's failures are counted under: its IPv4 address, or the /64 network of an
/// IPv6 one (a host usually holds a whole /64, and could otherwise pick a fresh address per guess).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl FailureBudget {
    pub(super) fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while `ip` has spent its budget; a budget of 0 failures is no budget.
    pub(super) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let clients = lock(&self.clients);
        match clients.get(&client_key(ip)) {
            Some(w) if w.failures >= self.max => {
                let left = self
                    .window
                    .saturating_sub(now.saturating_duration_since(w.started));
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(left)
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt by `ip`.
    pub(super) fn fail(&self, ip: IpAddr, now: Instant) {
        if self.max == 0 {
            return;
        }
        let key = client_key(ip);
        let mut clients = lock(&self.clients);
        if !clients.contains_key(&key) && clients.len() >= MAX_TRACKED_CLIENTS {
            let window = self.window;
            clients.retain(|_, w| now.saturating_duration_since(w.started) < window);
            if clients.len() >= MAX_TRACKED_CLIENTS {
                if let Some(oldest) = clients
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(k, _)| *k)
                {
                    clients.remove(&oldest);
                }
            }
        }
        let entry = clients.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(entry.started) >= self.window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_failure_budget_waits_out_the_window() {
        let budget = FailureBudget::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let guesser: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..3 {
            assert_eq!(budget.check(guesser, t0), Ok(()), "attempt {i}");
            budget.fail(guesser, t0);
        }
        let wait = budget
            .check(guesser, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Others are not affected; the window's end restores the budget.
        assert_eq!(budget.check(other, t0), Ok(()));
        assert_eq!(budget.check(guesser, t0 + Duration::from_secs(60)), Ok(()));
        budget.fail(guesser, t0 + Duration::from_secs(60));
        assert_eq!(budget.check(guesser, t0 + Duration::from_secs(61)), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let budget = FailureBudget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        budget.fail("2001:db8::1".parse().unwrap(), t0);
        budget.fail("2001:db8::ffff:2".parse().unwrap(), t0);
        assert!(budget.check("2001:db8::3".parse().unwrap(), t0).is_err());
        assert!(budget.check("2001:db8:0:1::3".parse().unwrap(), t0).is_ok());
        // An IPv4-mapped address counts as the IPv4 one.
        budget.fail("::ffff:10.0.0.9".parse().unwrap(), t0);
        budget.fail("10.0.0.9".parse().unwrap(), t0);
        assert!(budget.check("10.0.0.9".parse().unwrap(), t0).is_err());
    }

    #[test]
    fn the_table_of_clients_is_bounded() {
        let budget = FailureBudget::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_CLIENTS as u32 + 100) {
            budget.fail(
                IpAddr::V4(i.into()),
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(lock(&budget.clients).len() <= MAX_TRACKED_CLIENTS);
        // The latest guesser is remembered.
        let last = IpAddr::V4((MAX_TRACKED_CLIENTS as u32 + 99).into());
        assert!(budget.check(last, t0 + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn a_zero_budget_never_throttles() {
        let budget = FailureBudget::new(0, Duration::from_secs(60));
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..100 {
            budget.fail(ip, t0);
        }
        assert_eq!(budget.check(ip, t0), Ok(()));
    }

    #[test]
    fn basic_auth_compares_the_whole_header() {
        let auth = BasicAuth::new("user", "pass");
        let good = HeaderValue::from_static("Basic dXNlcjpwYXNz");
        assert!(auth.allows(Some(&good)));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Basic dXNlcjpwYXNy"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Basic dXNlcjpwYXN"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some(&HeaderValue::from_static("dXNlcjpwYXNz"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Bearer dXNlcjpwYXNz"))));
    }

    #[test]
    fn basic_auth_scheme_is_case_insensitive() {
        let auth = BasicAuth::new("user", "pass");
        for header in [
            "basic dXNlcjpwYXNz",
            "BASIC dXNlcjpwYXNz",
            "bAsIc dXNlcjpwYXNz",
            "Basic  dXNlcjpwYXNz",
        ] {
            assert!(
                auth.allows(Some(&HeaderValue::from_static(header))),
                "{header}"
            );
        }
        // The credentials themselves are case-sensitive (base64).
        assert!(!auth.allows(Some(&HeaderValue::from_static("basic DXNLCJPWYXNZ"))));
    }
}
