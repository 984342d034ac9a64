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
#[allow(unused_imports)]
pub(crate) use std::{
    cell::Cell,
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
