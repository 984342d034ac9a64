//! `ActiveSet`: a bounded, sharded set of start times of running work, whose oldest entry is
//! found by a scan at scrape time.

use crate::recorder::lanes::{self, Lane};
use crate::sync::{lock, Mutex};

/// Marks a free slot (a start time can be 0 on a manual clock).
const FREE: u64 = u64::MAX;

struct Shard {
    starts: Vec<u64>,
    free: Vec<u32>,
}

/// Where an entry lives, to remove it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    shard: u32,
    index: u32,
}

/// Start times of running work: insert and remove in O(1) under one of several shard locks
/// (picked by the caller's lane, so threads rarely share one), at most `capacity` entries.
pub(crate) struct ActiveSet {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl ActiveSet {
    pub(crate) fn new(capacity: usize) -> Self {
        let count = (lanes::count() + 1).min(capacity.max(1));
        let per_shard = capacity.max(1).div_ceil(count);
        let shards = (0..count)
            .map(|_| {
                Mutex::new(Shard {
                    starts: Vec::new(),
                    free: Vec::new(),
                })
            })
            .collect();
        Self { shards, per_shard }
    }

    /// Adds a start time; `None` when every shard is full (the caller counts it). Starts at the
    /// caller's lane's shard, so threads rarely share a lock, and moves on when it is full.
    pub(crate) fn insert(&self, start: u64) -> Option<Slot> {
        let first = match lanes::current() {
            Lane::Owned(lane) => lane % self.shards.len(),
            Lane::Shared => self.shards.len() - 1,
        };
        (0..self.shards.len()).find_map(|k| {
            let shard_index = (first + k) % self.shards.len();
            let mut shard = lock(&self.shards[shard_index]);
            let index = match shard.free.pop() {
                Some(i) => i as usize,
                None if shard.starts.len() < self.per_shard => {
                    shard.starts.push(FREE);
                    shard.starts.len() - 1
                }
                None => return None,
            };
            shard.starts[index] = start;
            Some(Slot {
                shard: shard_index as u32,
                index: index as u32,
            })
        })
    }

    /// Removes the entry at `slot`.
    pub(crate) fn remove(&self, slot: Slot) {
        let mut shard = lock(&self.shards[slot.shard as usize]);
        if let Some(start) = shard.starts.get_mut(slot.index as usize) {
            if *start != FREE {
                *start = FREE;
                shard.free.push(slot.index);
            }
        }
    }

    /// The earliest start time present, if any.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(|s| lock(s).starts.iter().copied().filter(|&t| t != FREE).min())
            .min()
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[test]
    fn inserts_removes_and_finds_the_oldest_within_capacity() {
        let set = ActiveSet::new(4);
        assert_eq!(set.oldest(), None);
        let a = set.insert(30).unwrap();
        let b = set.insert(0).unwrap();
        let _c = set.insert(20).unwrap();
        assert_eq!(set.oldest(), Some(0), "a start of 0 is a real start");
        set.remove(b);
        assert_eq!(set.oldest(), Some(20));
        set.remove(a);
        set.remove(a); // removing twice is harmless
        assert_eq!(set.oldest(), Some(20));
        let more: usize = (0..10).filter_map(|i| set.insert(100 + i)).count();
        assert_eq!(more, 3, "capacity 4, one entry left in");
    }
}
