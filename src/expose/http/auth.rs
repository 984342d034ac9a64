//! HTTP basic authentication.

use base64::Engine as _;
use hyper::header::HeaderValue;
use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
