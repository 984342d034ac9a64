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
    /// 0.0.4 for `*/*`, `text/plain`, a missing or malformed header, or anything else.
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
        let Some(accept) = accept else {
            return Format::PrometheusText;
        };
        let mut best: Option<(f32, Format)> = None;
        for range in accept.split(',') {
            let Some((format, q)) = parse_range(range) else {
                continue;
            };
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
        best.map_or(Format::PrometheusText, |(_, f)| f)
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

/// Parses one media range into the format it selects and its quality; `None` when it selects
/// nothing we serve or is malformed.
fn parse_range(range: &str) -> Option<(Format, f32)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
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
            "q" => {
                q = value
                    .parse()
                    .ok()
                    .filter(|q: &f32| (0.0..=1.0).contains(q))?;
            }
            "version" => version = Some(value.to_string()),
            "proto" => message_type.0 = Some(value.to_string()),
            "encoding" => message_type.1 = Some(value.to_string()),
            _ => {}
        }
    }
    let format = match media.as_str() {
        "application/openmetrics-text" => match version.as_deref() {
            None | Some("1.0.0") | Some("0.0.1") => Format::OpenMetrics,
            Some(_) => return None,
        },
        "text/plain" => match version.as_deref() {
            None | Some("0.0.4") => Format::PrometheusText,
            Some(_) => return None,
        },
        "*/*" | "text/*" => Format::PrometheusText,
        #[cfg(feature = "protobuf")]
        "application/vnd.google.protobuf"
            if message_type.0.as_deref() == Some("io.prometheus.client.MetricFamily")
                && message_type.1.as_deref() == Some("delimited") =>
        {
            Format::Protobuf
        }
        _ => return None,
    };
    Some((format, q))
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
