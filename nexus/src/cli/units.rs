//! Token amounts as people read them: base units scaled by the token's decimals, trailing zeros
//! dropped (`50000` at 6 decimals is `0.05`). Amounts stay `U256` until printed, so nothing is
//! rounded on the way.

use alloy::primitives::U256;

/// `amount` base units of a token with `decimals` decimals, as a decimal string.
pub fn format_amount(amount: U256, decimals: u8) -> String {
    let scale = U256::from(10u8).pow(U256::from(decimals));
    let (whole, frac) = (amount / scale, amount % scale);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{frac:0>width$}", width = decimals as usize);
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_trims() {
        assert_eq!(format_amount(U256::from(50_000u64), 6), "0.05");
        assert_eq!(format_amount(U256::from(48_750u64), 6), "0.04875");
        assert_eq!(format_amount(U256::from(1_000_000_000u64), 6), "1000");
        assert_eq!(format_amount(U256::from(1u64), 18), "0.000000000000000001");
        assert_eq!(format_amount(U256::ZERO, 6), "0");
        assert_eq!(format_amount(U256::from(7u64), 0), "7");
    }
}
