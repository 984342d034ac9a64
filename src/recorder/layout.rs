//! The bucket layouts histograms use: Prometheus native-histogram schemas 0 to 8.
//!
//! At schema `s` a recorded integer `v >= 1` falls in native bucket `i = ceil(2^s · log2 v)`, the
//! bucket whose range is `(2^((i-1)/2^s), 2^(i/2^s)]`; `v = 0` falls in the zero bucket. `2^s`
//! buckets per octave give neighbouring bounds a ratio of `2^(2^-s)`, so a value reported from a
//! bucket is within [`Schema::relative_error`] of any value in it. Two histograms of one schema
//! merge by adding their bucket arrays; of two schemas, by first reducing the finer one (each
//! coarse bucket is a whole run of `2^(t-s)` fine ones). The buckets are exactly the native
//! buckets Prometheus uses for the schema, so they export without re-bucketing.
//!
//! Values range from 0 to [`MAX_VALUE`] (2^48); larger ones are clamped into the top bucket and
//! counted. The index of a value is found with integer operations only, at schema 8 first: the
//! octave from `leading_zeros`, a guess from a 512-entry table on the next nine bits, and one
//! compare against the exact integer bound `floor(2^(k + j/256))` (a ninth-bit cell is narrower
//! than any schema-8 bucket, so it holds at most one bound: the answer is the guess or the next
//! bucket). The index at schema `s` is then `ceil(i / 2^(8-s))`, one add and one shift, because
//! `ceil(ceil(x) / n) = ceil(x / n)`.

use std::fmt;

/// A Prometheus native-histogram schema, 0 to 8: `2^schema` buckets per power of two. Finer
/// schemas bound the error of every reported value more tightly and take more buckets (and so
/// more memory) for the same range of values.
///
/// | schema | buckets per octave | [`relative_error`](Schema::relative_error) |
/// | ---: | ---: | ---: |
/// | 0 | 1 | 33.3% |
/// | 1 | 2 | 17.2% |
/// | 2 | 4 | 8.64% |
/// | 3 (default) | 8 | 4.33% |
/// | 4 | 16 | 2.17% |
/// | 5 | 32 | 1.08% |
/// | 6 | 64 | 0.542% |
/// | 7 | 128 | 0.271% |
/// | 8 | 256 | 0.135% |
///
/// ```
/// use perf_instrument::Schema;
/// let fine = Schema::new(8).unwrap();
/// assert_eq!(fine.get(), 8);
/// assert!(fine.relative_error() < 0.0014);
/// assert_eq!(Schema::default(), Schema::DEFAULT);
/// assert_eq!(Schema::new(9), None); // out of range: never a panic
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Schema(u8);

impl Schema {
    /// The default schema, 3: eight buckets per octave, [`RELATIVE_ERROR`] (4.33%).
    ///
    /// ```
    /// assert_eq!(perf_instrument::Schema::DEFAULT.get(), perf_instrument::SCHEMA);
    /// ```
    pub const DEFAULT: Schema = Schema(3);

    /// The coarsest schema, 0: one bucket per octave.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Schema::MIN.buckets_per_octave(), 1);
    /// ```
    pub const MIN: Schema = Schema(0);

    /// The finest schema, 8: 256 buckets per octave.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Schema::MAX.buckets_per_octave(), 256);
    /// ```
    pub const MAX: Schema = Schema(8);

    /// The schema `schema`, or `None` outside `0..=8`.
    ///
    /// ```
    /// use perf_instrument::Schema;
    /// assert_eq!(Schema::new(0), Some(Schema::MIN));
    /// assert_eq!(Schema::new(-1), None);
    /// ```
    #[must_use]
    pub const fn new(schema: i32) -> Option<Schema> {
        if schema >= 0 && schema <= 8 {
            Some(Schema(schema as u8))
        } else {
            None
        }
    }

    /// The schema number, as the native-histogram `schema` field carries it.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Schema::MAX.get(), 8);
    /// ```
    #[must_use]
    pub const fn get(self) -> i32 {
        self.0 as i32
    }

