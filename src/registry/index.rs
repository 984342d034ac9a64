//! A family's lock-free label index: borrowed label values to a series, with no allocation,
//! lock or shared write on a lookup.

use super::label_values::LabelValues;
use crate::sync::SetupOnceBox;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};

/// Most slots of a family's lock-free index (a power of two); series beyond half of it are
/// found through the family's locked table.
pub(super) const MAX_INDEX_SLOTS: usize = 1 << 13;

/// Longest label value whose two words hold all its bytes.
const SHORT: usize = 16;

/// Label values whose keys a slot holds in place.
const INLINE_KEYS: usize = 3;

/// A label value as the index keeps it: its length and two words. For a value of at most 16
/// bytes the words are the overlapping reads foldhash makes of it, which with the length
/// determine every byte, so comparing them compares the value; for a longer value the first
/// word is a hash of it and the value itself is compared.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct ValueKey {
    len: usize,
    lo: u64,
    hi: u64,
}

/// The key of no value (no value is `usize::MAX` bytes long).
const NO_KEY: ValueKey = ValueKey {
    len: usize::MAX,
    lo: 0,
    hi: 0,
};

/// A label set's hash and the keys of its first values, computed once per lookup.
pub(super) struct Probe {
    pub(super) hash: u64,
    keys: [ValueKey; INLINE_KEYS],
}

/// Reads a value of at most 16 bytes as two words: the first and last 8, 4, or (below 4 bytes)
/// 1 and 2 bytes. Each byte lands in at least one word at a position fixed by the length.
#[inline(always)]
fn short_words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    debug_assert!(n <= SHORT);
    if n >= 8 {
        (read_u64(&b[..8]), read_u64(&b[n - 8..]))
    } else if n >= 4 {
        (read_u32(&b[..4]), read_u32(&b[n - 4..]))
    } else if n > 0 {
        (
            u64::from(b[0]),
            u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]),
        )
    } else {
        (0, 0)
    }
}

#[inline(always)]
fn read_u64(b: &[u8]) -> u64 {
    <[u8; 8]>::try_from(b).map_or(0, u64::from_le_bytes)
}

#[inline(always)]
fn read_u32(b: &[u8]) -> u64 {
    <[u8; 4]>::try_from(b).map_or(0, |w| u64::from(u32::from_le_bytes(w)))
}

/// The high and low halves of the full product, folded (foldhash's mixing step).
#[inline(always)]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

/// One series in the index: written once (under the family's write lock), read by lookups
/// without a lock.
struct Slot<M> {
    hash: u64,
    /// The first label values' keys, in the slot itself (one pointer fewer to follow on a
    /// lookup); the rest, if any, behind one.
    keys: [ValueKey; INLINE_KEYS],
    more_keys: Box<[ValueKey]>,
    labels: LabelValues,
    metric: M,
    /// Set when the series is removed; the slot stays (a tombstone) so probe chains stay whole.
    removed: AtomicBool,
}

/// An open-addressing table of once-written slots: a lookup hashes the borrowed label values,
/// probes with acquire loads and compares in place. It never allocates, locks, or writes
/// shared memory. Inserts and removals run under the family's write lock.
///
/// The hash is foldhash's, keyed per index, computed from the same two words per value that a
/// slot keeps: a value of up to 16 bytes is compared as two words and its length, without a
/// `memcmp` call, and hashed without a second read of its bytes.
pub(super) struct Index<M> {
    slots: Box<[SetupOnceBox<Slot<M>>]>,
    /// Seeds: the accumulator's start, the per-value fold constant, and the state that hashes
    /// values longer than 16 bytes.
    seed: u64,
    fold: u64,
    long: foldhash::fast::RandomState,
    /// The family's byte budget per value: a longer value is never indexed, so it is not hashed
    /// either (a lookup with a mebibyte value costs no more than one with a short one).
    max_value_bytes: usize,
    /// Label names of the family: keys per slot.
    labels: usize,
}

