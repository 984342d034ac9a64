//! The bucket layout every histogram shares: Prometheus native-histogram schema 3.
//!
//! A recorded integer `v >= 1` falls in native bucket `i = ceil(8 * log2(v))`, the bucket whose
//! range is `(2^((i-1)/8), 2^(i/8)]`; `v = 0` falls in the zero bucket. Eight buckets per octave
//! give neighbouring bounds a ratio of `2^(1/8) ≈ 1.0905`, so a value reported from a bucket is
//! within [`RELATIVE_ERROR`] of any value in it. The layout is fixed: two histograms merge by
//! adding their bucket arrays, and the buckets are exactly the native buckets Prometheus uses for
//! schema 3, so they export without re-bucketing.
//!
//! Values range from 0 to [`MAX_VALUE`] (2^48); larger ones are clamped into the top bucket and
//! counted. The index of a value is found with integer operations only: the octave from
//! `leading_zeros`, a linear guess from the next three bits, and one compare against the exact
//! integer bound `floor(2^(i/8))` (the log bound always lies inside the linear eighth that the
//! guess picks, so the answer is the guess or the next bucket).

/// Prometheus native-histogram schema of the layout: `2^SCHEMA` buckets per power of two.
///
/// ```
/// use perf_instrument::{Histogram, Unit, SCHEMA};
/// // 2^SCHEMA buckets per power of two: 2 and 4 are that many buckets apart.
/// let h = Histogram::new(Unit::Count);
/// h.record(2);
/// h.record(4);
/// let index: Vec<i32> = h.snapshot().buckets().filter(|b| b.count > 0).filter_map(|b| b.native_index).collect();
/// assert_eq!(index[1] - index[0], 1 << SCHEMA);
/// ```
pub const SCHEMA: i32 = 3;

/// Base-2 logarithm of [`MAX_VALUE`]. Loom models use a short layout (values up to 16), so
/// that a snapshot's loads stay within what a model can explore; the code paths are the same.
#[cfg(not(perf_instrument_loom))]
const MAX_EXPONENT: u32 = 48;
#[cfg(perf_instrument_loom)]
const MAX_EXPONENT: u32 = 4;

/// Largest value a histogram stores (2^48); larger values are clamped to it and counted.
///
/// For time histograms that is 2^18 s (about 72.8 hours); for counts and bytes, 2^48.
///
/// ```
/// use perf_instrument::{Histogram, Unit, MAX_VALUE};
/// let h = Histogram::new(Unit::Count);
/// h.record(u64::MAX); // clamped and counted, never a panic
/// let snapshot = h.snapshot();
/// assert_eq!((snapshot.count(), snapshot.clamped()), (1, 1));
/// assert_eq!(snapshot.max(), Some(MAX_VALUE as f64));
/// ```
pub const MAX_VALUE: u64 = 1 << MAX_EXPONENT;

/// Largest relative error of a value a snapshot reports from a bucket (a quantile, a mean that
/// falls in one bucket), against any recorded value in that bucket: `(r - 1) / (r + 1)` with
/// `r = 2^(1/8)`, just under 4.33%.
///
/// ```
/// let r = 2f64.powf(1.0 / 8.0);
/// assert!((r - 1.0) / (r + 1.0) <= perf_instrument::RELATIVE_ERROR);
/// ```
pub const RELATIVE_ERROR: f64 = 0.043_3;

/// Native index of [`MAX_VALUE`]: `8 * 48`.
pub(crate) const TOP_INDEX: usize = 8 * MAX_EXPONENT as usize;

/// Slots in a bucket array: the zero bucket, then native indexes `0..=TOP_INDEX`.
pub(crate) const SLOTS: usize = TOP_INDEX + 2;

/// `floor(2^(64 + j/8))` for `j` in `0..8`, exact (checked in the tests against big-integer
/// arithmetic): the integer bound of native index `8k + j` is `(ROOTS[j] << k) >> 64`, exactly,
/// because shifting an integer right only drops fraction bits that were already below one.
const ROOTS: [u128; 8] = [
    0x1_0000_0000_0000_0000,
    0x1_172b_83c7_d517_adcd,
    0x1_306f_e0a3_1b71_52de,
    0x1_4bfd_ad53_62a2_71d4,
    0x1_6a09_e667_f3bc_c908,
    0x1_8ace_5422_aa0d_b5ba,
    0x1_ae89_f995_ad3a_d5e8,
    0x1_d581_8dcf_ba48_725d,
];

