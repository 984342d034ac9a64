//! Content negotiation: which format a scraper's `Accept` header asks for.

/// An exposition format.
///
/// ```
/// use perf_instrument::Format;
/// assert_eq!(Format::from_accept(None), Format::PrometheusText);
/// assert_eq!(
///     Format::from_accept(Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
///     Format::OpenMetrics
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus protobuf (`io.prometheus.client.MetricFamily`, length-delimited), with
    /// histograms as native histograms (feature `protobuf`).
    #[cfg(feature = "protobuf")]
    Protobuf,
}

impl Format {
    /// The exact `Content-Type` of the format.
    ///
    /// ```
    /// assert_eq!(
    ///     perf_instrument::Format::OpenMetrics.content_type(),
    ///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
    /// );
    /// ```
    #[must_use]
    pub fn content_type(self) -> &'static str {
        self.encoder().content_type()
    }

    /// The format an `Accept` header asks for: the acceptable media range with the highest
    /// `q`, OpenMetrics winning ties (then protobuf, with feature `protobuf`); Prometheus text
    /// 0.0.4 for `*/*`, `text/plain`, a missing or malformed header, or anything else (see
    /// [`negotiate`](Format::negotiate) to tell "anything else" apart).
    ///
    /// ```
    /// use perf_instrument::Format;
    /// // A browser.
    /// let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    /// assert_eq!(Format::from_accept(Some(browser)), Format::PrometheusText);
    /// assert_eq!(Format::from_accept(Some(";;;garbage")), Format::PrometheusText);
    /// ```
    #[must_use]
    pub fn from_accept(accept: Option<&str>) -> Format {
        Self::negotiate(accept).unwrap_or(Format::PrometheusText)
    }

    /// Like [`from_accept`](Format::from_accept), but `None` when the header is well formed and
    /// allows no format served here (`application/json`, `text/html`, only `q=0` ranges): the
    /// case for `406 Not Acceptable` (RFC 9110, section 15.5.7). A missing or empty header, or
    /// one with no well-formed media range at all, is disregarded as RFC 9110 allows, and gets
    /// Prometheus text. `text/*` and `*/*` select Prometheus text, `application/*` OpenMetrics.
    ///
    /// ```
    /// use perf_instrument::Format;
    /// assert_eq!(Format::negotiate(Some("application/json")), None);
    /// assert_eq!(Format::negotiate(Some("text/plain;q=0")), None);
    /// assert_eq!(Format::negotiate(Some("application/json, */*;q=0.1")), Some(Format::PrometheusText));
    /// assert_eq!(Format::negotiate(Some("application/*")), Some(Format::OpenMetrics));
    /// assert_eq!(Format::negotiate(Some(";;;garbage")), Some(Format::PrometheusText));
    /// assert_eq!(Format::negotiate(None), Some(Format::PrometheusText));
    /// ```
    #[must_use]
    pub fn negotiate(accept: Option<&str>) -> Option<Format> {
        let Some(accept) = accept else {
            return Some(Format::PrometheusText);
        };
        let mut best: Option<(f32, Format)> = None;
        let mut well_formed = false;
        for range in accept.split(',') {
            let (format, q) = match parse_range(range) {
                Range::Malformed => continue,
                Range::Other => {
                    well_formed = true;
                    continue;
                }
                Range::Served(format, q) => (format, q),
            };
            well_formed = true;
            if q <= 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((best_q, best_format)) => {
                    q > best_q || (q == best_q && preference(format) > preference(best_format))
                }
            };
            if better {
                best = Some((q, format));
            }
        }
        match best {
            Some((_, format)) => Some(format),
            None if well_formed => None,
            None => Some(Format::PrometheusText),
        }
    }
}

/// Tie-break between formats offered with the same quality.
fn preference(format: Format) -> u8 {
    match format {
        Format::PrometheusText => 0,
        #[cfg(feature = "protobuf")]
        Format::Protobuf => 1,
        Format::OpenMetrics => 2,
    }
}

/// One media range of an `Accept` header.
enum Range {
    /// Not a media range (no `type/subtype`, or a `q` that is not a number in 0..=1).
    Malformed,
    /// A media range that selects nothing served here.
    Other,
    /// A format served here, with its quality.
    Served(Format, f32),
}

