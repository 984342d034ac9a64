//! The machine and configuration a report was made on.

use crate::clock::Clock;
use serde::{Deserialize, Serialize};

/// What the numbers were measured on: cores, CPU model, clock source, OS, the build profile,
/// and the crate's configuration (lanes).
///
/// ```
/// let m = perf_instrument::Machine::current();
/// assert!(m.cores >= 1 && m.lanes >= 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical cores available to the process.
    pub cores: usize,
    /// CPU model, from `/proc/cpuinfo` on Linux (`unknown` elsewhere).
    pub cpu_model: String,
    /// `tsc`, `monotonic` or `manual`: the process clock's source.
    pub clock_source: String,
    /// Operating system and architecture.
    pub os: String,
    /// Single-writer lanes of the recorders.
    pub lanes: usize,
    /// `release` or `debug` (whether debug assertions were on): a debug build's figures say
    /// little about production.
    pub profile: String,
    /// Version of this crate.
    pub version: String,
}

impl Machine {
    /// The machine this runs on.
    ///
    /// ```
    /// println!("{:?}", perf_instrument::Machine::current());
    /// ```
    #[must_use]
    pub fn current() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            clock_source: Clock::global().source().name().to_string(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            lanes: crate::recorder::lanes::count(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}