    /// Buckets per power of two: `2^schema`.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Schema::DEFAULT.buckets_per_octave(), 8);
    /// ```
    #[must_use]
    pub const fn buckets_per_octave(self) -> usize {
        1 << self.0
    }

    /// Largest relative error of a value a snapshot reports from a bucket (a quantile, a
    /// minimum), against any recorded value in that bucket: `(r - 1) / (r + 1)` with
    /// `r = 2^(2^-schema)`, the ratio of neighbouring bounds (schema 8: 0.135%, schema 3: 4.33%,
    /// schema 0: 1/3). For time histograms add one storage unit (2^-30 s).
    ///
    /// ```
    /// use perf_instrument::Schema;
    /// assert!((Schema::MIN.relative_error() - 1.0 / 3.0).abs() < 1e-12);
    /// assert!(Schema::DEFAULT.relative_error() <= perf_instrument::RELATIVE_ERROR);
    /// ```
    #[must_use]
    pub fn relative_error(self) -> f64 {
        let r = 2f64.powf(1.0 / f64::from(1u32 << self.0));
        (r - 1.0) / (r + 1.0)
    }

    /// `8 - schema`: the shift from a schema-8 index to one at this schema.
    #[inline(always)]
    pub(crate) const fn shift(self) -> u32 {
        8 - self.0 as u32
    }

    /// Native index offset between storage units and seconds for time histograms: `30 · 2^s`.
    pub(crate) const fn time_index_offset(self) -> i32 {
        30 << self.0
    }

    /// Slots in a bucket array: the zero bucket, then native indexes `0..=48 · 2^s`.
    pub(crate) const fn slots(self) -> usize {
        ((MAX_EXPONENT as usize) << self.0) + 2
    }
}

