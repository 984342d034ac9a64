//! The lock watchdog: a thread that scans the locks with a threshold and reports holds that
//! outlast it while they last.

use super::core::Core;
use crate::registry::background::{Background, BackgroundThread};
use crate::registry::{Registry, RegistryError};
use crate::sync::{lazy_global, lock, Mutex, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

lazy_global! {
    static WATCHED: Mutex<Vec<Weak<Core>>> = Mutex::new(Vec::new());
}

/// Adds a lock with a threshold to what the watchdog scans.
pub(crate) fn watch(core: &Arc<Core>) {
    let mut watched = lock(&WATCHED);
    watched.retain(|w| w.strong_count() > 0);
    watched.push(Arc::downgrade(core));
}

/// Scans every lock built with [`MutexBuilder::watchdog`](crate::lock::MutexBuilder::watchdog) (or another lock builder's): a hold
/// past the lock's threshold is logged once, while it lasts, as a `tracing` warning naming the
/// lock, the holder's call site and the duration, and counted in `lock_held_too_long_total`.
/// (`lock_current_longest_hold_seconds` needs no watchdog: it is computed at scrape.)
///
/// ```
/// use perf_instrument::lock::{LockWatchdog, Mutex};
/// use perf_instrument::{Clock, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let node = Mutex::builder("node").watchdog(Duration::from_secs(1)).clock(clock)
///     .build((), &registry).unwrap();
/// let held = node.lock();
/// hand.advance(Duration::from_secs(3));
/// let stalls = LockWatchdog::scan();
/// assert_eq!(stalls.len(), 1);
/// assert_eq!(stalls[0].lock, "node");
/// drop(held);
/// ```
#[derive(Debug)]
pub struct LockWatchdog;

/// A hold the watchdog reported.
///
/// ```
/// # use perf_instrument::lock::LockWatchdog;
/// for stall in LockWatchdog::scan() {
///     println!("{} held for {:?} at {}", stall.lock, stall.held_for, stall.site);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockStall {
    /// The lock's name.
    pub lock: String,
    /// The holder's call site, `file:line`.
    pub site: String,
    /// How long it has been held.
    pub held_for: Duration,
}

impl LockWatchdog {
    /// Scans every `period` on its own thread until the handle drops.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the background-thread families clash in `registry`;
    /// [`RegistryError::ZeroSetting`] for a zero period.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let watchdog = perf_instrument::lock::LockWatchdog::start(&registry, std::time::Duration::from_millis(100)).unwrap();
    /// assert!(watchdog.is_running());
    /// ```
    pub fn start(registry: &Registry, period: Duration) -> Result<BackgroundThread, RegistryError> {
        let background = Background::new(registry)?;
        background.spawn("lock-watchdog".to_string(), period, || {
            Self::scan();
            true
        })
    }

    /// Scans once now: reports (and returns) each hold past its lock's threshold that was not
    /// reported before.
    ///
    /// ```
    /// assert!(perf_instrument::lock::LockWatchdog::scan().is_empty());
    /// ```
    pub fn scan() -> Vec<LockStall> {
        let cores: Vec<Arc<Core>> = lock(&WATCHED).iter().filter_map(Weak::upgrade).collect();
        let mut stalls = Vec::new();
        for core in cores {
            let (Some(threshold), Some((episode, held_for, site))) =
                (core.watchdog_nanos, core.current_hold())
            else {
                continue;
            };
            if held_for.as_nanos() <= u128::from(threshold)
                || core.reported.swap(episode, Ordering::AcqRel) == episode
            {
                continue;
            }
            let site = core.sites.label(site);
            core.held_too_long(&site);
            tracing::warn!(
                lock = %core.name,
                holder = %site,
                held_for = ?held_for,
                "lock held longer than its threshold"
            );
            stalls.push(LockStall {
                lock: core.name.clone(),
                site,
                held_for,
            });
        }
        stalls
    }
}