/// `BOUNDS[i] = floor(2^(i/8))`: the largest integer in native bucket `i`.
pub(crate) const BOUNDS: [u64; TOP_INDEX + 1] = {
    let mut bounds = [0u64; TOP_INDEX + 1];
    let mut i = 0;
    while i <= TOP_INDEX {
        bounds[i] = ((ROOTS[i % 8] << (i / 8)) >> 64) as u64;
        i += 1;
    }
    bounds
};

/// Slots of the values 0 to 8, whose octaves are too narrow for the three-bit guess.
const SMALL: [usize; 9] = {
    let mut small = [0usize; 9];
    let mut v = 1;
    while v <= 8 {
        let mut i = 0;
        while (v as u64) > BOUNDS[i] {
            i += 1;
        }
        small[v] = i + 1;
        v += 1;
    }
    small
};

/// The slot (0 = zero bucket, `i + 1` = native index `i`) of a value `v <= MAX_VALUE`.
#[inline(always)]
pub(crate) fn slot(v: u64) -> usize {
    debug_assert!(v <= MAX_VALUE);
    if v <= 8 {
        return SMALL[v as usize];
    }
    // v is in the octave (2^k, 2^(k+1)] with k >= 3.
    let m = v - 1;
    let k = 63 - m.leading_zeros();
    // Which linear eighth of the octave m is in.
    let eighth = ((m >> (k - 3)) & 7) as usize;
    let guess = (k as usize) * 8 + eighth + 1;
    guess + usize::from(v > BOUNDS[guess]) + 1
}

/// The integers a slot holds, `lo..=hi` (empty when `lo > hi`: low native buckets that no
/// integer falls in).
#[inline]
pub(crate) fn slot_range(slot: usize) -> (u64, u64) {
    match slot {
        0 => (0, 0),
        1 => (1, 1),
        s => (BOUNDS[s - 2] + 1, BOUNDS[s - 1]),
    }
}

/// Native-histogram index of a slot (`None` for the zero bucket).
#[inline]
pub(crate) fn native_index(slot: usize) -> Option<i32> {
    // Slots are below 386, so the index fits in an i32.
    slot.checked_sub(1).map(|i| i as i32)
}

/// The value reported for recorded values known to lie in `lo..=hi`: the point `2·lo·hi/(lo+hi)`
/// whose largest relative error against both ends is equal, `(hi - lo) / (hi + lo)`.
#[inline]
pub(crate) fn representative(lo: u64, hi: u64) -> f64 {
    if lo >= hi || lo == 0 {
        return hi as f64;
    }
    let (lo, hi) = (lo as f64, hi as f64);
    2.0 * lo * hi / (lo + hi)
}

pub use crate::clock::TIME_UNITS_PER_SECOND;

/// Native index offset between storage units and seconds for time histograms: `8 * 30`.
pub(crate) const TIME_INDEX_OFFSET: i32 = 240;

