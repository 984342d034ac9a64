//! `Mutex<T>`: an instrumented `parking_lot::Mutex`.

use super::core::{Core, Hold};
use super::MutexBuilder;
use crate::registry::{Registry, RegistryError};
use crate::sync::Ordering;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

/// An instrumented mutual-exclusion lock (see [the module](crate::lock) for what it measures).
///
/// `lock` is `#[track_caller]`: the call site is attributed to waits and holds. Guards are
/// `Send` (they may be dropped on another thread) and unlock on panic; the bookkeeping follows.
///
/// ```
/// use perf_instrument::{Mutex, Registry};
/// let registry = Registry::new();
/// let wal = Mutex::new(&registry, "wal", Vec::<u8>::new()).unwrap();
/// wal.lock().extend_from_slice(b"record");
/// assert_eq!(wal.lock().len(), 6);
/// ```
pub struct Mutex<T: ?Sized> {
    core: Arc<Core>,
    lock: parking_lot::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A builder for a mutex named `name` (the `lock` label value): hold timing, watchdog
    /// threshold, clock; `build(value, &registry)` makes the lock.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let lock = perf_instrument::lock::Mutex::builder("wal").hold_timing(true).build(0u32, &registry).unwrap();
    /// *lock.lock() += 1;
    /// assert_eq!(*lock.lock(), 1);
    /// ```
    pub fn builder(name: impl Into<String>) -> MutexBuilder<T> {
        MutexBuilder::new(name)
    }

    /// A mutex named `name` with default settings (no hold timing, no watchdog):
    /// `Mutex::builder(name).build(value, registry)`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the lock families clash with others in `registry`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let lock = perf_instrument::lock::Mutex::new(&registry, "wal", 0u32).unwrap();
    /// *lock.lock() += 1;
    /// assert_eq!(*lock.lock(), 1);
    /// ```
    pub fn new(registry: &Registry, name: &str, value: T) -> Result<Self, RegistryError> {
        Self::builder(name).build(value, registry)
    }

    pub(super) fn from_parts(core: Arc<Core>, value: T) -> Self {
        Self {
            core,
            lock: parking_lot::Mutex::new(value),
        }
    }

    /// The protected value.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let m = perf_instrument::Mutex::new(&r, "m", 7).unwrap();
    /// assert_eq!(m.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, waiting if another holder has it (the wait is timed and attributed).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let m = perf_instrument::Mutex::new(&r, "m", 0).unwrap();
    /// *m.lock() += 1;
    /// ```
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let site = self.core.sites.index(Location::caller());
        let guard = match self.lock.try_lock() {
            Some(guard) => guard,
            None => self.lock_contended(site),
        };
        MutexGuard::new(&self.core, guard, site)
    }

    /// Locks if free now.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let m = perf_instrument::Mutex::new(&r, "m", 0).unwrap();
    /// let held = m.lock();
    /// assert!(m.try_lock().is_none());
    /// drop(held);
    /// assert!(m.try_lock().is_some());
    /// ```
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let site = self.core.sites.index(Location::caller());
        let guard = self.lock.try_lock()?;
        Some(MutexGuard::new(&self.core, guard, site))
    }

    /// The value, through `&mut` (no locking needed).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let mut m = perf_instrument::Mutex::new(&r, "m", 0).unwrap();
    /// *m.get_mut() = 5;
    /// assert_eq!(*m.lock(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.lock.get_mut()
    }

    /// The lock's name.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert_eq!(perf_instrument::Mutex::new(&r, "wal", ()).unwrap().name(), "wal");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.core.name
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self, site: usize) -> parking_lot::MutexGuard<'_, T> {
        let core = &*self.core;
        let contention = core.contention(site, core.holder_site.load(Ordering::Relaxed));
        let guard = self.lock.lock();
        contention.end();
        guard
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("name", &self.core.name)
            .field("data", &&self.lock)
            .finish()
    }
}

/// Holds a [`Mutex`]; unlocks (and records the hold, if timed) when dropped.
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let m = perf_instrument::Mutex::new(&r, "m", String::from("a")).unwrap();
/// let mut g = m.lock();
/// g.push('b');
/// assert_eq!(&*g, "ab");
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Declared first: dropped (bookkeeping done) before `guard` unlocks.
    _hold: Hold<'a>,
    guard: parking_lot::MutexGuard<'a, T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    #[inline]
    #[track_caller]
    fn new(core: &'a Core, guard: parking_lot::MutexGuard<'a, T>, site: usize) -> Self {
        Self {
            _hold: Hold::exclusive(core, site),
            guard,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.guard, f)
    }
}
