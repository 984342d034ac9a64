//! Instrumented locks: `Mutex` and `RwLock` over `parking_lot` (and `AsyncMutex` over tokio's,
//! feature `tokio`), with wait time on contention only, optional hold timing, call-site
//! attribution, and a watchdog for holds that last too long.
//!
//! An uncontended acquisition costs parking_lot's `try_lock` plus a call-site lookup (a scan
//! of a few atomics) and a store; waiting is timed only on the contended path. Hold timing adds
//! two clock reads and a histogram record per hold; a watchdog adds a clock read and a small
//! sequence-locked record of the holder per acquisition.
//!
//! Each lock type is made by `new(&registry, name, value)` with default settings, or by
//! `builder(name)` — [`MutexBuilder`], [`RwLockBuilder`], `AsyncMutexBuilder`, with the same
//! settings — and `build(value, &registry)`.
//!
//! Families, by label `lock`: `lock_wait_seconds` (contended acquisitions only),
//! `lock_hold_seconds` (with hold timing on), `lock_contended_total`,
//! `lock_contended_by_site_total{site,role}` and `lock_wait_by_site_seconds_total{site,role}`
//! (contended acquisitions and the time they waited, by the waiter's call site and by the
//! holder's it waited for; at most 32 sites per lock, then `site="__other__"`), and for locks
//! with a watchdog `lock_held_too_long_total` and `lock_current_longest_hold_seconds`.
//!
//! ```
//! use perf_instrument::lock::{LockWatchdog, Mutex};
//! use perf_instrument::Registry;
//! use std::time::Duration;
//! let registry = Registry::new();
//! let wal = Mutex::builder("wal").watchdog(Duration::from_secs(1)).build(0u64, &registry).unwrap();
//! *wal.lock() += 1;
//! assert!(LockWatchdog::scan().is_empty());
//! ```

mod async_mutex;
mod core;
mod mutex;
mod order;
mod rwlock;
mod watchdog;

#[cfg(feature = "tokio")]
pub use async_mutex::{AsyncMutex, AsyncMutexGuard};
pub(crate) use core::families;
pub use core::OTHER_SITE;
#[cfg(perf_instrument_loom)]
pub use core::{Held, HeldRecord, ReadHeld, ReadStretch, Sites, MAX_SITES};
pub use mutex::{Mutex, MutexGuard};
pub use order::{MAX_CYCLES, MAX_EDGES, THREAD_SEEN};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use watchdog::{LockStall, LockWatchdog};

use crate::clock::Clock;
use crate::registry::{Registry, RegistryError};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// Defines the builder of one lock type: the settings every instrumented lock shares (a
/// `core::Config`), and a `build(value, registry)` that makes that lock type.
macro_rules! lock_builder {
    (
        $(#[$attr:meta])*
        $builder:ident => $lock:ident, $example_value:literal, $example_use:literal
    ) => {
        $(#[$attr])*
        ///
        /// `T` is the type of the value the lock will hold, inferred from `build`.
        #[must_use = "a builder does nothing until `build` is called"]
        pub struct $builder<T> {
            config: core::Config,
            value: PhantomData<fn(T)>,
        }

        impl<T> Clone for $builder<T> {
            fn clone(&self) -> Self {
                Self {
                    config: self.config.clone(),
                    value: PhantomData,
                }
            }
        }

        impl<T> fmt::Debug for $builder<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($builder))
                    .field("name", &self.config.name)
                    .field("hold_timing", &self.config.hold_timing)
                    .field("watchdog", &self.config.watchdog)
                    .field("clock", &self.config.clock)
                    .field("schema", &self.config.shape.schema)
                    .field("buckets", &self.config.shape.buckets)
                    .field("track_order", &self.config.track_order)
                    .finish()
            }
        }

        impl<T> $builder<T> {
            pub(super) fn new(name: impl Into<String>) -> Self {
                Self {
                    config: core::Config {
                        name: name.into(),
                        hold_timing: false,
                        watchdog: None,
                        clock: None,
                        shape: crate::instrument::HistogramShape::default(),
                        track_order: false,
                    },
                    value: PhantomData,
                }
            }

            /// Records every hold's duration in `lock_hold_seconds` (two clock reads per
            /// acquisition).
            ///
            #[doc = concat!("```\nlet b = perf_instrument::lock::", stringify!($lock), "::<u8>::builder(\"wal\").hold_timing(true);\nassert!(format!(\"{b:?}\").contains(\"hold_timing: true\"));\n```")]
            pub fn hold_timing(mut self, on: bool) -> Self {
                self.config.hold_timing = on;
                self
            }

            /// Holds longer than `threshold` are reported by the
            /// [`LockWatchdog`](crate::lock::LockWatchdog) while they last (one clock read per
            /// acquisition). A zero threshold is refused by `build`.
            ///
            #[doc = concat!("```\nlet b = perf_instrument::lock::", stringify!($lock), "::<u8>::builder(\"wal\").watchdog(std::time::Duration::from_millis(500));\nassert!(format!(\"{b:?}\").contains(\"500ms\"));\n```")]
            pub fn watchdog(mut self, threshold: Duration) -> Self {
                self.config.watchdog = Some(threshold);
                self
            }

            /// Native schema of `lock_wait_seconds` and `lock_hold_seconds`, 0 to 8 (default 3;
            /// see [`Opts::schema`](crate::Opts::schema)). Every lock of a registry shares
            /// these families, so they must agree on it (another schema is a
            /// [`RegistryError::ShapeMismatch`](crate::RegistryError::ShapeMismatch)); outside
            /// `0..=8`, `build` fails with
            /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
            ///
            #[doc = concat!("```\nlet b = perf_instrument::lock::", stringify!($lock), "::<u8>::builder(\"wal\").schema(8);\nassert!(format!(\"{b:?}\").contains(\"schema: 8\"));\n```")]
            pub fn schema(mut self, schema: i32) -> Self {
                self.config.shape.schema = schema;
                self
            }

            /// Classic buckets of `lock_wait_seconds` and `lock_hold_seconds` (default:
            /// [`Buckets::default_for`](crate::registry::Buckets::default_for) seconds). Every lock of a
            /// registry shares these families, so they must agree on them, as on the schema.
            ///
            #[doc = concat!("```\nuse perf_instrument::{Buckets, Unit};\nlet b = perf_instrument::lock::", stringify!($lock), "::<u8>::builder(\"wal\").buckets(Buckets::from_values(Unit::Seconds, &[0.001]));\nassert!(format!(\"{b:?}\").contains(\"buckets: Some\"));\n```")]
            pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
                self.config.shape.buckets = Some(buckets);
                self
            }

            /// Tracks the order this lock is taken in with the other tracked locks (off by
            /// default): a thread that takes it while holding other tracked locks adds those
            /// orders to a process-wide graph, and a cycle (AB/BA or longer) is reported the
            /// first time it appears, before any deadlock, in `lock_order_cycles_total{cycle}`
            /// and `lock_order_cycle_edge` (both call sites of each order) and as a `tracing`
            /// warning. Costs a thread-local push and pop per acquisition, and a scan of the
            /// locks the thread holds. An `AsyncMutex` is not tracked (a task moves between
            /// threads).
            ///
            #[doc = concat!("```\nlet b = perf_instrument::lock::", stringify!($lock), "::<u8>::builder(\"wal\").track_order(true);\nassert!(format!(\"{b:?}\").contains(\"track_order: true\"));\n```")]
            pub fn track_order(mut self, on: bool) -> Self {
                self.config.track_order = on;
                self
            }

            /// The clock (default: the process clock).
            ///
            #[doc = concat!("```\nlet b = perf_instrument::lock::", stringify!($lock), "::<u8>::builder(\"wal\").clock(perf_instrument::Clock::manual().0);\nassert!(format!(\"{b:?}\").contains(\"wal\"));\n```")]
            pub fn clock(mut self, clock: Clock) -> Self {
                self.config.clock = Some(clock);
                self
            }

            #[doc = concat!("Builds the [`", stringify!($lock), "`] around `value`.")]
            ///
            /// # Errors
            ///
            /// [`RegistryError`] if the lock families clash with others in `registry`;
            /// [`RegistryError::ZeroSetting`] for a zero `watchdog` threshold.
            ///
            #[doc = concat!("```\nlet registry = perf_instrument::Registry::new();\nlet lock = perf_instrument::lock::", stringify!($lock), "::builder(\"wal\").build(", $example_value, ", &registry).unwrap();\n", $example_use, "\n```")]
            pub fn build(self, value: T, registry: &Registry) -> Result<$lock<T>, RegistryError> {
                Ok($lock::from_parts(core(self.config, registry)?, value))
            }
        }
    };
}