impl<M> Index<M> {
    /// An index for a family of at most `max_series` series with `labels` label names, whose
    /// values are at most `max_value_bytes` long.
    pub(super) fn new(max_series: usize, labels: usize, max_value_bytes: usize) -> Self {
        let series = if labels == 0 { 1 } else { max_series.max(1) };
        let slots = series
            .saturating_mul(2)
            .next_power_of_two()
            .min(MAX_INDEX_SLOTS);
        let long = foldhash::fast::RandomState::default();
        Self {
            slots: (0..slots).map(|_| SetupOnceBox::new()).collect(),
            seed: long.hash_one(0x243f_6a88_85a3_08d3_u64),
            fold: long.hash_one(0x1319_8a2e_0370_7344_u64) | 1,
            long,
            max_value_bytes,
            labels,
        }
    }

    /// Label values per label set.
    #[inline(always)]
    pub(super) fn labels(&self) -> usize {
        self.labels
    }

    /// Slots in the index (live, removed or free).
    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline(always)]
    fn key(&self, b: &[u8]) -> ValueKey {
        let (lo, hi) = if b.len() <= SHORT {
            short_words(b)
        } else if b.len() <= self.max_value_bytes {
            (self.long.hash_one(b), 0)
        } else {
            (0, 0)
        };
        ValueKey {
            len: b.len(),
            lo,
            hi,
        }
    }

    /// The hash of a label set (each value's words folded into an accumulator that was first
    /// rotated by the value's length, so `["ab", "c"]` and `["a", "bc"]` differ), with the keys
    /// of its first values, which a probe compares without reading the values again.
    #[inline(always)]
    pub(super) fn probe(&self, values: &[&str]) -> Probe {
        let mut acc = self.seed;
        let mut keys = [NO_KEY; INLINE_KEYS];
        for (i, value) in values.iter().enumerate() {
            let k = self.key(value.as_bytes());
            if let Some(slot) = keys.get_mut(i) {
                *slot = k;
            }
            acc = folded_multiply(k.lo ^ acc.rotate_right(k.len as u32), k.hi ^ self.fold);
        }
        Probe { hash: acc, keys }
    }

    /// Whether a slot's label set is `values` (of the family's label count).
    #[inline(always)]
    fn matches(&self, slot: &Slot<M>, probe: &Probe, values: &[&str]) -> bool {
        // Driven by `values`, whose length is often a constant at the call site (the loop
        // unrolls); every slot holds one key per label name.
        values.iter().enumerate().all(|(i, v)| {
            let b = v.as_bytes();
            match (slot.keys.get(i), probe.keys.get(i)) {
                (Some(k), Some(wanted)) => {
                    k.len == wanted.len
                        && k.lo == wanted.lo
                        && k.hi == wanted.hi
                        // A long value's key is a hash: the value is compared too.
                        && (b.len() <= SHORT || slot.labels.bytes(i) == Some(b))
                }
                _ => self.matches_beyond_inline(slot, i, b),
            }
        })
    }

    /// Whether value `i` of a slot, past the keys kept in place, is `b`.
    #[cold]
    #[inline(never)]
    fn matches_beyond_inline(&self, slot: &Slot<M>, i: usize, b: &[u8]) -> bool {
        slot.more_keys
            .get(i.wrapping_sub(INLINE_KEYS))
            .is_some_and(|k| {
                *k == self.key(b) && (b.len() <= SHORT || slot.labels.bytes(i) == Some(b))
            })
    }

    /// The live series for `values` (of the family's label count), if indexed.
    #[inline(always)]
    pub(super) fn find(&self, probe: &Probe, values: &[&str]) -> Option<&M> {
        let hash = probe.hash;
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = self.slots[i].get()?;
            if slot.hash == hash
                && self.matches(slot, probe, values)
                && !slot.removed.load(Ordering::Acquire)
            {
                return Some(&slot.metric);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Adds a series (under the write lock); returns whether it was indexed.
    pub(super) fn insert(&self, hash: u64, labels: LabelValues, metric: M) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            if self.slots[i].get().is_none() {
                let slot = Box::new(Slot {
                    hash,
                    keys: std::array::from_fn(|i| labels.bytes(i).map_or(NO_KEY, |l| self.key(l))),
                    more_keys: labels
                        .byte_values()
                        .skip(INLINE_KEYS)
                        .map(|l| self.key(l))
                        .collect(),
                    labels,
                    metric,
                    removed: AtomicBool::new(false),
                });
                // Only writers (serialised by the write lock) set slots: this one wins.
                let _ = self.slots[i].set(slot);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Marks the live series for `values` removed (under the write lock).
    pub(super) fn remove(&self, probe: &Probe, values: &[&str]) {
        let hash = probe.hash;
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots[i].get() else {
                return;
            };
            if slot.hash == hash
                && self.matches(slot, probe, values)
                && !slot.removed.load(Ordering::Relaxed)
            {
                slot.removed.store(true, Ordering::Release);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Bytes of the slot table and of `used` slots in use (label values kept in place are in
    /// the slot; longer sets are the family entries', shared), without walking the table.
    pub(super) fn memory_bytes(&self, used: usize) -> usize {
        self.slots.len() * std::mem::size_of::<SetupOnceBox<Slot<M>>>()
            + used
                * (std::mem::size_of::<Slot<M>>()
                    + self.labels.saturating_sub(INLINE_KEYS) * std::mem::size_of::<ValueKey>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index<u32> {
        Index::new(64, 2, 128)
    }

    fn insert(ix: &Index<u32>, values: &[&str], metric: u32) {
        let labels = LabelValues::from(values);
        assert!(ix.insert(ix.probe(values).hash, labels, metric));
    }

    #[test]
    fn two_words_and_the_length_tell_every_short_value_apart() {
        // Every value of 0..=16 bytes over a two-letter alphabet, and each with one byte changed
        // at every position: equal keys only for equal values.
        let ix = index();
        let mut seen = std::collections::HashMap::new();
        for len in 0..=SHORT {
            for pattern in 0..(1u32 << len.min(12)) {
                let value: String = (0..len)
                    .map(|i| {
                        if pattern >> (i % 12) & 1 == 1 {
                            'b'
                        } else {
                            'a'
                        }
                    })
                    .collect();
                let key = ix.key(value.as_bytes());
                if let Some(other) = seen.insert(key, value.clone()) {
                    assert_eq!(other, value, "two values with one key");
                }
            }
        }
        assert!(seen.len() > 8_000);
    }

    #[test]
    fn lookups_compare_every_byte_of_short_and_long_values() {
        let ix = index();
        let long = "a label value longer than sixteen bytes";
        insert(&ix, &["GET", "200"], 1);
        insert(&ix, &["", long], 2);
        insert(&ix, &["12345678", "123456789abcdef0"], 3);
        let find = |values: &[&str]| ix.find(&ix.probe(values), values).copied();
        assert_eq!(find(&["GET", "200"]), Some(1));
        assert_eq!(find(&["", long]), Some(2));
        assert_eq!(find(&["12345678", "123456789abcdef0"]), Some(3));
        for miss in [
            &["GET", "201"][..],
            &["GE", "T200"],
            &["GET2", "00"],
            &["GET", "200 "],
            &["", "a label value longer than sixteen byteS"],
            &["12345678", "123456789abcdef1"],
            &["12345679", "123456789abcdef0"],
        ] {
            assert_eq!(find(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn label_sets_longer_than_the_keys_kept_in_place_compare_every_value() {
        let ix = Index::<u32>::new(8, 5, 128);
        let set = ["a", "b", "c", "d", "a label value past sixteen bytes"];
        insert(&ix, &set, 7);
        assert_eq!(ix.find(&ix.probe(&set), &set).copied(), Some(7));
        for i in 0..set.len() {
            let mut other = set;
            other[i] = "x";
            assert_eq!(
                ix.find(&ix.probe(&other), &other),
                None,
                "value {i} differs"
            );
        }
    }

    #[test]
    fn a_removed_slot_is_skipped_and_its_chain_stays_whole() {
        let ix = Index::<u32>::new(1, 1, 128); // two slots: the second insert probes past the first
        let labels = |v: &str| LabelValues::from([v]);
        assert!(ix.insert(ix.probe(&["a"]).hash, labels("a"), 1));
        assert!(ix.insert(ix.probe(&["b"]).hash, labels("b"), 2));
        ix.remove(&ix.probe(&["a"]), &["a"]);
        assert_eq!(ix.find(&ix.probe(&["a"]), &["a"]), None);
        assert_eq!(ix.find(&ix.probe(&["b"]), &["b"]).copied(), Some(2));
        assert!(
            !ix.insert(ix.probe(&["c"]).hash, labels("c"), 3),
            "a full index says so"
        );
    }
}
