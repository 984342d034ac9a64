//! A strict parser of both text formats, for tests: it refuses anything the formats do not
//! allow (unknown escapes, unterminated quotes, bad names, samples of undeclared families,
//! missing or misplaced `# EOF`, the same series twice), and returns what it read so tests can
//! compare it with what was recorded.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Prometheus,
    OpenMetrics,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub type Parsed = BTreeMap<String, Family>;

type Labels = Vec<(String, String)>;

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn unescape(s: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            other => return Err(format!("invalid escape \\{other:?} in {s:?}")),
        }
    }
    Ok(out)
}

/// Parses `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    if let Some(after) = rest.strip_prefix('}') {
        return Ok((labels, after));
    }
    loop {
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_name(name) || name.contains(':') {
            return Err(format!("invalid label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let bytes = rest.as_bytes();
        let mut i = 0;
        let end = loop {
            match bytes.get(i) {
                None => return Err("unterminated label value".into()),
                Some(b'\\') => i += 2,
                Some(b'"') => break i,
                Some(_) => i += 1,
            }
        };
        let value = unescape(&rest[..end], true)?;
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name:?}"));
        }
        labels.push((name.to_string(), value));
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        rest = rest.strip_prefix(',').ok_or("expected , or }")?;
    }
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
            s.parse().map_err(|e| format!("bad value {s:?}: {e}"))
        }
        _ => Err(format!("bad value {s:?}")),
    }
}

/// The family a sample name belongs to, given the declared families.
fn family_of<'a>(parsed: &'a Parsed, sample: &str, dialect: Dialect) -> Option<&'a str> {
    if let Some((k, f)) = parsed.get_key_value(sample) {
        let ok = match f.kind.as_str() {
            "gauge" | "untyped" | "unknown" => true,
            "counter" => dialect == Dialect::Prometheus,
            _ => false,
        };
        return ok.then_some(k.as_str());
    }
    for suffix in ["_total", "_created", "_bucket", "_count", "_sum"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if let Some((k, f)) = parsed.get_key_value(base) {
                let ok = match (f.kind.as_str(), suffix) {
                    ("counter", "_total") => dialect == Dialect::OpenMetrics,
                    ("counter", "_created") | ("histogram", "_created") => {
                        dialect == Dialect::OpenMetrics
                    }
                    ("histogram", "_bucket" | "_count" | "_sum") => true,
                    _ => false,
                };
                if ok {
                    return Some(k.as_str());
                }
            }
        }
    }
    None
}

pub fn parse(text: &str, dialect: Dialect) -> Result<Parsed, String> {
    let mut parsed = Parsed::new();
    let mut eof = false;
    let mut current: Option<String> = None;
    // Every (sample name, label set) seen: Prometheus refuses a series exposed twice.
    let mut series: HashSet<(String, Labels)> = HashSet::new();
    for (n, line) in text.split('\n').enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if eof {
            if line.is_empty() && n + 1 == text.split('\n').count() {
                continue;
            }
            return Err(at("content after # EOF".into()));
        }
        if line.is_empty() {
            if n + 1 == text.split('\n').count() {
                continue;
            }
            if dialect == Dialect::OpenMetrics {
                return Err(at("empty line".into()));
            }
            continue;
        }
        if line == "# EOF" {
            if dialect == Dialect::Prometheus {
                return Err(at("# EOF in 0.0.4 text".into()));
            }
            eof = true;
            continue;
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let (keyword, rest) = meta
                .split_once(' ')
                .ok_or_else(|| at("bad comment".into()))?;
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            if !valid_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            let family = parsed.entry(name.to_string()).or_insert_with(|| Family {
                name: name.to_string(),
                ..Family::default()
            });
            if current.as_deref() != Some(name) && !family.samples.is_empty() {
                return Err(at("metadata after the family's samples".into()));
            }
            current = Some(name.to_string());
            match keyword {
                "TYPE" => {
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "untyped",
                        "unknown",
                    ]
                    .contains(&arg)
                    {
                        return Err(at(format!("bad type {arg:?}")));
                    }
                    if !family.kind.is_empty() {
                        return Err(at("second TYPE".into()));
                    }
                    family.kind = arg.to_string();
                }
                "HELP" => {
                    if family.help.is_some() {
                        return Err(at("second HELP".into()));
                    }
                    let quotes = dialect == Dialect::OpenMetrics;
                    family.help = Some(unescape(arg, quotes).map_err(at)?);
                }
                "UNIT" if dialect == Dialect::OpenMetrics => {
                    if !name.ends_with(&format!("_{arg}")) {
                        return Err(at("name does not end with the unit".into()));
                    }
                    family.unit = Some(arg.to_string());
                }
                _ => return Err(at(format!("unknown keyword {keyword:?}"))),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("bad comment".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before value".into()))?;
        if value.contains(' ') {
            return Err(at("timestamps are not expected".into()));
        }
        let value = parse_value(value).map_err(at)?;
        let family = family_of(&parsed, name, dialect)
            .ok_or_else(|| at(format!("sample {name:?} of no declared family")))?
            .to_string();
        if current.as_deref() != Some(family.as_str()) {
            return Err(at("family's samples are not contiguous".into()));
        }
        let mut label_set = labels.clone();
        label_set.sort();
        if !series.insert((name.to_string(), label_set)) {
            return Err(at("duplicate series (same name and label set twice)".into()));
        }
        parsed.get_mut(&family).unwrap().samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    if dialect == Dialect::OpenMetrics && !eof {
        return Err("missing # EOF".into());
    }
    for family in parsed.values() {
        if family.kind.is_empty() {
            return Err(format!("family {} has no TYPE", family.name));
        }
        if family.kind == "histogram" {
            check_histogram(family)?;
        }
    }
    Ok(parsed)
}

/// Buckets cumulative and ordered, `+Inf` last and equal to `_count`, per label set.
fn check_histogram(family: &Family) -> Result<(), String> {
    // Per label set (without `le`): the (le, count) buckets in order, and `_count`.
    type Buckets = Vec<(f64, f64)>;
    let mut groups: BTreeMap<Labels, (Buckets, Option<f64>)> = BTreeMap::new();
    for s in &family.samples {
        let key: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        let entry = groups.entry(key).or_default();
        if s.name.ends_with("_bucket") {
            let le = s.label("le").ok_or("bucket without le")?;
            entry.0.push((parse_value(le)?, s.value));
        } else if s.name.ends_with("_count") {
            entry.1 = Some(s.value);
        }
    }
    for (labels, (buckets, count)) in groups {
        let (last_le, last_n) = *buckets.last().ok_or("histogram without buckets")?;
        if last_le != f64::INFINITY {
            return Err(format!(
                "{}{labels:?}: last bucket is not +Inf",
                family.name
            ));
        }
        if Some(last_n) != count {
            return Err(format!(
                "{}{labels:?}: _count {count:?} != +Inf {last_n}",
                family.name
            ));
        }
        for pair in buckets.windows(2) {
            if pair[1].0 <= pair[0].0 || pair[1].1 < pair[0].1 {
                return Err(format!(
                    "{}{labels:?}: buckets not cumulative/ordered",
                    family.name
                ));
            }
        }
    }
    Ok(())
}
