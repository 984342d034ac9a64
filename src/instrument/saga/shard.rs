//! One shard of a tracker: the active sagas whose id hashes here, their start order (for
//! eviction), and the bounded memory of recently finished ids.

use super::id::{FingerprintSet, IdMap, Key};
use super::state::Saga;
use std::collections::VecDeque;
use std::mem::size_of;

#[derive(Default)]
pub(super) struct Shard {
    /// Active sagas.
    pub(super) active: IdMap<Saga>,
    /// `(seq, id)` in start order. Entries of sagas that have finished stay until they reach
    /// the front or the queue is compacted; an entry is live when `active[id].seq == seq`.
    order: VecDeque<(u64, Key)>,
    /// Recently finished ids (and ids seen first in a terminal event), by fingerprint: the
    /// id's 64-bit keyed hash, 8 bytes instead of the 80-byte key. Two ids share one with
    /// probability 2^-64, so a new id is mistaken for a remembered one with probability
    /// `remembered / 2^64` (5e-16 for 10,000 remembered).
    recent: FingerprintSet,
    /// `recent` in insertion order, to forget the oldest first.
    recent_order: VecDeque<u64>,
    next_seq: u64,
}

impl Shard {
    /// Inserts a new active saga (the caller checked the id is neither active nor recent).
    pub(super) fn insert(&mut self, key: Key, now: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.active.insert(key, Saga::new(seq, now));
        self.order.push_back((seq, key));
    }

    /// Removes an active saga, keeping the start-order queue within twice the live count.
    pub(super) fn remove(&mut self, key: &Key) -> Option<Saga> {
        let saga = self.active.remove(key)?;
        self.compact_if_sparse();
        Some(saga)
    }

    /// Removes and returns the oldest active saga of this shard.
    pub(super) fn pop_oldest(&mut self) -> Option<(Key, Saga)> {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.active.get(&key).is_some_and(|s| s.seq == seq) {
                let saga = self.active.remove(&key)?;
                return Some((key, saga));
            }
        }
        None
    }

    /// Whether `key` finished recently (or was seen first in a terminal event).
    pub(super) fn is_recent(&self, key: &Key) -> bool {
        self.recent.contains(&key.fingerprint())
    }

    /// Remembers `key` as finished, forgetting the oldest beyond `bound` ids.
    pub(super) fn remember(&mut self, key: Key, bound: usize) {
        if bound == 0 {
            return;
        }
        while self.recent_order.len() >= bound {
            match self.recent_order.pop_front() {
                Some(old) => {
                    self.recent.remove(&old);
                }
                None => break,
            }
        }
        if self.recent.insert(key.fingerprint()) {
            self.recent_order.push_back(key.fingerprint());
        }
    }

    /// Drops stale start-order entries once they outnumber the live ones.
    fn compact_if_sparse(&mut self) {
        if self.order.len() > 2 * self.active.len() + 32 {
            let active = &self.active;
            self.order
                .retain(|(seq, key)| active.get(key).is_some_and(|s| s.seq == *seq));
        }
    }

    /// Gives back memory a burst left behind (called by sweeps, not on the event path).
    pub(super) fn shrink(&mut self) {
        self.compact_if_sparse();
        let live = self.active.len();
        if self.active.capacity() > 4 * live + 64 {
            self.active.shrink_to(2 * live);
        }
        if self.order.capacity() > 4 * self.order.len() + 64 {
            self.order.shrink_to(2 * self.order.len());
        }
    }

    /// Number of remembered finished ids.
    pub(super) fn recent_len(&self) -> usize {
        self.recent.len()
    }

    /// Heap bytes: the maps' exact allocations and the queues' capacities.
    pub(super) fn heap_bytes(&self) -> usize {
        self.active.allocation_size()
            + self.order.capacity() * size_of::<(u64, Key)>()
            + self.recent.allocation_size()
            + self.recent_order.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::saga::SagaIdRef;
    use std::collections::hash_map::RandomState;

    fn key(n: u64, h: &RandomState) -> Key {
        Key::new(SagaIdRef::Int(n), h).unwrap()
    }

    #[test]
    fn oldest_first_skipping_finished_and_queue_stays_compact() {
        let h = RandomState::new();
        let mut shard = Shard::default();
        for n in 0..100 {
            shard.insert(key(n, &h), n);
        }
        for n in 0..90 {
            shard.remove(&key(n, &h)).unwrap();
        }
        assert!(shard.order.len() <= 2 * shard.active.len() + 32);
        let (k, saga) = shard.pop_oldest().unwrap();
        assert!(k == key(90, &h));
        assert_eq!(saga.started, 90);
        // Re-inserting an id gives it a new place in the order.
        shard.remove(&key(91, &h)).unwrap();
        shard.insert(key(91, &h), 200);
        assert!(shard.pop_oldest().unwrap().0 == key(92, &h));
    }

    #[test]
    fn recent_memory_is_bounded_and_forgets_the_oldest() {
        let h = RandomState::new();
        let mut shard = Shard::default();
        for n in 0..10 {
            shard.remember(key(n, &h), 4);
        }
        assert_eq!(shard.recent_len(), 4);
        assert!(!shard.is_recent(&key(5, &h)));
        assert!(shard.is_recent(&key(6, &h)) && shard.is_recent(&key(9, &h)));
        shard.remember(key(1, &h), 0);
        assert!(!shard.is_recent(&key(1, &h)));
    }
}
