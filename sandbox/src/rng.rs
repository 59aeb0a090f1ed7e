//! Deterministic numbers for the sandbox's generated data.
//!
//! Every generated value is a pure function of `(seed, label, index…)`, not a draw from a
//! stateful generator: a candle or a funding entry then has the same value whichever window a
//! request asks for and in whatever order requests arrive. A seeded `StdRng` advanced per
//! request was rejected for exactly that reason (two overlapping candle windows would disagree).

/// SplitMix64's finaliser: a well-mixed 64-bit hash of one word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a label, so string keys (a coin, a feed) select independent streams.
fn label_hash(label: &str) -> u64 {
    label.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

/// A 64-bit value determined by the seed, a label and a list of indices.
pub fn word(seed: u64, label: &str, indices: &[u64]) -> u64 {
    indices.iter().fold(mix(seed ^ label_hash(label)), |h, i| mix(h ^ mix(*i)))
}

/// A value in `[0, 1)` determined like [`word`].
pub fn unit(seed: u64, label: &str, indices: &[u64]) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (word(seed, label, indices) >> 11) as f64 / (1u64 << 53) as f64
}

/// A value in `[-1, 1)` determined like [`word`].
pub fn signed(seed: u64, label: &str, indices: &[u64]) -> f64 {
    unit(seed, label, indices) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_value_and_inputs_matter() {
        assert_eq!(word(7, "BTC", &[1, 2]), word(7, "BTC", &[1, 2]));
        assert_ne!(word(7, "BTC", &[1, 2]), word(8, "BTC", &[1, 2]));
        assert_ne!(word(7, "BTC", &[1, 2]), word(7, "ETH", &[1, 2]));
        assert_ne!(word(7, "BTC", &[1, 2]), word(7, "BTC", &[2, 1]));
        let u = unit(1, "x", &[3]);
        assert!((0.0..1.0).contains(&u));
    }
}