pub(crate) use crate::clock::nanos_to_units;

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    /// Reference: the smallest native index whose bound is at least `v`.
    fn reference_slot(v: u64) -> usize {
        if v == 0 {
            return 0;
        }
        BOUNDS.partition_point(|&b| b < v) + 1
    }

    /// Little-endian base-2^32 big integers, just enough to check the roots exactly.
    fn big_pow(base: u128, exp: u32) -> Vec<u64> {
        let mut acc = vec![1u64];
        let limbs = [
            base as u32,
            (base >> 32) as u32,
            (base >> 64) as u32,
            (base >> 96) as u32,
        ];
        for _ in 0..exp {
            let mut out = vec![0u64; acc.len() + limbs.len() + 1];
            for (i, &a) in acc.iter().enumerate() {
                let mut carry = 0u64;
                for (j, &b) in limbs.iter().enumerate() {
                    let t = out[i + j] + a * u64::from(b) + carry;
                    out[i + j] = t & 0xffff_ffff;
                    carry = t >> 32;
                }
                let mut k = i + limbs.len();
                while carry > 0 {
                    let t = out[k] + carry;
                    out[k] = t & 0xffff_ffff;
                    carry = t >> 32;
                    k += 1;
                }
            }
            while out.len() > 1 && *out.last().unwrap() == 0 {
                out.pop();
            }
            acc = out;
        }
        acc
    }

    fn big_cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    fn big_pow2(bits: u32) -> Vec<u64> {
        let mut v = vec![0u64; (bits / 32) as usize + 1];
        v[(bits / 32) as usize] = 1 << (bits % 32);
        v
    }

    #[test]
    fn roots_are_exact_floors_of_eighth_roots() {
        for (j, &root) in ROOTS.iter().enumerate() {
            let target = big_pow2(512 + j as u32);
            assert_ne!(
                big_cmp(&big_pow(root, 8), &target),
                std::cmp::Ordering::Greater
            );
            assert_eq!(
                big_cmp(&big_pow(root + 1, 8), &target),
                std::cmp::Ordering::Greater
            );
        }
    }

    #[test]
    fn bounds_match_powers_of_two_and_floating_point() {
        for k in 0..=48 {
            assert_eq!(BOUNDS[8 * k], 1u64 << k);
        }
        for (i, &b) in BOUNDS.iter().enumerate() {
            let f = 2f64.powf(i as f64 / 8.0);
            assert!(
                (b as f64 - f.floor()).abs() <= f * 1e-12 + 1.0,
                "{i}: {b} vs {f}"
            );
        }
    }

    #[test]
    fn slot_matches_reference_for_every_small_value() {
        for v in 0..(1u64 << 20) {
            assert_eq!(slot(v), reference_slot(v), "v = {v}");
        }
    }

    #[test]
    fn slot_matches_reference_at_every_bucket_edge() {
        for &b in BOUNDS.iter() {
            for v in [b.saturating_sub(1), b, b + 1] {
                if v <= MAX_VALUE {
                    assert_eq!(slot(v), reference_slot(v), "v = {v}");
                }
            }
        }
        assert_eq!(slot(MAX_VALUE), SLOTS - 1);
    }

    #[test]
    fn slot_ranges_tile_the_integers() {
        let mut next = 0u64;
        for s in 0..SLOTS {
            let (lo, hi) = slot_range(s);
            if lo > hi {
                continue;
            }
            assert_eq!(lo, next, "slot {s} starts where the previous one ended");
            assert_eq!(slot(lo), s);
            assert_eq!(slot(hi), s);
            next = hi + 1;
        }
        assert_eq!(next, MAX_VALUE + 1);
    }

    #[test]
    fn representative_error_is_within_the_stated_bound_in_every_slot() {
        let exact = (2f64.powf(0.125) - 1.0) / (2f64.powf(0.125) + 1.0);
        assert!(exact <= RELATIVE_ERROR && RELATIVE_ERROR - exact < 1e-4);
        for s in 0..SLOTS {
            let (lo, hi) = slot_range(s);
            if lo > hi || lo == 0 {
                continue;
            }
            let r = representative(lo, hi);
            for x in [lo, hi] {
                let err = (r - x as f64).abs() / x as f64;
                assert!(
                    err <= RELATIVE_ERROR,
                    "slot {s} [{lo}, {hi}] r={r} x={x} err={err}"
                );
            }
        }
    }

    #[test]
    fn a_duration_is_stored_at_or_below_a_bound_exactly_when_it_is_at_or_below_it() {
        // Every bucket's upper bound U, as the classic `le = U / 2^30` s: the longest whole
        // nanosecond duration at or below it lands at or below U, the next one above it.
        for slot in 1..SLOTS {
            let upper = slot_range(slot).1;
            if upper >= 1 << 40 {
                break;
            }
            let at_or_below = u64::try_from((u128::from(upper) * 1_000_000_000) >> 30).unwrap();
            assert!(nanos_to_units(at_or_below) <= upper, "slot {slot}");
            assert!(nanos_to_units(at_or_below + 1) > upper, "slot {slot}");
        }
        // The example of a value just above `le = 0.0001220703125` s (2^17 units).
        assert_eq!(nanos_to_units(122_070), 1 << 17);
        assert_eq!(nanos_to_units(122_071), (1 << 17) + 1);
    }
}
