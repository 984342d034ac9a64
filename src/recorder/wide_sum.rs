//! A 128-bit sum built from 64-bit atomics, for histogram shards.
//!
//! A 64-bit sum of nanosecond-scale values can wrap in hours when a queue holds many long waits
//! (10^5 waits of one second each per second wrap 2^64 units in about two days), and a wrapped
//! sum would make `_sum` go backwards. So a shard keeps the low word, a high word, and two
//! counters that bracket every carry into the high word: `started` before it, `done` after it.
//!
//! * A record that does not carry (all but one in 2^64 units) touches only the low word: one
//!   plain store for a lane's single writer, one CAS for the shared shard.
//! * A carry runs `started += 1; high += h; low = new; done += 1`, all `SeqCst`.
//! * A reader loads `done`, `high`, `low`, `started` (`SeqCst`) and accepts the pair when
//!   `done == started`: no carry was in flight, and every carry whose low word it saw had also
//!   moved the high word it read. Carries are rare and short, so the reader almost never retries.
//!
//! The non-carrying write of a lane is a `Release` store (a plain `mov` on x86-64): a reader that
//! sees it also sees the carries the same writer finished before it. The shared shard's writes
//! are read-modify-writes, which continue the release sequence of the last carry. The loom model
//! in `tests/loom_recorders.rs` checks both.

use super::super::sync::{spin_wait, AtomicU64, Ordering};

/// A 128-bit sum of 64-bit atomic words (see the module docs).
#[derive(Debug)]
pub struct WideSum {
    low: AtomicU64,
    high: AtomicU64,
    started: AtomicU64,
    done: AtomicU64,
}

impl Default for WideSum {
    fn default() -> Self {
        Self::starting_at(0)
    }
}

impl WideSum {
    /// A sum that starts at `value` (lets tests reach a carry without 2^64 records).
    pub fn starting_at(value: u128) -> Self {
        Self {
            low: AtomicU64::new(value as u64),
            high: AtomicU64::new((value >> 64) as u64),
            started: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// Adds `amount`; the caller must be this sum's only writer (it owns the lane).
    #[inline(always)]
    pub fn add_owned(&self, amount: u128) {
        let low = self.low.load(Ordering::Relaxed);
        let (new_low, carry) = low.overflowing_add(amount as u64);
        let high_delta = ((amount >> 64) as u64).wrapping_add(u64::from(carry));
        if high_delta == 0 {
            self.low.store(new_low, Ordering::Release);
        } else {
            self.carry_owned(new_low, high_delta);
        }
    }

    #[cold]
    #[inline(never)]
    fn carry_owned(&self, new_low: u64, high_delta: u64) {
        let bump = |word: &AtomicU64, by: u64| {
            word.store(
                word.load(Ordering::Relaxed).wrapping_add(by),
                Ordering::SeqCst,
            );
        };
        bump(&self.started, 1);
        bump(&self.high, high_delta);
        self.low.store(new_low, Ordering::SeqCst);
        bump(&self.done, 1);
    }

    /// Adds `amount` from any thread.
    #[inline]
    pub fn add_shared(&self, amount: u128) {
        let mut low = self.low.load(Ordering::Relaxed);
        loop {
            let (new_low, carry) = low.overflowing_add(amount as u64);
            let high_delta = ((amount >> 64) as u64).wrapping_add(u64::from(carry));
            if high_delta == 0 {
                match self.low.compare_exchange_weak(
                    low,
                    new_low,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => low = now,
                }
            } else {
                match self.carry_shared(low, new_low, high_delta) {
                    Ok(()) => return,
                    Err(now) => low = now,
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn carry_shared(&self, low: u64, new_low: u64, high_delta: u64) -> Result<(), u64> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let result = self
            .low
            .compare_exchange(low, new_low, Ordering::SeqCst, Ordering::Relaxed);
        if result.is_ok() {
            self.high.fetch_add(high_delta, Ordering::SeqCst);
        }
        // Also on failure, so `done` catches up with `started` again.
        self.done.fetch_add(1, Ordering::SeqCst);
        result.map(|_| ())
    }

    /// The current sum, consistent across both words.
    pub fn read(&self) -> u128 {
        let mut step = 0;
        loop {
            let done = self.done.load(Ordering::SeqCst);
            let high = self.high.load(Ordering::SeqCst);
            let low = self.low.load(Ordering::SeqCst);
            let started = self.started.load(Ordering::SeqCst);
            if done == started {
                return (u128::from(high) << 64) | u128::from(low);
            }
            spin_wait(step);
            step = step.wrapping_add(1);
        }
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[test]
    fn owned_and_shared_adds_carry_into_the_high_word() {
        let near = u128::from(u64::MAX) - 5;
        for shared in [false, true] {
            let sum = WideSum::starting_at(near);
            let add = |v: u128| {
                if shared {
                    sum.add_shared(v)
                } else {
                    sum.add_owned(v)
                }
            };
            add(3);
            assert_eq!(sum.read(), near + 3);
            add(10);
            assert_eq!(sum.read(), near + 13, "carried past 2^64");
            add(5u128 << 64);
            assert_eq!(
                sum.read(),
                near + 13 + (5u128 << 64),
                "a wide amount adds to both words"
            );
        }
    }
}