/// Parses one media range into the format it selects and its quality.
fn parse_range(range: &str) -> Range {
    let mut parts = range.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let well_formed = media
        .split_once('/')
        .is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty() && !sub.contains('/'));
    if !well_formed {
        return Range::Malformed;
    }
    let mut q = 1.0f32;
    let mut version: Option<String> = None;
    // `proto=` and `encoding=` of the protobuf media type.
    let mut message_type: (Option<String>, Option<String>) = (None, None);
    for param in parts {
        // An empty parameter (a trailing or doubled `;`) or one without a value says nothing:
        // skip it rather than discard the whole media range.
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "q" => match value.parse().ok().filter(|q: &f32| (0.0..=1.0).contains(q)) {
                Some(value) => q = value,
                None => return Range::Malformed,
            },
            "version" => version = Some(value.to_string()),
            "proto" => message_type.0 = Some(value.to_string()),
            "encoding" => message_type.1 = Some(value.to_string()),
            _ => {}
        }
    }
    let format = match media.as_str() {
        "application/openmetrics-text" => match version.as_deref() {
            None | Some("1.0.0") | Some("0.0.1") => Format::OpenMetrics,
            Some(_) => return Range::Other,
        },
        "text/plain" => match version.as_deref() {
            None | Some("0.0.4") => Format::PrometheusText,
            Some(_) => return Range::Other,
        },
        "*/*" | "text/*" => Format::PrometheusText,
        "application/*" => Format::OpenMetrics,
        #[cfg(feature = "protobuf")]
        "application/vnd.google.protobuf"
            if message_type.0.as_deref() == Some("io.prometheus.client.MetricFamily")
                && message_type.1.as_deref() == Some("delimited") =>
        {
            Format::Protobuf
        }
        _ => return Range::Other,
    };
    Range::Served(format, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_headers_pick_openmetrics() {
        for accept in [
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "application/openmetrics-text",
        ] {
            assert_eq!(Format::from_accept(Some(accept)), Format::OpenMetrics, "{accept}");
        }
    }

    #[test]
    fn empty_and_bare_parameters_are_skipped() {
        for accept in [
            "application/openmetrics-text;version=1.0.0;",
            "application/openmetrics-text;",
            "application/openmetrics-text; ;version=1.0.0",
            "application/openmetrics-text;;q=0.9,text/plain;q=0.5",
            "application/openmetrics-text;charset;version=1.0.0",
            "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;",
        ] {
            assert_eq!(
                Format::from_accept(Some(accept)),
                Format::OpenMetrics,
                "{accept}"
            );
        }
        // A parameter with a bad value still makes the range unusable.
        assert_eq!(
            Format::from_accept(Some("application/openmetrics-text;q=;")),
            Format::PrometheusText
        );
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn a_native_histogram_scraper_gets_protobuf() {
        let prometheus = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::Protobuf);
        let wrong_proto = "application/vnd.google.protobuf;proto=other.Message;encoding=delimited";
        assert_eq!(
            Format::from_accept(Some(wrong_proto)),
            Format::PrometheusText
        );
    }

    #[test]
    fn a_well_formed_header_that_allows_nothing_served_is_not_acceptable() {
        for accept in [
            "application/json",
            "text/html, application/xhtml+xml",
            "text/plain;q=0, application/openmetrics-text;q=0",
            "*/*;q=0",
            "application/openmetrics-text;version=9.9.9",
            "text/plain;version=0.0.5",
            "garbage, image/png",
        ] {
            assert_eq!(Format::negotiate(Some(accept)), None, "{accept:?}");
        }
        for accept in [
            "",
            " ",
            ",,",
            "garbage;;q=",
            "a/",
            "/b",
            "text/plain;q=banana",
        ] {
            assert_eq!(
                Format::negotiate(Some(accept)),
                Some(Format::PrometheusText),
                "{accept:?}"
            );
        }
    }

    #[test]
    fn everything_else_gets_text() {
        for accept in [
            "",
            "*/*",
            "text/plain",
            "text/plain;version=0.0.4",
            "text/html",
            "application/json",
            "application/openmetrics-text;version=9.9.9",
            "application/openmetrics-text;q=0",
            "application/openmetrics-text;q=banana",
            "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5",
        ] {
            assert_eq!(
                Format::from_accept(Some(accept)),
                Format::PrometheusText,
                "{accept:?}"
            );
        }
    }
}
