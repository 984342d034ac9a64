//! `AsyncMutex<T>`: an instrumented `tokio::sync::Mutex` (feature `tokio`), whose guards may be
//! held across `.await` and are reported like any other holder.
#![cfg(feature = "tokio")]

use super::core::{Core, Hold};
use super::AsyncMutexBuilder;
use crate::registry::{Registry, RegistryError};
use crate::sync::Ordering;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

/// An instrumented async mutex. [`lock`](AsyncMutex::lock) is a plain `#[track_caller]`
/// function returning the lock future, so the call site is captured where `lock()` is written
/// (an `async fn` cannot be `#[track_caller]`).
///
/// ```
/// use perf_instrument::{lock::AsyncMutex, Registry};
/// let registry = Registry::new();
/// let session = AsyncMutex::builder("session").build(0u32, &registry).unwrap();
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// runtime.block_on(async {
///     let mut guard = session.lock().await;
///     *guard += 1;
/// });
/// ```
pub struct AsyncMutex<T: ?Sized> {
    core: Arc<Core>,
    lock: tokio::sync::Mutex<T>,
}

impl<T> AsyncMutex<T> {
    /// A builder for an async mutex named `name` (the `lock` label value): hold timing, watchdog
    /// threshold, clock; `build(value, &registry)` makes the lock.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let lock = perf_instrument::lock::AsyncMutex::builder("wal").hold_timing(true).build(0u8, &registry).unwrap();
    /// assert_eq!(lock.into_inner(), 0);
    /// ```
    pub fn builder(name: impl Into<String>) -> AsyncMutexBuilder<T> {
        AsyncMutexBuilder::new(name)
    }

    /// An async mutex named `name` with default settings (no hold timing, no watchdog):
    /// `AsyncMutex::builder(name).build(value, registry)`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the lock families clash with others in `registry`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let lock = perf_instrument::lock::AsyncMutex::new(&registry, "wal", 0u8).unwrap();
    /// assert_eq!(lock.into_inner(), 0);
    /// ```
    pub fn new(registry: &Registry, name: &str, value: T) -> Result<Self, RegistryError> {
        Self::builder(name).build(value, registry)
    }

    pub(super) fn from_parts(core: Arc<Core>, value: T) -> Self {
        Self {
            core,
            lock: tokio::sync::Mutex::new(value),
        }
    }

    /// The protected value.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let m = perf_instrument::lock::AsyncMutex::new(&r, "m", 7).unwrap();
    /// assert_eq!(m.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: ?Sized> AsyncMutex<T> {
    /// The future that locks; the wait (if contended) and the hold are attributed to the
    /// caller of `lock()`. A contended wait is recorded also when the future is dropped before
    /// it got the lock (cancelled, e.g. by a timeout): `lock_contended_total` and
    /// `lock_wait_seconds` count the same waits.
    ///
    /// ```
    /// # let registry = perf_instrument::Registry::new();
    /// # let m = perf_instrument::lock::AsyncMutex::builder("m").build(1, &registry).unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async { assert_eq!(*m.lock().await, 1) });
    /// ```
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = AsyncMutexGuard<'_, T>> + '_ {
        let site = self.core.sites.index(Location::caller());
        async move {
            let core = &*self.core;
            let guard = match self.lock.try_lock() {
                Ok(guard) => guard,
                Err(_) => {
                    // Ends (records the wait) when the lock is taken, or when this future is
                    // dropped while waiting.
                    let contention =
                        core.contention(site, core.holder_site.load(Ordering::Relaxed));
                    let guard = self.lock.lock().await;
                    contention.end();
                    guard
                }
            };
            AsyncMutexGuard {
                _hold: Hold::exclusive_in_task(core, site),
                guard,
            }
        }
    }
}

impl<T: ?Sized> fmt::Debug for AsyncMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncMutex")
            .field("name", &self.core.name)
            .finish()
    }
}

/// Holds an [`AsyncMutex`].
///
/// ```
/// # let registry = perf_instrument::Registry::new();
/// # let m = perf_instrument::lock::AsyncMutex::builder("m").build(1, &registry).unwrap();
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let mut g = m.lock().await;
///     *g += 1;
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct AsyncMutexGuard<'a, T: ?Sized> {
    // Declared first: dropped (bookkeeping done) before `guard` unlocks.
    _hold: Hold<'a>,
    guard: tokio::sync::MutexGuard<'a, T>,
}

impl<T: ?Sized> Deref for AsyncMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for AsyncMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for AsyncMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.guard, f)
    }
}
