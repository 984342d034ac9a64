//! Saga ids: what callers pass ([`SagaIdRef`]), what reports return ([`SagaId`]), and the
//! fixed-size key the tracker stores (`Key`), hashed once per event.

use serde::Serialize;
#[cfg_attr(perf_instrument_loom, allow(unused_imports))]
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// The longest string id a tracker accepts, in bytes. Longer ids are refused and counted as
/// `id_too_long` (hash them to a shorter id first if yours are longer).
///
/// ```
/// use perf_instrument::saga::{SagaRejectReason, SagaVerdict, MAX_SAGA_ID_LEN};
/// use perf_instrument::{Registry, SagaTracker};
/// let tracker = SagaTracker::builder("order").steps(["ship"]).build(&Registry::new()).unwrap();
/// let long = "x".repeat(MAX_SAGA_ID_LEN + 1);
/// assert_eq!(tracker.start(long.as_str()), SagaVerdict::Rejected(SagaRejectReason::IdTooLong));
/// ```
pub const MAX_SAGA_ID_LEN: usize = 64;

/// A saga id as passed to a tracker's events: a string (at most [`MAX_SAGA_ID_LEN`] bytes) or
/// an integer. Built with `From` from `&str`, `&String`, `u64`, `u32` and `usize`; the string
/// `"42"` and the integer `42` are different ids.
///
/// ```
/// use perf_instrument::saga::SagaIdRef;
/// assert_eq!(SagaIdRef::from("o-1"), SagaIdRef::Str("o-1"));
/// assert_eq!(SagaIdRef::from(7u64), SagaIdRef::Int(7));
/// assert_ne!(SagaIdRef::from("7"), SagaIdRef::from(7u64));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SagaIdRef<'a> {
    /// A string id.
    Str(&'a str),
    /// An integer id.
    Int(u64),
}

impl<'a> From<&'a str> for SagaIdRef<'a> {
    fn from(id: &'a str) -> Self {
        SagaIdRef::Str(id)
    }
}

impl<'a> From<&'a String> for SagaIdRef<'a> {
    fn from(id: &'a String) -> Self {
        SagaIdRef::Str(id)
    }
}

impl From<u64> for SagaIdRef<'_> {
    fn from(id: u64) -> Self {
        SagaIdRef::Int(id)
    }
}

impl From<u32> for SagaIdRef<'_> {
    fn from(id: u32) -> Self {
        SagaIdRef::Int(u64::from(id))
    }
}

impl From<usize> for SagaIdRef<'_> {
    fn from(id: usize) -> Self {
        // usize is at most 64 bits on every supported target.
        SagaIdRef::Int(id as u64)
    }
}

impl<'a> From<&'a SagaId> for SagaIdRef<'a> {
    fn from(id: &'a SagaId) -> Self {
        match id {
            SagaId::Str(s) => SagaIdRef::Str(s),
            SagaId::Int(n) => SagaIdRef::Int(*n),
        }
    }
}

/// An owned saga id, as reports return it. Serialises as a JSON string or number.
///
/// ```
/// use perf_instrument::saga::SagaId;
/// assert_eq!(SagaId::Str("o-1".into()).to_string(), "o-1");
/// assert_eq!(serde_json::to_string(&SagaId::Int(42)).unwrap(), "42");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum SagaId {
    /// A string id.
    Str(String),
    /// An integer id.
    Int(u64),
}

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SagaId::Str(s) => f.write_str(s),
            SagaId::Int(n) => write!(f, "{n}"),
        }
    }
}

/// The keys of the tracker's id hash: random per tracker, so ids cannot be chosen to collide;
/// fixed under loom, whose models must pick the same shards in every explored execution.
#[cfg(not(perf_instrument_loom))]
pub(super) type IdKeys = RandomState;
#[cfg(perf_instrument_loom)]
pub(super) type IdKeys = BuildHasherDefault<std::hash::DefaultHasher>;

