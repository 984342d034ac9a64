//! `RwLock<T>`: an instrumented `parking_lot::RwLock`.

use super::core::{Core, Hold};
use super::RwLockBuilder;
use crate::registry::{Registry, RegistryError};
use crate::sync::Ordering;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

/// An instrumented reader-writer lock (see [the module](crate::lock) for what it measures).
///
/// Writers are tracked exactly like [`Mutex`](crate::Mutex) holders. Readers are timed each on
/// its own. With a watchdog, the watchdog and `lock_current_longest_hold_seconds` see the
/// current *stretch of overlapping read holds*: from the moment the reader count went from 0
/// to 1 until it is back at 0, however many readers came and went in between, attributed to the
/// reader that began it. A stretch is published only once its start is, so a reader arriving
/// never makes the watchdog see an earlier stretch's start (no false long hold).
///
/// A writer that has to wait while readers hold the lock is attributed (`role="holder"`) to the
/// site of the reader that began the current stretch with a watchdog, and to the site of the
/// latest read acquisition without one (readers are not counted then, to keep reads cheap).
///
/// ```
/// use perf_instrument::{Registry, RwLock};
/// let registry = Registry::new();
/// let metadata = RwLock::new(&registry, "metadata", vec![1, 2, 3]).unwrap();
/// assert_eq!(metadata.read().len(), 3);
/// metadata.write().push(4);
/// ```
pub struct RwLock<T: ?Sized> {
    core: Arc<Core>,
    lock: parking_lot::RwLock<T>,
}

impl<T> RwLock<T> {
    /// A builder for an `RwLock` named `name` (the `lock` label value): hold timing, watchdog
    /// threshold, clock; `build(value, &registry)` makes the lock.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let lock = perf_instrument::lock::RwLock::builder("wal").hold_timing(true).build(vec![1], &registry).unwrap();
    /// assert_eq!(lock.read().len(), 1);
    /// ```
    pub fn builder(name: impl Into<String>) -> RwLockBuilder<T> {
        RwLockBuilder::new(name)
    }

    /// An `RwLock` named `name` with default settings (no hold timing, no watchdog):
    /// `RwLock::builder(name).build(value, registry)`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the lock families clash with others in `registry`.
    ///
    /// ```
    /// let registry = perf_instrument::Registry::new();
    /// let lock = perf_instrument::lock::RwLock::new(&registry, "wal", vec![1]).unwrap();
    /// assert_eq!(lock.read().len(), 1);
    /// ```
    pub fn new(registry: &Registry, name: &str, value: T) -> Result<Self, RegistryError> {
        Self::builder(name).build(value, registry)
    }

    pub(super) fn from_parts(core: Arc<Core>, value: T) -> Self {
        Self {
            core,
            lock: parking_lot::RwLock::new(value),
        }
    }

    /// The protected value.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert_eq!(perf_instrument::RwLock::new(&r, "l", 3).unwrap().into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, waiting for a writer if there is one.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let l = perf_instrument::RwLock::new(&r, "l", 0).unwrap();
    /// let (a, b) = (l.read(), l.read());
    /// assert_eq!(*a + *b, 0);
    /// ```
    #[track_caller]
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let site = self.core.sites.index(Location::caller());
        let guard = match self.lock.try_read() {
            Some(guard) => guard,
            None => {
                let core = &*self.core;
                let contention = core.contention(site, core.holder_site.load(Ordering::Relaxed));
                let guard = self.lock.read();
                contention.end();
                guard
            }
        };
        RwLockReadGuard {
            _hold: Hold::shared(&self.core, site),
            guard,
        }
    }

    /// Exclusive access, waiting for readers and writers.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let l = perf_instrument::RwLock::new(&r, "l", 0).unwrap();
    /// *l.write() = 2;
    /// assert_eq!(*l.read(), 2);
    /// ```
    #[track_caller]
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let site = self.core.sites.index(Location::caller());
        let guard = match self.lock.try_write() {
            Some(guard) => guard,
            None => {
                let core = &*self.core;
                let contention = core.contention(site, self.holder_site());
                let guard = self.lock.write();
                contention.end();
                guard
            }
        };
        RwLockWriteGuard {
            _hold: Hold::exclusive(&self.core, site),
            guard,
        }
    }

    /// Shared access if no writer holds the lock now (no wait, so no contention is counted;
    /// the hold is tracked like [`read`](Self::read)'s).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let l = perf_instrument::RwLock::new(&r, "l", 1).unwrap();
    /// let reading = l.try_read().unwrap();
    /// assert_eq!(*reading, 1);
    /// assert!(l.try_write().is_none());
    /// drop(reading);
    /// let writing = l.write();
    /// assert!(l.try_read().is_none());
    /// # drop(writing);
    /// ```
    #[track_caller]
    #[inline]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let site = self.core.sites.index(Location::caller());
        let guard = self.lock.try_read()?;
        Some(RwLockReadGuard {
            _hold: Hold::shared(&self.core, site),
            guard,
        })
    }

    /// Exclusive access if nobody holds the lock now (no wait, so no contention is counted;
    /// the hold is tracked like [`write`](Self::write)'s).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let l = perf_instrument::RwLock::new(&r, "l", 1).unwrap();
    /// *l.try_write().unwrap() += 1;
    /// let reading = l.read();
    /// assert!(l.try_write().is_none());
    /// drop(reading);
    /// assert_eq!(*l.try_write().unwrap(), 2);
    /// ```
    #[track_caller]
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let site = self.core.sites.index(Location::caller());
        let guard = self.lock.try_write()?;
        Some(RwLockWriteGuard {
            _hold: Hold::exclusive(&self.core, site),
            guard,
        })
    }

    /// The value, through `&mut` (no locking needed, nothing recorded).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let mut l = perf_instrument::RwLock::new(&r, "l", 0).unwrap();
    /// *l.get_mut() = 5;
    /// assert_eq!(*l.read(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.lock.get_mut()
    }

    /// The lock's name.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert_eq!(perf_instrument::RwLock::new(&r, "meta", ()).unwrap().name(), "meta");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The site a contended writer waits for: the writer's if one holds the lock, else the
    /// readers' (see the type's docs).
    fn holder_site(&self) -> usize {
        let core = &*self.core;
        if self.lock.is_locked_exclusive() {
            core.holder_site.load(Ordering::Relaxed)
        } else if core.watchdog_nanos.is_some() {
            core.reading.site()
        } else {
            core.last_read_site.load(Ordering::Relaxed)
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock")
            .field("name", &self.core.name)
            .field("data", &&self.lock)
            .finish()
    }
}

/// Shared access to an [`RwLock`].
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let l = perf_instrument::RwLock::new(&r, "l", 5).unwrap();
/// assert_eq!(*l.read(), 5);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    // Declared first: dropped (bookkeeping done) before `guard` unlocks.
    _hold: Hold<'a>,
    guard: parking_lot::RwLockReadGuard<'a, T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.guard, f)
    }
}

/// Exclusive access to an [`RwLock`].
///
/// ```
/// let r = perf_instrument::Registry::new();
/// let l = perf_instrument::RwLock::new(&r, "l", 5).unwrap();
/// *l.write() += 1;
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    // Declared first: dropped (bookkeeping done) before `guard` unlocks.
    _hold: Hold<'a>,
    guard: parking_lot::RwLockWriteGuard<'a, T>,
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.guard, f)
    }
}
