//! Instrumented locks: `Mutex` and `RwLock` over `parking_lot` (and `AsyncMutex` over tokio's,
//! feature `tokio`), with wait time on contention only, optional hold timing, call-site
//! attribution, and a watchdog for holds that last too long.
//!
//! An uncontended acquisition costs parking_lot's `try_lock` plus a call-site lookup (a scan
//! of a few atomics) and a store; waiting is timed only on the contended path. Hold timing adds
//! two clock reads and a histogram record per hold; a watchdog adds a clock read and a small
//! sequence-locked record of the holder per acquisition.

mod async_mutex;
mod core;
mod mutex;
mod rwlock;
mod watchdog;

#[cfg(feature = "tokio")]
pub use async_mutex::{AsyncMutex, AsyncMutexGuard};
pub(crate) use core::families;
pub use core::OTHER_SITE;
#[cfg(perf_instrument_loom)]
pub use core::{Held, HeldRecord, ReadHeld, ReadStretch};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use watchdog::{LockStall, LockWatchdog};

use crate::clock::Clock;
use crate::registry::{Registry, RegistryError};
use std::time::Duration;

/// Configures an instrumented lock: its name (label `lock`), hold timing, watchdog threshold,
/// clock.
///
/// Families, by label `lock`: `lock_wait_seconds` (contended acquisitions only),
/// `lock_hold_seconds` (with hold timing on), `lock_contended_total`,
/// `lock_contended_by_site_total{site,role}` and `lock_wait_by_site_seconds_total{site,role}`
/// (contended acquisitions and the time they waited, by the waiter's call site and by the
/// holder's it waited for; at most 32 sites per lock, then `site="__other__"`), and for locks
/// with a
/// watchdog `lock_held_too_long_total` and `lock_current_longest_hold_seconds`.
///
/// ```
/// use perf_instrument::{LockBuilder, Registry};
/// use std::time::Duration;
/// let registry = Registry::new();
/// let node = LockBuilder::new("raft_node")
///     .hold_timing(true)
///     .watchdog(Duration::from_secs(1))
///     .mutex(Vec::<u64>::new(), &registry)
///     .unwrap();
/// node.lock().push(1);
/// assert_eq!(node.lock().len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct LockBuilder {
    config: core::Config,
}

impl LockBuilder {
    /// A lock named `name`.
    ///
    /// ```
    /// let b = perf_instrument::LockBuilder::new("wal");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            config: core::Config {
                name: name.into(),
                hold_timing: false,
                watchdog: None,
                clock: None,
            },
        }
    }

    /// Records every hold's duration in `lock_hold_seconds` (two clock reads per acquisition).
    ///
    /// ```
    /// let b = perf_instrument::LockBuilder::new("wal").hold_timing(true);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn hold_timing(mut self, on: bool) -> Self {
        self.config.hold_timing = on;
        self
    }

    /// Holds longer than `threshold` are reported by the [`LockWatchdog`] while they last
    /// (one clock read per acquisition).
    ///
    /// ```
    /// let b = perf_instrument::LockBuilder::new("wal").watchdog(std::time::Duration::from_millis(500));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn watchdog(mut self, threshold: Duration) -> Self {
        self.config.watchdog = Some(threshold);
        self
    }

    /// The clock (default: the process clock).
    ///
    /// ```
    /// let b = perf_instrument::LockBuilder::new("wal").clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = Some(clock);
        self
    }

    /// Builds a [`Mutex`] around `value`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the lock families clash with others in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let m = perf_instrument::LockBuilder::new("m").mutex(0u32, &r).unwrap();
    /// *m.lock() += 1;
    /// ```
    pub fn mutex<T>(self, value: T, registry: &Registry) -> Result<Mutex<T>, RegistryError> {
        Ok(Mutex::from_parts(self.core(registry)?, value))
    }

    /// Builds an [`RwLock`] around `value`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the lock families clash with others in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let l = perf_instrument::LockBuilder::new("meta").rwlock(String::new(), &r).unwrap();
    /// assert!(l.read().is_empty());
    /// ```
    pub fn rwlock<T>(self, value: T, registry: &Registry) -> Result<RwLock<T>, RegistryError> {
        Ok(RwLock::from_parts(self.core(registry)?, value))
    }

    /// Builds an [`AsyncMutex`] (a `tokio::sync::Mutex`) around `value`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the lock families clash with others in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let m = perf_instrument::LockBuilder::new("session").async_mutex(0u8, &r).unwrap();
    /// # let _ = m;
    /// ```
    #[cfg(feature = "tokio")]
    pub fn async_mutex<T>(
        self,
        value: T,
        registry: &Registry,
    ) -> Result<AsyncMutex<T>, RegistryError> {
        Ok(AsyncMutex::from_parts(self.core(registry)?, value))
    }

    /// The lock's shared state, watched by the watchdog when the lock has a threshold.
    fn core(self, registry: &Registry) -> Result<std::sync::Arc<core::Core>, RegistryError> {
        let core = core::Core::new(self.config, registry)?;
        if core.watchdog_nanos.is_some() {
            watchdog::watch(&core);
        }
        Ok(core)
    }
}
