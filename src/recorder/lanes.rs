//! Lanes: which shard of a sharded recorder the calling thread writes.
//!
//! Every sharded recorder (counter, histogram) holds one shard per lane plus one shared shard.
//! A thread claims a lane from a process-wide table the first time it records anything and keeps
//! it until it exits, when its thread-local destructor gives the lane back. While a thread owns
//! lane `k` it is the only writer of shard `k` in every recorder, so it updates that shard with a
//! plain load and store: no `lock`-prefixed instruction, no shared cache line.
//!
//! Threads beyond the number of lanes (and code that runs after a thread's lane was given back,
//! such as another thread-local's destructor) write the shared shard with atomic read-modify-write
//! instructions. They retry claiming a lane when one becomes free.
//!
//! Hand-over is safe: the exiting owner releases its lane with a `Release` RMW after its last
//! store, and the next owner claims it with an `Acquire` CAS, so the new owner's loads see every
//! count the old owner stored and continue from there.

use super::super::sync::{lazy_global, thread_local_const, AtomicU64, Ordering};
use crate::sync::Cell;

/// Most lanes a process can have: the claim table is one 64-bit word.
pub(crate) const MAX_LANES: usize = 64;

/// Environment variable that sets the number of lanes (1 to 64), read once.
#[cfg_attr(perf_instrument_loom, allow(dead_code))]
const LANES_ENV: &str = "PERF_INSTRUMENT_LANES";

const UNCLAIMED: u8 = u8::MAX;
#[cfg_attr(perf_instrument_loom, allow(dead_code))]
const SHARED: u8 = u8::MAX - 1;

/// The shard a record goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The calling thread is the only writer of this shard index.
    Owned(usize),
    /// The calling thread has no lane: write the shared shard atomically.
    Shared,
}

/// The process-wide claim table: bit `k` of `claimed` is set while lane `k` has an owner.
#[derive(Debug)]
pub struct Table {
    lanes: usize,
    claimed: AtomicU64,
}

lazy_global! {
    static TABLE: Table = Table::new(configured_lanes());
}

#[cfg(not(perf_instrument_loom))]
fn configured_lanes() -> usize {
    let from_env = std::env::var(LANES_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One lane per core, plus two for the threads a service usually has beside its workers
    // (the main thread, a scrape or watchdog thread).
    from_env.unwrap_or(cores + 2).clamp(1, MAX_LANES)
}

#[cfg(perf_instrument_loom)]
fn configured_lanes() -> usize {
    // One lane, so a two-thread model exercises both the owned and the shared path.
    1
}

/// Number of single-writer lanes in this process (fixed on first use).
pub(crate) fn count() -> usize {
    TABLE.lanes
}

thread_local_const! {
    /// The calling thread's lane, `UNCLAIMED`, or `SHARED`. No destructor, so reading it on the
    /// hot path needs no registration check and works during thread teardown too.
    static LANE: Cell<u8> = Cell::new(UNCLAIMED);
}

/// Gives the thread's lane back when the thread exits; registered only by a thread that claimed.
struct Releaser;

// Loom cannot run atomics inside thread-local destructors, so under loom lanes are not given
// back when a model thread ends (each explored execution starts with a fresh table); the
// hand-over itself is modelled on a `Table` directly.
#[cfg(not(perf_instrument_loom))]
impl Drop for Releaser {
    fn drop(&mut self) {
        let _ = LANE.try_with(|lane| {
            let owned = lane.get();
            // Whatever this thread records after this point (from other thread-locals'
            // destructors) goes to the shared shard.
            lane.set(SHARED);
            if usize::from(owned) < MAX_LANES {
                TABLE.release(owned);
            }
        });
    }
}

thread_local_const! {
    static RELEASER: Releaser = Releaser;
}

/// The lane of the calling thread, claiming one on first use.
#[inline(always)]
pub(crate) fn current() -> Lane {
    match LANE.try_with(Cell::get) {
        Ok(lane) if usize::from(lane) < MAX_LANES => Lane::Owned(usize::from(lane)),
        _ => claim(),
    }
}

#[cold]
#[inline(never)]
fn claim() -> Lane {
    // Register the releaser first: if this thread is already being torn down that fails, and
    // the thread must not take a lane it could never give back.
    if RELEASER.try_with(|_| ()).is_err() {
        return Lane::Shared;
    }
    match TABLE.claim() {
        Some(lane) => {
            let _ = LANE.try_with(|cell| cell.set(lane));
            Lane::Owned(usize::from(lane))
        }
        None => Lane::Shared,
    }
}

impl Table {
    /// A table of `lanes` lanes, all free.
    pub fn new(lanes: usize) -> Self {
        Self {
            lanes: lanes.clamp(1, MAX_LANES),
            claimed: AtomicU64::new(0),
        }
    }

    /// Claims the lowest free lane, if any.
    pub fn claim(&self) -> Option<u8> {
        let all = if self.lanes >= MAX_LANES {
            u64::MAX
        } else {
            (1u64 << self.lanes) - 1
        };
        let mut claimed = self.claimed.load(Ordering::Acquire);
        loop {
            let free = all & !claimed;
            if free == 0 {
                return None;
            }
            let lane = free.trailing_zeros();
            match self.claimed.compare_exchange_weak(
                claimed,
                claimed | (1u64 << lane),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                // `lane < 64`, so it fits in a u8 below SHARED.
                Ok(_) => return Some(lane as u8),
                Err(now) => claimed = now,
            }
        }
    }

    /// Gives a lane back after its owner's last store.
    pub fn release(&self, lane: u8) {
        self.claimed.fetch_and(!(1u64 << lane), Ordering::Release);
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_claimed_lowest_first_exclusively_and_reused_after_release() {
        let table = Table::new(3);
        assert_eq!(table.claim(), Some(0));
        assert_eq!(table.claim(), Some(1));
        assert_eq!(table.claim(), Some(2));
        assert_eq!(table.claim(), None, "a fourth claimant shares");
        table.release(1);
        assert_eq!(
            table.claim(),
            Some(1),
            "a released lane is handed out again"
        );
        assert_eq!(table.claim(), None);
    }

    #[test]
    fn a_full_table_of_64_lanes_works() {
        let table = Table::new(MAX_LANES);
        for expected in 0..64u8 {
            assert_eq!(table.claim(), Some(expected));
        }
        assert_eq!(table.claim(), None);
    }

    #[test]
    fn a_thread_keeps_one_lane_or_shares_for_its_whole_life() {
        let (a, b) = std::thread::spawn(|| (current(), current()))
            .join()
            .unwrap();
        assert_eq!(a, b);
        assert!(count() >= 1 && count() <= MAX_LANES);
    }
}