/// A saga id stored inline (no allocation), with its hash computed once.
///
/// The hash is the tracker's keyed SipHash of the id; the maps hash a `Key` to that stored
/// value (`IdHasher`), and the shard index is taken from bits 32.. of it, which hashbrown uses
/// neither for the bucket index (low bits) nor for the control byte (top seven bits).
#[derive(Clone, Copy)]
pub(super) struct Key {
    hash: u64,
    len: u8,
    int: bool,
    bytes: [u8; MAX_SAGA_ID_LEN],
}

impl Key {
    /// The key for `id`, or `None` if it is longer than [`MAX_SAGA_ID_LEN`].
    #[inline]
    pub(super) fn new(id: SagaIdRef<'_>, hasher: &impl BuildHasher) -> Option<Key> {
        let mut bytes = [0u8; MAX_SAGA_ID_LEN];
        let (int, len) = match id {
            SagaIdRef::Int(n) => {
                bytes[..8].copy_from_slice(&n.to_le_bytes());
                (true, 8)
            }
            SagaIdRef::Str(s) => {
                let src = s.as_bytes();
                bytes.get_mut(..src.len())?.copy_from_slice(src);
                (false, src.len())
            }
        };
        let hash = hasher.hash_one((int, &bytes[..len]));
        Some(Key {
            hash,
            len: len as u8,
            int,
            bytes,
        })
    }

    /// The id's 64-bit keyed hash: what the finished-id memory keeps.
    #[inline]
    pub(super) fn fingerprint(&self) -> u64 {
        self.hash
    }

    /// Which of `mask + 1` shards (a power of two) holds this id.
    #[inline]
    pub(super) fn shard(&self, mask: usize) -> usize {
        (self.hash >> 32) as usize & mask
    }

    fn id_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The owned id, for reports.
    pub(super) fn to_id(self) -> SagaId {
        if self.int {
            let mut n = [0u8; 8];
            n.copy_from_slice(&self.bytes[..8]);
            SagaId::Int(u64::from_le_bytes(n))
        } else {
            // The bytes were copied from a `&str`, so they are UTF-8.
            SagaId::Str(String::from_utf8_lossy(self.id_bytes()).into_owned())
        }
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.int == other.int && self.id_bytes() == other.id_bytes()
    }
}

impl Eq for Key {}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_id())
    }
}

/// Hands a [`Key`]'s stored hash to the map unchanged.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `Key`; this keeps the hasher total for other callers.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by saga id, hashed with the key's stored hash. (hashbrown's map is std's, and
/// also reports its exact allocation, for [`SagaMemory`](crate::saga::SagaMemory).)
pub(super) type IdMap<V> = hashbrown::HashMap<Key, V, BuildHasherDefault<IdHasher>>;

/// A set of id fingerprints (already hashes, so stored as they are).
pub(super) type FingerprintSet = hashbrown::HashSet<u64, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_compare_by_kind_and_bytes() {
        let h = RandomState::new();
        let a = Key::new(SagaIdRef::Str("42"), &h).unwrap();
        let b = Key::new(SagaIdRef::Int(42), &h).unwrap();
        assert!(a != b);
        assert_eq!(a.to_id(), SagaId::Str("42".into()));
        assert_eq!(b.to_id(), SagaId::Int(42));
        assert!(Key::new(SagaIdRef::Str("42"), &h).unwrap() == a);
        let max = "é".repeat(MAX_SAGA_ID_LEN / 2);
        assert_eq!(
            Key::new(SagaIdRef::Str(&max), &h)
                .unwrap()
                .to_id()
                .to_string(),
            max
        );
        assert!(Key::new(SagaIdRef::Str(&"x".repeat(MAX_SAGA_ID_LEN + 1)), &h).is_none());
        assert_eq!(
            Key::new(SagaIdRef::Str(""), &h).unwrap().to_id(),
            SagaId::Str(String::new())
        );
    }
}