impl Default for Schema {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The default native-histogram schema (3): `2^SCHEMA` buckets per power of two. A histogram
/// may use another ([`Schema`], [`Histogram::with_schema`](crate::Histogram::with_schema)).
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
pub const SCHEMA: i32 = Schema::DEFAULT.get();

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

/// Largest relative error at the default schema (3): `(r - 1) / (r + 1)` with `r = 2^(1/8)`,
/// just under 4.33%. Other schemas: [`Schema::relative_error`],
/// [`HistogramSnapshot::relative_error`](crate::HistogramSnapshot::relative_error).
///
/// ```
/// let r = 2f64.powf(1.0 / 8.0);
/// assert!((r - 1.0) / (r + 1.0) <= perf_instrument::RELATIVE_ERROR);
/// ```
pub const RELATIVE_ERROR: f64 = 0.043_3;

/// `floor(2^(63 + j/256))` for `j` in `0..256`, exact (checked in the tests against big-integer
/// arithmetic): the integer bound of schema-8 index `256k + j` is `ROOTS[j] >> (63 - k)`,
/// exactly, because shifting an integer right only drops fraction bits already below one.
const ROOTS: [u64; 256] = [
    0x8000_0000_0000_0000,
    0x8058_d7d2_d5e5_f6b0,
    0x80b1_ed4f_d999_ab6c,
    0x810b_40a1_d814_06d4,
    0x8164_d1f3_bc03_0773,
    0x81be_a170_8dde_6055,
    0x8218_af43_73fc_25eb,
    0x8272_fb97_b2a5_894c,
    0x82cd_8698_ac2b_a1d7,
    0x8328_5071_e0fc_4546,
    0x8383_594e_efb6_ee36,
    0x83de_a15b_9541_b132,
    0x843a_28c3_acde_4046,
    0x8495_efb3_303e_fd2f,
    0x84f1_f656_379c_1a29,
    0x854e_3cd8_f9c8_c95d,
    0x85aa_c367_cc48_7b14,
    0x8607_8a2f_2364_2a9f,
    0x8664_915b_923f_ba03,
    0x86c1_d919_caef_5c87,
    0x871f_6196_9e8d_1010,
    0x877d_2afe_fd4e_256c,
    0x87db_357f_f698_d791,
    0x8839_8146_b919_f1d4,
    0x8898_0e80_92da_8527,
    0x88f6_dd5a_f155_ac6b,
    0x8955_ee03_618e_5fdc,
    0x89b5_40a7_9025_57a3,
    0x8a14_d575_496e_fd9a,
    0x8a74_ac9a_7989_6e46,
    0x8ad4_c645_2c72_8924,
    0x8b35_22a3_8e1e_1031,
    0x8b95_c1e3_ea8b_d6e6,
    0x8bf6_a434_adde_0084,
    0x8c57_c9c4_646f_4ddd,
    0x8cb9_32c1_bae9_7a95,
    0x8d1a_df5b_7e5b_a9e5,
    0x8d7c_cfc0_9c50_e2f7,
    0x8ddf_0420_22e6_9cd5,
    0x8e41_7ca9_40e3_5a01,
    0x8ea4_398b_45cd_53c0,
    0x8f07_3af5_a201_3520,
    0x8f6a_8117_e6c8_e5c4,
    0x8fce_0c21_c672_6481,
    0x9031_dc43_1466_b1dc,
    0x9095_f1ab_c540_ca6b,
    0x90fa_4c8b_eee4_b12a,
    0x915e_ed13_c896_89d3,
    0x91c3_d373_ab11_c336,
    0x9228_ffdc_10a0_51ac,
    0x928e_727d_9531_f9ac,
    0x92f4_2b88_f673_aa7c,
    0x935a_2b2f_13e6_e92b,
    0x93c0_71a0_eef9_4bc0,
    0x9426_ff0f_ab1c_04b6,
    0x948d_d3ac_8ddb_7ed3,
    0x94f4_efa8_fef7_0961,
    0x955c_5336_8878_94d5,
    0x95c3_fe86_d6cc_7fee,
    0x962b_f1cb_b8d9_755f,
    0x9694_2d37_2018_5a00,
    0x96fc_b0fb_20ac_4ba2,
    0x9765_7d49_f17a_b08e,
    0x97ce_9255_ec43_57ab,
    0x9837_f051_8db8_a96f,
    0x98a1_976f_7597_e995,
    0x990b_87e2_66c1_89a9,
    0x9975_c1dd_4751_8c77,
    0x99e0_4593_20b7_fa64,
    0x9a4b_1337_1fd1_66ca,
    0x9ab6_2afc_94ff_864a,
    0x9b21_8d16_f441_d63c,
    0x9b8d_39b9_d54e_5538,
    0x9bf9_3118_f3aa_4cc1,
    0x9c65_7368_2ec3_2c2d,
    0x9cd2_00db_8a07_74ca,
    0x9d3e_d9a7_2cff_b750,
    0x9dab_fdff_6367_a2a9,
    0x9e19_6e18_9d47_2420,
    0x9e87_2a27_6f0b_98ff,
    0x9ef5_3260_91a1_11ad,
    0x9f63_86f8_e28b_a650,
    0x9fd2_2825_6400_dd05,
    0xa041_161b_3d01_21bd,
    0xa0b0_510f_b971_4fc2,
    0xa11f_d938_4a34_4cf7,
    0xa18f_aeca_8544_b6e3,
    0xa1ff_d1fc_25ce_a188,
    0xa270_4303_0c49_6818,
    0xa2e1_0215_3e91_8f9e,
    0xa352_0f68_e802_bb92,
    0xa3c3_6b34_5991_b47b,
    0xa435_15ae_09e6_809e,
    0xa4a7_0f0c_9576_8ec4,
    0xa519_5786_be9e_f339,
    0xa58b_ef53_6dbe_b6ed,
    0xa5fe_d6a9_b151_38ea,
    0xa672_0dc0_be08_a20b,
    0xa6e5_94cf_eee8_6b1d,
    0xa759_6c0e_c55f_f55b,
    0xa7cd_93b4_e965_3569,
    0xa842_0bfa_298f_70d1,
    0xa8b6_d516_7b32_0e08,
    0xa92b_ef41_fa77_771b,
    0xa9a1_5ab4_ea7c_0ef8,
    0xaa17_17a7_b569_3979,
    0xaa8d_2652_ec90_7629,
    0xab03_86ef_4886_8de0,
    0xab7a_39b5_a93e_d337,
    0xabf1_3edf_1626_75e8,
    0xac68_96a4_be3f_e929,
    0xace0_413f_f83e_5d03,
    0xad58_3eea_42a1_4ac6,
    0xadd0_8fdd_43d0_1491,
    0xae49_3452_ca35_b80e,
    0xaec2_2c84_cc5c_9465,
    0xaf3b_78ad_690a_4374,
    0xafb5_1906_e75b_8661,
    0xb02f_0dcb_b6e0_4583,
    0xb0a9_5736_6fb7_a3c9,
    0xb123_f581_d2ac_258f,
    0xb19e_e8e8_c94f_eb08,
    0xb21a_31a6_6618_fe3b,
    0xb295_cff5_e47d_b4a3,
    0xb311_c412_a911_2489,
    0xb38e_0e38_419f_ae17,
    0xb40a_aea2_654b_9840,
    0xb487_a58c_f4a9_c180,
    0xb504_f333_f9de_6484,
    0xb582_97d3_a8b9_f0d1,
    0xb600_93a8_5ed5_f76b,
    0xb67e_e6ee_a3b2_2b8f,
    0xb6fd_91e3_28d1_7791,
    0xb77c_94c2_c9d7_25e8,
    0xb7fb_efca_8ca4_1e7c,
    0xb87b_a337_a174_3833,
    0xb8fb_af47_62fb_9ee9,
    0xb97c_1437_5684_4dbe,
    0xb9fc_d245_2c0b_9dea,
    0xba7d_e9ae_be5f_ea08,
    0xbaff_5ab2_133e_45fb,
    0xbb81_258d_5b70_4b6f,
    0xbc03_4a7e_f2e9_fb0c,
    0xbc85_c9c5_60e7_b269,
    0xbd08_a39f_580c_36be,
    0xbd8b_d84b_b67e_d482,
    0xbe0f_6809_8609_93e2,
    0xbe93_5317_fc37_8237,
    0xbf17_99b6_7a73_1082,
    0xbf9c_3c24_8e24_86f8,
    0xc021_3aa1_f0d0_8db0,
    0xc0a6_956e_8836_ca8c,
    0xc12c_4cca_6670_9456,
    0xc1b2_60f5_ca0f_bb33,
    0xc238_d231_1e3d_6672,
    0xc2bf_a0bc_fad9_07c8,
    0xc346_ccda_2497_6407,
    0xc3ce_56c9_8d21_b15d,
    0xc456_3ecc_5334_cb32,
    0xc4de_8523_c2c0_7baa,
    0xc567_2a11_5506_dadd,
    0xc5f0_2dd6_b0bb_c3d9,
    0xc679_90b5_aa24_5f79,
    0xc703_52f0_4336_c51d,
    0xc78d_74c8_abb9_b15c,
    0xc817_f681_4164_52b2,
    0xc8a2_d85c_8ffe_2c45,
    0xc92e_1a9d_517f_0ecb,
    0xc9b9_bd86_6e2f_27a2,
    0xca45_c15a_fcc7_2623,
    0xcad2_265e_4290_774d,
    0xcb5e_ecd3_b385_97c8,
    0xcbec_14fe_f272_7c5c,
    0xcc79_9f23_d115_10e5,
    0xcd07_8b86_503d_cdd1,
    0xcd95_da6a_9ff0_6444,
    0xce24_8c15_1f84_80e3,
    0xceb3_a0ca_5dc6_a55d,
    0xcf43_18cf_1919_18c1,
    0xcfd2_f468_3f94_eeb5,
    0xd063_33da_ef2b_2594,
    0xd0f3_d76c_75c5_db8c,
    0xd184_df62_5169_9ac6,
    0xd216_4c02_3056_bcab,
    0xd2a8_1d91_f12a_e45a,
    0xd33a_5457_a302_9054,
    0xd3cc_f099_859a_c379,
    0xd45f_f29e_0972_c560,
    0xd4f3_5aab_cfed_fa1f,
    0xd587_2909_ab75_d189,
    0xd61b_5dfe_9f9b_ce06,
    0xd6af_f9d1_e13b_a2fd,
    0xd744_fcca_d69d_6af4,
    0xd7da_6731_1797_f569,
    0xd870_394c_6db3_2c84,
    0xd906_7364_d44a_929b,
    0xd99d_15c2_78af_d7b5,
    0xda34_20ad_ba4d_8704,
    0xdacb_946f_2ac9_cc71,
    0xdb63_714f_8e29_5255,
    0xdbfb_b797_daf2_3755,
    0xdc94_6791_3a4f_1c91,
    0xdd2d_8185_0832_4c20,
    0xddc7_05bc_d378_f7f0,
    0xde60_f482_5e0e_9123,
    0xdefb_4e1f_9d10_37f1,
    0xdf96_12de_b8f0_4420,
    0xe031_430a_0d99_e627,
    0xe0cc_deec_2a94_e111,
    0xe168_e6cf_d329_5d23,
    0xe205_5aff_fe83_d368,
    0xe2a2_3bc7_d7d9_1225,
    0xe33f_8972_be8a_5a51,
    0xe3dd_444c_4649_9618,
    0xe47b_6ca0_373d_a88d,
    0xe51a_02ba_8e26_d680,
    0xe5b9_06e7_7c83_48a8,
    0xe658_7973_68b3_a716,
    0xe6f8_5aaa_ee1f_ce22,
    0xe798_aada_dd5b_9cbe,
    0xe839_6a50_3c4b_dc68,
    0xe8da_9958_464b_42aa,
    0xe97c_3840_6c4f_8c56,
    0xea1e_4756_550e_b27b,
    0xeac0_c6e7_dd24_392e,
    0xeb63_b743_1736_983f,
    0xec07_18b6_4c1c_bddc,
    0xecaa_eb8f_fb03_ab40,
    0xed4f_301e_d994_2b84,
    0xedf3_e6b1_d418_a491,
    0xee99_0f98_0da3_025b,
    0xef3e_ab20_e032_bc6b,
    0xefe4_b99b_dcda_f5cb,
    0xf08b_3b58_cbe8_b76a,
    0xf132_30a7_ad09_4509,
    0xf1d9_99d8_b770_8cc1,
    0xf281_773c_59ff_b139,
    0xf329_c923_3b6b_ae9c,
    0xf3d2_8fde_3a64_1a5a,
    0xf47b_cbbe_6db9_fdde,
    0xf525_7d15_2486_cc2c,
    0xf5cf_a433_e653_7290,
    0xf67a_416c_733f_846d,
    0xf725_5510_c428_8238,
    0xf7d0_df73_0ad1_3bb8,
    0xf87c_e0e5_b209_4d9b,
    0xf929_59bb_5dd4_ba74,
    0xf9d6_4a46_eb93_9f35,
    0xfa83_b2db_722a_033a,
    0xfb31_93cc_4227_c3f4,
    0xfbdf_ed6c_e5f0_9c48,
    0xfc8e_c011_21e4_47bb,
    0xfd3e_0c0c_f486_c174,
    0xfded_d1b4_96a8_9f34,
    0xfe9e_115c_7b8f_884b,
    0xff4e_cb59_511e_c8a5,
];

/// `floor(2^(i/256))`: the largest integer in schema-8 native bucket `i` (`i <= 256 · 48`).
#[inline(always)]
const fn bound8(i: usize) -> u64 {
    ROOTS[i % 256] >> (63 - i / 256)
}

/// For the nine mantissa bits `t` after the leading one of `m` (octave `k >= 9`): how many of
/// the octave's inner bounds `2^(k + j/256)`, `j` in `1..=255`, lie at or below the cell's start
/// `2^k · (1 + t/512)` (capped at 254, so that the bound compared next exists; a cell past the
/// 255th bound holds no other one).
const GUESS: [u8; 512] = {
    let mut guess = [0u8; 512];
    let mut t = 0;
    while t < 512 {
        let start = ((512 + t) as u64) << 54;
        let mut j = 1;
        while j < 256 && ROOTS[j] <= start {
            j += 1;
        }
        guess[t] = if j - 1 > 254 { 254 } else { (j - 1) as u8 };
        t += 1;
    }
    guess
};

/// Schema-8 indexes of the values 1 to 512, whose octaves are too narrow for the nine-bit guess.
const SMALL: [u16; 513] = {
    let mut small = [0u16; 513];
    let mut v = 1;
    let mut i = 0;
    while v <= 512 {
        while (v as u64) > bound8(i) {
            i += 1;
        }
        small[v] = i as u16;
        v += 1;
    }
    small
};

/// The schema-8 native index of a value `1 <= v <= MAX_VALUE`.
#[inline(always)]
fn index8(v: u64) -> usize {
    if v <= 512 {
        return SMALL[v as usize] as usize;
    }
    // v is in the octave (2^k, 2^(k+1)] with k >= 9; m = v - 1 is in [2^k, 2^(k+1)), and
    // v <= bound exactly when m < bound.
    let m = v - 1;
    let k = 63 - m.leading_zeros();
    let t = ((m >> (k - 9)) & 511) as usize;
    let j = GUESS[t] as usize;
    let next = ROOTS[j + 1] >> (63 - k);
    (k as usize) * 256 + 1 + j + usize::from(m >= next)
}

/// `floor(2^(i/8))` for the schema-3 native indexes `i <= 8 · 48`: the default schema's own
/// bounds, so that its index needs no reduction (`ROOTS[32 j] = floor(2^(63 + j/8))`).
const BOUNDS3: [u64; 8 * MAX_EXPONENT as usize + 1] = {
    let mut bounds = [0u64; 8 * MAX_EXPONENT as usize + 1];
    let mut i = 0;
    while i < bounds.len() {
        bounds[i] = bound8(32 * i);
        i += 1;
    }
    bounds
};

/// Schema-3 slots of the values 0 to 8, whose octaves are too narrow for the three-bit guess.
const SMALL3: [u8; 9] = {
    // The schema-8 index reduced to schema 3, as `slot` does for every other schema.
    let mut small = [0u8; 9];
    let mut v = 1;
    while v <= 8 {
        small[v] = (((SMALL[v] as usize + 31) >> 5) + 1) as u8;
        v += 1;
    }
    small
};

/// The slot of `v` at schema 3, the default, directly: the octave from `leading_zeros`, a
/// linear guess from the next three bits, and one compare against the exact bound (the log
/// bound always lies inside the linear eighth the guess picks, so the answer is the guess or
/// the next bucket). Two small tables, no reduction: the common case's record stays as cheap
/// as when schema 3 was the only one.
#[inline(always)]
fn slot3(v: u64) -> usize {
    if v <= 8 {
        return SMALL3[v as usize] as usize;
    }
    let m = v - 1;
    let k = 63 - m.leading_zeros();
    let eighth = ((m >> (k - 3)) & 7) as usize;
    let guess = (k as usize) * 8 + eighth + 1;
    guess + usize::from(v > BOUNDS3[guess]) + 1
}

/// The slot (0 = zero bucket, `i + 1` = native index `i`) at `schema` of a value
/// `v <= MAX_VALUE`.
#[inline(always)]
pub(crate) fn slot(v: u64, schema: Schema) -> usize {
    debug_assert!(v <= MAX_VALUE);
    if schema.get() == 3 {
        return slot3(v);
    }
    if v == 0 {
        return 0;
    }
    let shift = schema.shift();
    ((index8(v) + (1 << shift) - 1) >> shift) + 1
}

/// The slot at the coarser schema `to` of slot `slot` at `from` (`to <= from`): native index `i`
/// becomes `ceil(i / 2^(from - to))`.
#[inline]
pub(crate) fn reduce_slot(slot: usize, from: Schema, to: Schema) -> usize {
    let d = from.0.saturating_sub(to.0);
    match slot {
        0 => 0,
        s => ((s - 1 + (1 << d) - 1) >> d) + 1,
    }
}

/// `floor(2^(i / 2^s))`, the largest integer in native bucket `i` at `schema`.
#[inline]
fn bound(i: usize, schema: Schema) -> u64 {
    bound8(i << schema.shift())
}

/// The integers a slot holds at `schema`, `lo..=hi` (empty when `lo > hi`: low native buckets
/// that no integer falls in).
#[inline]
pub(crate) fn slot_range(slot: usize, schema: Schema) -> (u64, u64) {
    match slot {
        0 => (0, 0),
        1 => (1, 1),
        s => (bound(s - 2, schema) + 1, bound(s - 1, schema)),
    }
}

/// Native-histogram index of a slot (`None` for the zero bucket).
#[inline]
pub(crate) fn native_index(slot: usize) -> Option<i32> {
    // Slots are below 12,290, so the index fits in an i32.
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

pub(crate) use crate::clock::nanos_to_units;

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    /// The schema-3 fast path against the general one (schema-8 index reduced by 5).
    #[test]
    fn schema_3_fast_path_matches_the_reduced_schema_8_index() {
        let general = |v: u64| {
            if v == 0 {
                0
            } else {
                ((index8(v) + 31) >> 5) + 1
            }
        };
        for v in 0..(1u64 << 20) {
            assert_eq!(slot3(v), general(v), "v = {v}");
        }
        for &b in &BOUNDS3 {
            for v in [b.saturating_sub(1), b, b + 1] {
                if v <= MAX_VALUE {
                    assert_eq!(slot3(v), general(v), "v = {v}");
                }
            }
        }
        assert_eq!(slot3(MAX_VALUE), Schema::DEFAULT.slots() - 1);
    }

    const ALL: [Schema; 9] = {
        let mut all = [Schema(0); 9];
        let mut s = 0;
        while s < 9 {
            all[s] = Schema(s as u8);
            s += 1;
        }
        all
    };

    /// Reference: the smallest native index at `schema` whose bound is at least `v`.
    fn reference_slot(v: u64, schema: Schema) -> usize {
        if v == 0 {
            return 0;
        }
        let top = schema.slots() - 2;
        let (mut lo, mut hi) = (0usize, top);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if bound(mid, schema) < v {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo + 1
    }

    /// Little-endian base-2^32 big integers, just enough to check the roots exactly.
    fn big_pow(base: u64, exp: u32) -> Vec<u64> {
        let mut acc = vec![1u64];
        let limbs = [base as u32, (base >> 32) as u32];
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
    fn roots_are_exact_floors_of_256th_roots() {
        for (j, &root) in ROOTS.iter().enumerate() {
            // root^256 <= 2^(63·256 + j) < (root + 1)^256
            let target = big_pow2(63 * 256 + j as u32);
            assert_ne!(
                big_cmp(&big_pow(root, 256), &target),
                std::cmp::Ordering::Greater,
                "{j}"
            );
            assert_eq!(
                big_cmp(&big_pow(root + 1, 256), &target),
                std::cmp::Ordering::Greater,
                "{j}"
            );
        }
    }

    #[test]
    fn bounds_match_powers_of_two_and_floating_point() {
        for schema in ALL {
            for k in 0..=48 {
                assert_eq!(bound(k << schema.0, schema), 1u64 << k);
            }
            for i in 0..schema.slots() - 1 {
                let b = bound(i, schema);
                let f = 2f64.powf(i as f64 / schema.buckets_per_octave() as f64);
                assert!(
                    (b as f64 - f.floor()).abs() <= f * 1e-12 + 1.0,
                    "{schema} {i}: {b} vs {f}"
                );
            }
        }
        // The schema-3 bounds are the ones the layout used before schemas were a choice.
        assert_eq!(bound(13, Schema::DEFAULT), 3);
        assert_eq!(bound(1, Schema::DEFAULT), 1);
    }

    #[test]
    fn slot_matches_reference_for_every_small_value_at_every_schema() {
        for schema in ALL {
            for v in 0..(1u64 << 17) {
                assert_eq!(
                    slot(v, schema),
                    reference_slot(v, schema),
                    "{schema} v = {v}"
                );
            }
        }
        for v in (1u64 << 17)..(1u64 << 21) {
            assert_eq!(
                slot(v, Schema::MAX),
                reference_slot(v, Schema::MAX),
                "v = {v}"
            );
        }
    }

    #[test]
    fn slot_matches_reference_at_every_bucket_edge_at_every_schema() {
        for schema in ALL {
            for i in 0..schema.slots() - 1 {
                let b = bound(i, schema);
                for v in [b.saturating_sub(1), b, b + 1] {
                    if v <= MAX_VALUE {
                        assert_eq!(
                            slot(v, schema),
                            reference_slot(v, schema),
                            "{schema} v = {v}"
                        );
                    }
                }
            }
            assert_eq!(slot(MAX_VALUE, schema), schema.slots() - 1);
        }
    }

    #[test]
    fn slot_ranges_tile_the_integers_at_every_schema() {
        for schema in ALL {
            let mut next = 0u64;
            for s in 0..schema.slots() {
                let (lo, hi) = slot_range(s, schema);
                if lo > hi {
                    continue;
                }
                assert_eq!(
                    lo, next,
                    "{schema}: slot {s} starts where the previous one ended"
                );
                assert_eq!(slot(lo, schema), s);
                assert_eq!(slot(hi, schema), s);
                next = hi + 1;
            }
            assert_eq!(next, MAX_VALUE + 1);
        }
    }

    #[test]
    fn reducing_a_slot_gives_the_slot_of_the_coarser_schema() {
        for from in ALL {
            for to in ALL.iter().copied().filter(|&to| to <= from) {
                for s in 0..from.slots() {
                    let (lo, hi) = slot_range(s, from);
                    if lo > hi {
                        continue;
                    }
                    let reduced = reduce_slot(s, from, to);
                    assert_eq!(reduced, slot(lo, to), "{from}->{to} slot {s}");
                    assert_eq!(reduced, slot(hi, to), "{from}->{to} slot {s}");
                }
            }
        }
    }

    #[test]
    fn representative_error_is_within_the_stated_bound_in_every_slot_at_every_schema() {
        let exact = (2f64.powf(0.125) - 1.0) / (2f64.powf(0.125) + 1.0);
        assert!(exact <= RELATIVE_ERROR && RELATIVE_ERROR - exact < 1e-4);
        assert!((Schema::DEFAULT.relative_error() - exact).abs() < 1e-15);
        assert!((Schema::MAX.relative_error() - 0.001_354).abs() < 1e-6);
        for schema in ALL {
            let bound_err = schema.relative_error();
            for s in 0..schema.slots() {
                let (lo, hi) = slot_range(s, schema);
                if lo > hi || lo == 0 {
                    continue;
                }
                let r = representative(lo, hi);
                for x in [lo, hi] {
                    let err = (r - x as f64).abs() / x as f64;
                    assert!(
                        err <= bound_err * (1.0 + 1e-12),
                        "{schema}: slot {s} [{lo}, {hi}] r={r} x={x} err={err} > {bound_err}"
                    );
                }
            }
        }
    }

    #[test]
    fn schema_new_accepts_zero_to_eight_only() {
        assert_eq!(Schema::new(-1), None);
        assert_eq!(Schema::new(9), None);
        assert_eq!(Schema::new(i32::MAX), None);
        for (s, schema) in ALL.iter().enumerate() {
            assert_eq!(Schema::new(s as i32), Some(*schema));
        }
    }

    #[test]
    fn a_duration_is_stored_at_or_below_a_bound_exactly_when_it_is_at_or_below_it() {
        // Every bucket's upper bound U, as the classic `le = U / 2^30` s: the longest whole
        // nanosecond duration at or below it lands at or below U, the next one above it.
        for schema in [Schema::DEFAULT, Schema::MAX] {
            for slot in 1..schema.slots() {
                let upper = slot_range(slot, schema).1;
                if upper >= 1 << 40 {
                    break;
                }
                let at_or_below = u64::try_from((u128::from(upper) * 1_000_000_000) >> 30).unwrap();
                assert!(nanos_to_units(at_or_below) <= upper, "slot {slot}");
                assert!(nanos_to_units(at_or_below + 1) > upper, "slot {slot}");
            }
        }
        // The example of a value just above `le = 0.0001220703125` s (2^17 units).
        assert_eq!(nanos_to_units(122_070), 1 << 17);
        assert_eq!(nanos_to_units(122_071), (1 << 17) + 1);
    }
}
