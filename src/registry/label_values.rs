//! `LabelValues`: the values of one series' labels, kept in place when they are short.
//!
//! A series' label values are read on every scrape (to write its labels) and copied into every
//! snapshot. Kept as an `Arc<[String]>` they were three heap objects per series (the shared
//! slice and one buffer per value) that a scrape of thousands of series reached through two
//! dependent cache misses each, plus an atomic increment and decrement on the shared count.
//! Here a label set of up to [`INLINE_VALUES`] values whose bytes total at most
//! [`INLINE_BYTES`] (`method`, `code`, `route` of most services) is stored in the value itself:
//! copying it is a 40-byte copy, reading it touches the line that holds it. Longer sets share
//! one `Arc<[String]>` as before.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Most values a label set kept in place can have.
const INLINE_VALUES: usize = 4;

/// Most bytes, all values together, of a label set kept in place.
const INLINE_BYTES: usize = 34;

/// The values of a series' labels, in the order of its family's label names.
///
/// Behaves as a read-only list of strings: [`len`](Self::len), [`get`](Self::get),
/// [`iter`](Self::iter), indexing, and comparison with slices and arrays of strings. Short label
/// sets (up to four values of 34 bytes in all) are stored in place, so cloning one (as every
/// snapshot does) neither allocates nor touches shared memory.
///
/// ```
/// use perf_instrument::LabelValues;
/// let values = LabelValues::from(["GET", "200"]);
/// assert_eq!(values.len(), 2);
/// assert_eq!(&values[0], "GET");
/// assert_eq!(values.get(1), Some("200"));
/// assert_eq!(values, ["GET", "200"]);
/// assert_eq!(values.iter().collect::<Vec<_>>(), ["GET", "200"]);
/// ```
#[derive(Clone)]
pub struct LabelValues(Repr);

#[derive(Clone)]
enum Repr {
    /// The values' bytes one after another; value `i` ends at `ends[i]`.
    Inline {
        n: u8,
        ends: [u8; INLINE_VALUES],
        bytes: [u8; INLINE_BYTES],
    },
    Shared(Arc<[String]>),
}

impl LabelValues {
    /// Label values from any list of strings.
    ///
    /// ```
    /// use perf_instrument::LabelValues;
    /// let owned = vec!["a".to_string(), "b".to_string()];
    /// assert_eq!(LabelValues::new(&owned), LabelValues::new(["a", "b"]));
    /// assert!(LabelValues::new(Vec::<String>::new()).is_empty());
    /// ```
    pub fn new<I>(values: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::from_slice(&values.into_iter().collect::<Vec<_>>())
    }

    /// Label values from a slice: kept in place when they fit, without a list in between.
    fn from_slice<S: AsRef<str>>(values: &[S]) -> Self {
        Self::inline(values).unwrap_or_else(|| {
            Self(Repr::Shared(
                values.iter().map(|v| v.as_ref().to_string()).collect(),
            ))
        })
    }

    /// The values kept in place, when they fit.
    fn inline<S: AsRef<str>>(values: &[S]) -> Option<Self> {
        if values.len() > INLINE_VALUES {
            return None;
        }
        let mut ends = [0u8; INLINE_VALUES];
        let mut bytes = [0u8; INLINE_BYTES];
        let mut end = 0usize;
        for (i, v) in values.iter().enumerate() {
            let v = v.as_ref().as_bytes();
            let next = end + v.len();
            bytes.get_mut(end..next)?.copy_from_slice(v);
            ends[i] = u8::try_from(next).ok()?;
            end = next;
        }
        Some(Self(Repr::Inline {
            n: u8::try_from(values.len()).ok()?,
            ends,
            bytes,
        }))
    }

    /// The number of values.
    ///
    /// ```
    /// use perf_instrument::LabelValues;
    /// assert_eq!(LabelValues::from(["x", "y", "z"]).len(), 3);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline { n, .. } => usize::from(*n),
            Repr::Shared(values) => values.len(),
        }
    }

    /// Whether there are no values (a family without labels).
    ///
    /// ```
    /// use perf_instrument::LabelValues;
    /// assert!(LabelValues::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`, if there is one.
    ///
    /// ```
    /// use perf_instrument::LabelValues;
    /// let values = LabelValues::from(["GET"]);
    /// assert_eq!(values.get(0), Some("GET"));
    /// assert_eq!(values.get(1), None);
    /// ```
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&str> {
        match &self.0 {
            Repr::Inline { .. } => {
                // Whole values of `&str`s were copied in, so every value is UTF-8.
                std::str::from_utf8(self.bytes(i)?).ok()
            }
            Repr::Shared(values) => values.get(i).map(String::as_str),
        }
    }

    /// The bytes of value `i` (comparing them needs no UTF-8 check).
    #[inline]
    pub(crate) fn bytes(&self, i: usize) -> Option<&[u8]> {
        match &self.0 {
            Repr::Inline { n, ends, bytes } => {
                if i >= usize::from(*n) {
                    return None;
                }
                let start = i.checked_sub(1).map_or(0, |p| usize::from(ends[p]));
                bytes.get(start..usize::from(ends[i]))
            }
            Repr::Shared(values) => values.get(i).map(String::as_bytes),
        }
    }

    /// The values' bytes in order.
    pub(crate) fn byte_values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).filter_map(|i| self.bytes(i))
    }

    /// The values in order.
    ///
    /// ```
    /// use perf_instrument::LabelValues;
    /// let values = LabelValues::from(["a", "b"]);
    /// assert_eq!(values.iter().rev().collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            values: self,
            front: 0,
            back: self.len(),
        }
    }

    /// The values as owned strings.
    ///
    /// ```
    /// use perf_instrument::LabelValues;
    /// assert_eq!(LabelValues::from(["a"]).to_vec(), vec!["a".to_string()]);
    /// ```
    #[must_use]
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }

    /// Heap bytes held beyond the value itself: none for a set kept in place.
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Shared(values) => {
                // The slice behind its two reference counts, and each value's buffer.
                2 * std::mem::size_of::<usize>()
                    + values
                        .iter()
                        .map(|v| std::mem::size_of::<String>() + v.len())
                        .sum::<usize>()
            }
        }
    }
}