lock_builder! {
    /// Configures and builds a [`Mutex`] ([`Mutex::builder`]): hold timing, watchdog threshold,
    /// clock; the same settings as [`RwLockBuilder`] and `AsyncMutexBuilder`.
    ///
    /// ```
    /// use perf_instrument::{Mutex, Registry};
    /// use std::time::Duration;
    /// let registry = Registry::new();
    /// let node = Mutex::builder("raft_node")
    ///     .hold_timing(true)
    ///     .watchdog(Duration::from_secs(1))
    ///     .build(Vec::<u64>::new(), &registry)
    ///     .unwrap();
    /// node.lock().push(1);
    /// assert_eq!(node.lock().len(), 1);
    /// ```
    MutexBuilder => Mutex, "0u32", "*lock.lock() += 1;\nassert_eq!(*lock.lock(), 1);"
}

lock_builder! {
    /// Configures and builds an [`RwLock`] ([`RwLock::builder`]): hold timing, watchdog
    /// threshold, clock; the same settings as [`MutexBuilder`].
    ///
    /// ```
    /// use perf_instrument::{Registry, RwLock};
    /// let registry = Registry::new();
    /// let meta = RwLock::builder("metadata").hold_timing(true).build(vec![1], &registry).unwrap();
    /// assert_eq!(meta.read().len(), 1);
    /// ```
    RwLockBuilder => RwLock, "String::new()", "assert!(lock.read().is_empty());"
}

#[cfg(feature = "tokio")]
lock_builder! {
    /// Configures and builds an [`AsyncMutex`] ([`AsyncMutex::builder`]): hold timing, watchdog
    /// threshold, clock; the same settings as [`MutexBuilder`].
    ///
    /// ```
    /// use perf_instrument::{lock::AsyncMutex, Registry};
    /// let registry = Registry::new();
    /// let session = AsyncMutex::builder("session").build(0u8, &registry).unwrap();
    /// assert_eq!(session.into_inner(), 0);
    /// ```
    AsyncMutexBuilder => AsyncMutex, "0u8", "assert_eq!(lock.into_inner(), 0);"
}

/// A lock's shared state, watched by the watchdog when the lock has a threshold.
fn core(
    config: core::Config,
    registry: &Registry,
) -> Result<std::sync::Arc<core::Core>, RegistryError> {
    if config.watchdog.is_some_and(|t| t.is_zero()) {
        return Err(RegistryError::ZeroSetting {
            setting: "watchdog",
        });
    }
    let core = core::Core::new(config, registry)?;
    if core.watchdog_nanos.is_some() {
        watchdog::watch(&core);
    }
    Ok(core)
}
