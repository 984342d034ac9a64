//! The examples' command line: `--flag value` pairs from a declared list, durations in human
//! form (`40s`, `2m`, `1h30m`, `250ms`; a bare number is seconds), and a one-line error plus
//! the usage line (exit status 2) for anything else. `--help` prints the usage.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

/// The parsed `--flag value` pairs.
#[derive(Debug)]
pub struct Args {
    usage: String,
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Parses the process's arguments against `flags` (`("--duration", "20s")`: the flag and
    /// its value's placeholder, for the usage line).
    pub fn parse(program: &str, flags: &[(&str, &str)]) -> Self {
        Self::parse_from(program, flags, std::env::args().skip(1)).unwrap_or_else(|(code, msg)| {
            if code == 0 {
                println!("{msg}");
            } else {
                eprintln!("{msg}");
            }
            std::process::exit(code)
        })
    }

    /// As [`parse`](Self::parse), from given arguments; `Err((exit status, message))`.
    pub fn parse_from(
        program: &str,
        flags: &[(&str, &str)],
        args: impl IntoIterator<Item = String>,
    ) -> Result<Self, (i32, String)> {
        let usage = format!(
            "usage: {program} {}",
            flags
                .iter()
                .map(|(flag, value)| format!("[{flag} {value}]"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut pairs = Vec::new();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err((0, usage));
            }
            if !flags.iter().any(|(known, _)| *known == flag) {
                return Err((2, format!("error: unknown argument '{flag}'\n{usage}")));
            }
            let Some(value) = args.next() else {
                return Err((2, format!("error: {flag} needs a value\n{usage}")));
            };
            pairs.push((flag, value));
        }
        Ok(Self { usage, pairs })
    }

    /// The last value given for `flag`.
    pub fn string(&self, flag: &str) -> Option<String> {
        self.pairs
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.clone())
    }

    /// `flag` as a number (or any `FromStr`), `default` when absent; exits on a bad value.
    pub fn value<T: FromStr>(&self, flag: &str, default: T) -> T {
        match self.string(flag) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.fail(&format!(
                    "{flag}: '{v}' is not a valid {}",
                    short_type::<T>()
                ))
            }),
        }
    }

    /// `flag` as a duration (`40s`, `2m`, `1h30m`, `250ms`, or a bare number of seconds),
    /// `default` when absent; exits on a bad value.
    pub fn duration(&self, flag: &str, default: Duration) -> Duration {
        match self.string(flag) {
            None => default,
            Some(v) => parse_duration(&v).unwrap_or_else(|| {
                self.fail(&format!(
                    "{flag}: '{v}' is not a duration (try 40s, 2m, 1h30m or 250ms)"
                ))
            }),
        }
    }

    /// Prints `message` and the usage line, exits with status 2.
    pub fn fail(&self, message: &str) -> ! {
        eprintln!("error: {message}\n{}", self.usage);
        std::process::exit(2)
    }
}

/// `40s`, `2m`, `1h30m`, `250ms`, `1.5s` (humantime's forms) or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    if let Some(seconds) = text.strip_suffix('s').and_then(|s| s.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    humantime::parse_duration(text).ok()
}

fn short_type<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    match name {
        "f64" | "f32" => "number",
        "u64" | "u32" | "usize" | "i64" | "i32" => "whole number",
        _ => name.rsplit("::").next().unwrap_or(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_human_form() {
        assert_eq!(parse_duration("40s"), Some(Duration::from_secs(40)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("20"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("40x"), None);
        assert_eq!(parse_duration("-3s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn unknown_flags_and_missing_values_are_usage_errors() {
        let flags = [("--duration", "20s")];
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = Args::parse_from("x", &flags, args(&["--durration", "2"])).unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("unknown argument '--durration'") && err.1.contains("usage: x"));
        let err = Args::parse_from("x", &flags, args(&["--duration"])).unwrap_err();
        assert!(err.1.contains("--duration needs a value"));
        assert_eq!(
            Args::parse_from("x", &flags, args(&["--help"]))
                .unwrap_err()
                .0,
            0
        );
        let ok = Args::parse_from("x", &flags, args(&["--duration", "2m"])).unwrap();
        assert_eq!(
            ok.duration("--duration", Duration::ZERO),
            Duration::from_secs(120)
        );
    }
}