impl Default for LabelValues {
    fn default() -> Self {
        Self(Repr::Inline {
            n: 0,
            ends: [0; INLINE_VALUES],
            bytes: [0; INLINE_BYTES],
        })
    }
}

impl std::ops::Index<usize> for LabelValues {
    type Output = str;

    /// Value `i`; panics when there is none, as slice indexing does.
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(v) => v,
            None => panic!("label value {i} of {}", self.len()),
        }
    }
}

impl PartialEq for LabelValues {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.byte_values().eq(other.byte_values())
    }
}

impl Eq for LabelValues {}

impl<S: AsRef<str>> PartialEq<[S]> for LabelValues {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len()
            && other
                .iter()
                .enumerate()
                .all(|(i, v)| self.bytes(i) == Some(v.as_ref().as_bytes()))
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for LabelValues {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for LabelValues {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl Hash for LabelValues {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for b in self.byte_values() {
            state.write_usize(b.len());
            state.write(b);
        }
    }
}

impl fmt::Debug for LabelValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a LabelValues {
    type Item = &'a str;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The values of a [`LabelValues`] in order, from [`LabelValues::iter`].
///
/// ```
/// use perf_instrument::LabelValues;
/// let values = LabelValues::from(["a", "b", "c"]);
/// let mut iter = values.iter();
/// assert_eq!(iter.len(), 3);
/// assert_eq!((iter.next(), iter.next_back()), (Some("a"), Some("c")));
/// ```
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    values: &'a LabelValues,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.values.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.values.get(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}

impl From<Vec<String>> for LabelValues {
    fn from(values: Vec<String>) -> Self {
        Self::inline(&values).unwrap_or_else(|| Self(Repr::Shared(values.into())))
    }
}

impl From<Arc<[String]>> for LabelValues {
    fn from(values: Arc<[String]>) -> Self {
        Self::inline(&values).unwrap_or(Self(Repr::Shared(values)))
    }
}

impl From<&[String]> for LabelValues {
    fn from(values: &[String]) -> Self {
        Self::from_slice(values)
    }
}

impl From<&[&str]> for LabelValues {
    fn from(values: &[&str]) -> Self {
        Self::from_slice(values)
    }
}

impl<const N: usize> From<[&str; N]> for LabelValues {
    fn from(values: [&str; N]) -> Self {
        Self::from_slice(&values)
    }
}

impl<S: AsRef<str>> FromIterator<S> for LabelValues {
    fn from_iter<I: IntoIterator<Item = S>>(values: I) -> Self {
        Self::new(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash(v: &LabelValues) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn a_short_set_is_kept_in_place_and_a_long_one_shared() {
        assert!(matches!(
            LabelValues::from(["GET", "200"]).0,
            Repr::Inline { .. }
        ));
        let long = "x".repeat(INLINE_BYTES + 1);
        assert!(matches!(
            LabelValues::from([long.as_str()]).0,
            Repr::Shared(_)
        ));
        assert!(matches!(
            LabelValues::from(["a"; INLINE_VALUES + 1]).0,
            Repr::Shared(_)
        ));
        assert!(std::mem::size_of::<LabelValues>() <= 40);
    }

    #[test]
    fn both_forms_read_compare_and_hash_alike() {
        let sets: [&[&str]; 6] = [
            &[],
            &["", ""],
            &["GET", "200", "é", "/"],
            &["a"; INLINE_VALUES + 1],
            &["0123456789abcdef0123456789abcdef01", "z"],
            &["0123456789abcdef0123456789abcdef01"],
        ];
        for values in sets {
            let owned: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            let inline_or_not = LabelValues::from(values);
            let shared = LabelValues(Repr::Shared(owned.clone().into()));
            assert_eq!(inline_or_not.len(), values.len());
            assert_eq!(inline_or_not.iter().collect::<Vec<_>>(), values);
            assert_eq!(inline_or_not, shared);
            assert_eq!(hash(&inline_or_not), hash(&shared));
            assert_eq!(inline_or_not, *values);
            assert_eq!(inline_or_not.to_vec(), owned);
            assert_eq!(LabelValues::from(Arc::<[String]>::from(owned)), shared);
            assert_eq!(inline_or_not.get(values.len()), None);
        }
    }

    #[test]
    fn value_boundaries_count_in_equality_and_hashing() {
        let a = LabelValues::from(["ab", "c"]);
        let b = LabelValues::from(["a", "bc"]);
        assert_ne!(a, b);
        assert_ne!(hash(&a), hash(&b));
        assert_ne!(LabelValues::from(["a"]), LabelValues::from(["a", ""]));
    }

    #[test]
    fn exactly_full_inline_capacity_round_trips() {
        let parts = ["0123456789", "0123456789", "0123456789", "0123"];
        let v = LabelValues::from(parts);
        assert!(matches!(v.0, Repr::Inline { .. }));
        assert_eq!(v, parts);
    }
}
