//! Layer 1: the one place that names atomics, locks, cells, thread-locals and lazily built
//! globals.
//!
//! Every other module takes these names from here, so that building with
//! `RUSTFLAGS="--cfg perf_instrument_loom"` swaps in loom's models of them and the loom tests
//! explore every interleaving the memory model allows. The cfg is crate-specific on purpose: a
//! bare `--cfg loom` would also flip the loom support of other crates in the build.

#[cfg(not(perf_instrument_loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};

#[cfg(perf_instrument_loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};

/// Locks `mutex`, recovering the data if a thread panicked while holding it: the data
/// structures behind our mutexes are left consistent at every point a panic can occur.
#[allow(dead_code)]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) use std::sync::Arc;

/// Set-up-time synchronisation: registration, handle resolution, once-per-site caches, the
/// default registry, and the thread-local lane cell. Loom has no `OnceLock` or `LazyLock`, and
/// none of these sits on a path the loom models race (they are written before the racing
/// threads start, or by one thread only), so they stay std's under the loom cfg too.
///
/// `SetupOnceBox` is `once_cell::race::OnceBox` for the same set-up-time uses (the families'
/// label index), std's under loom too.
#[allow(unused_imports)]
pub(crate) use once_cell::race::OnceBox as SetupOnceBox;
#[allow(unused_imports)]
pub(crate) use std::{
    cell::{Cell, RefCell},
    sync::{LazyLock, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

/// Declares a thread-local.
///
/// Outside loom it is `std::thread_local!` with a `const` initialiser (no lazy-init check on
/// access); under loom it is loom's model, whose destructors run when a model thread ends.
macro_rules! thread_local_const {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(perf_instrument_loom))]
        ::std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
        #[cfg(perf_instrument_loom)]
        ::loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
    };
}
pub(crate) use thread_local_const;

/// Declares a process-wide value built on first use (`LazyLock` outside loom, loom's
/// `lazy_static!` model under it, which is rebuilt for every explored execution).
macro_rules! lazy_global {
    (static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(perf_instrument_loom))]
        static $name: ::std::sync::LazyLock<$t> = ::std::sync::LazyLock::new(|| $init);
        #[cfg(perf_instrument_loom)]
        ::loom::lazy_static! { static ref $name: $t = $init; }
    };
}
pub(crate) use lazy_global;

/// An acquire fence (loom's under the loom cfg).
#[inline]
#[allow(dead_code)]
pub(crate) fn fence_acquire() {
    #[cfg(not(perf_instrument_loom))]
    std::sync::atomic::fence(Ordering::Acquire);
    #[cfg(perf_instrument_loom)]
    loom::sync::atomic::fence(Ordering::Acquire);
}

/// A release fence (loom's under the loom cfg).
#[inline]
#[allow(dead_code)]
pub(crate) fn fence_release() {
    #[cfg(not(perf_instrument_loom))]
    std::sync::atomic::fence(Ordering::Release);
    #[cfg(perf_instrument_loom)]
    loom::sync::atomic::fence(Ordering::Release);
}

/// One step of a bounded busy wait: a CPU spin hint, and a yield to the scheduler every
/// 64 steps (under loom, always a yield, so the model can run the thread being waited for).
#[inline]
pub(crate) fn spin_wait(step: u32) {
    #[cfg(not(perf_instrument_loom))]
    {
        if step % 64 == 63 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    #[cfg(perf_instrument_loom)]
    {
        let _ = step;
        loom::thread::yield_now();
    }
}

/// A process-wide sequence of identities (for telling instances apart; needs no modelling, so
/// it is a plain std atomic under loom too).
#[allow(dead_code)]
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A cell written once with a boxed value and read lock-free afterwards: the lazily allocated
/// shards and pages of a histogram.
///
/// Outside loom it is `once_cell::race::OnceBox` — one pointer-sized word; `get` is an acquire
/// load; `get_or_init` builds a box, publishes it with a CAS, and a thread that loses the race
/// drops its own box and uses the winner's. Under loom it is a model with the same contract:
/// the value is built before the publishing step, and published with release / read with
/// acquire through a loom atomic, so loom checks that a reader of the cell sees the value's
/// initialisation.
#[cfg(not(perf_instrument_loom))]
pub(crate) use once_cell::race::OnceBox;

#[cfg(perf_instrument_loom)]
pub(crate) struct OnceBox<T> {
    /// 0: empty; 1: a winner is storing its value; 2: published.
    state: AtomicUsize,
    value: std::sync::OnceLock<Box<T>>,
}

#[cfg(perf_instrument_loom)]
impl<T> Default for OnceBox<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(perf_instrument_loom)]
impl<T> OnceBox<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            value: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == 2 {
            self.value.get().map(|b| &**b)
        } else {
            None
        }
    }

    /// Publishes `value` unless a value is already published (or being published): then
    /// gives it back.
    pub(crate) fn set(&self, value: Box<T>) -> Result<(), Box<T>> {
        match self
            .state
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                let _ = self.value.set(value);
                self.state.store(2, Ordering::Release);
                Ok(())
            }
            Err(_) => Err(value),
        }
    }

    pub(crate) fn get_or_init(&self, f: impl FnOnce() -> Box<T>) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        let new = f();
        let mut step = 0;
        loop {
            match self
                .state
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let _ = self.value.set(new);
                    self.state.store(2, Ordering::Release);
                    break;
                }
                Err(2) => break,
                Err(_) => {
                    spin_wait(step);
                    step += 1;
                }
            }
        }
        self.get().expect("published above")
    }
}
