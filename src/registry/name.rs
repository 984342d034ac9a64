//! Validation of metric and label names (Prometheus data model rules, checked at registration).

use super::{MetricKind, RegistryError};

/// Label names no family may use: `le` (histogram buckets) and `quantile` (summaries).
const RESERVED_LABELS: [&str; 2] = ["le", "quantile"];

/// Checks a metric family name: `[a-zA-Z_][a-zA-Z0-9_]*`, no `__` prefix (reserved for
/// Prometheus internals). Colons are refused: they are reserved for recording rules.
pub(crate) fn check_metric_name(name: &str) -> Result<(), RegistryError> {
    let invalid = |reason: &'static str| RegistryError::InvalidMetricName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.starts_with("__") {
        return Err(invalid("names starting with `__` are reserved"));
    }
    if !is_identifier(name) {
        return Err(invalid(
            "use ASCII letters, digits and `_` only, not starting with a digit",
        ));
    }
    Ok(())
}

/// Checks that a family name does not end with a suffix that exposition gives other samples:
/// `_total` (counters' samples) on a gauge or histogram, `_bucket`, `_count` and `_sum`
/// (histograms' samples) on a gauge, and `_created` on either. These are the names
/// `promtool check metrics` flags and OpenMetrics asks exposers to avoid. Counters are exempt:
/// their samples are exported as `<name>_total`, so `requests_count` or `orders_created` is
/// exported as `requests_count_total` or `orders_created_total`, which no other type's sample
/// can be (clashes between families are refused separately). `name` is the family name as
/// stored (for a counter, without its `_total`).
pub(crate) fn check_reserved_suffix(name: &str, kind: MetricKind) -> Result<(), RegistryError> {
    let reserved: &[&'static str] = match kind {
        MetricKind::Counter => &[],
        MetricKind::Gauge => &["_total", "_bucket", "_count", "_sum", "_created"],
        MetricKind::Histogram => &["_total", "_created"],
    };
    match reserved.iter().find(|suffix| name.ends_with(**suffix)) {
        Some(&suffix) => Err(RegistryError::ReservedSuffix {
            name: name.to_string(),
            kind: kind.name(),
            suffix,
        }),
        None => Ok(()),
    }
}

/// Checks that none of a family's label names is also a constant label of the registry (the
/// series would carry the label twice, which Prometheus refuses).
pub(crate) fn check_against_const_labels<'a>(
    metric: &str,
    labels: impl IntoIterator<Item = &'a str>,
    const_labels: &[(String, String)],
) -> Result<(), RegistryError> {
    for label in labels {
        if const_labels.iter().any(|(name, _)| name == label) {
            return Err(RegistryError::InvalidLabelName {
                metric: metric.to_string(),
                label: label.to_string(),
                reason: "it is also a constant label of the registry; rename one of them",
            });
        }
    }
    Ok(())
}

/// Checks one label name: `[a-zA-Z_][a-zA-Z0-9_]*`, no `__` prefix, not `le` or `quantile`.
pub(crate) fn check_label_name(metric: &str, label: &str) -> Result<(), RegistryError> {
    let invalid = |reason: &'static str| RegistryError::InvalidLabelName {
        metric: metric.to_string(),
        label: label.to_string(),
        reason,
    };
    if label.is_empty() {
        return Err(invalid("it is empty"));
    }
    if label.starts_with("__") {
        return Err(invalid("label names starting with `__` are reserved"));
    }
    if RESERVED_LABELS.contains(&label) {
        return Err(invalid(
            "`le` and `quantile` are reserved for buckets and quantiles",
        ));
    }
    if !is_identifier(label) {
        return Err(invalid(
            "use ASCII letters, digits and `_` only, not starting with a digit",
        ));
    }
    Ok(())
}

/// Checks a list of label names, including against duplicates among themselves and `others`
/// (the registry's constant labels).
pub(crate) fn check_label_names<'a>(
    metric: &str,
    labels: impl IntoIterator<Item = &'a str>,
    others: &[&str],
) -> Result<(), RegistryError> {
    let mut seen: Vec<&str> = others.to_vec();
    for label in labels {
        check_label_name(metric, label)?;
        if seen.contains(&label) {
            return Err(RegistryError::InvalidLabelName {
                metric: metric.to_string(),
                label: label.to_string(),
                reason: "it appears twice (or is also a constant label of the registry)",
            });
        }
        seen.push(label);
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_prometheus_rules() {
        for ok in ["a", "_x", "http_requests", "x9", "A_b_C"] {
            assert!(check_metric_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9x", "a-b", "a b", "__x", "a:b", "é", "a.b", "a\n"] {
            assert!(check_metric_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_names_refuse_reserved_and_duplicates() {
        assert!(check_label_names("m", ["method", "code"], &[]).is_ok());
        for bad in ["le", "quantile", "__name__", "", "1a", "a-b"] {
            assert!(check_label_names("m", [bad], &[]).is_err(), "{bad:?}");
        }
        assert!(check_label_names("m", ["a", "a"], &[]).is_err());
        assert!(check_label_names("m", ["service"], &["service"]).is_err());
    }

    #[test]
    fn suffixes_of_other_types_samples_are_refused() {
        use MetricKind::{Counter, Gauge, Histogram};
        for (name, kind) in [
            ("queue_total", Gauge),
            ("latency_total", Histogram),
            ("rpc_count", Gauge),
            ("rpc_sum", Gauge),
            ("rpc_bucket", Gauge),
            ("jobs_created", Gauge),
            ("jobs_created", Histogram),
        ] {
            let err = check_reserved_suffix(name, kind).unwrap_err();
            assert!(
                matches!(err, RegistryError::ReservedSuffix { .. }),
                "{name} {kind:?}"
            );
            assert!(err.to_string().contains(name), "{err}");
        }
        for (name, kind) in [
            ("jobs", Counter),
            ("requests_count", Counter),
            ("orders_created", Counter),
            ("depth", Gauge),
            ("rpc_count", Histogram),
            ("batch_sum", Histogram),
            ("totals", Gauge),
            ("created_at", Gauge),
        ] {
            assert!(check_reserved_suffix(name, kind).is_ok(), "{name} {kind:?}");
        }
    }

    #[test]
    fn family_labels_must_differ_from_constant_labels() {
        let consts = [("family".to_string(), "x".to_string())];
        assert!(check_against_const_labels("m", ["queue"], &consts).is_ok());
        assert!(check_against_const_labels("m", ["queue", "family"], &consts).is_err());
    }
}
