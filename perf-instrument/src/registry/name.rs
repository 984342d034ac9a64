//! Validation of metric and label names (Prometheus data model rules, checked at registration).

use super::RegistryError;

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
}
