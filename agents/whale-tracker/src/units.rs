//! Token amounts: `uint256` values as exact decimal strings in token units, both ways.
//!
//! Never through floats: a whale transfer of an 18-decimal token is far past 2^53 base units.

use alloy_primitives::U256;

/// Most decimals a `uint256` amount can meaningfully have (10^78 > 2^256).
pub const MAX_DECIMALS: u8 = 77;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    #[error("{0:?} is not a non-negative decimal number")]
    Invalid(String),
    #[error("{text:?} has more than {decimals} decimal places")]
    TooPrecise { text: String, decimals: u8 },
    #[error("{0:?} does not fit in uint256 base units")]
    TooLarge(String),
}

/// `raw` base units as a decimal string in token units: `1_500_000` with 6 decimals is `"1.5"`.
pub fn format_units(raw: U256, decimals: u8) -> String {
    let digits = raw.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, frac) = padded.split_at(padded.len() - decimals);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { whole.to_owned() } else { format!("{whole}.{frac}") }
}

/// A decimal string in token units (`"250000"`, `"1.5"`) as base units.
pub fn parse_units(text: &str, decimals: u8) -> Result<U256, UnitsError> {
    let invalid = || UnitsError::Invalid(text.to_owned());
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    if text.contains('.') && frac.is_empty() {
        return Err(invalid());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > usize::from(decimals) {
        return Err(UnitsError::TooPrecise { text: text.to_owned(), decimals });
    }
    let digits = format!("{whole}{frac:0<width$}", width = usize::from(decimals));
    U256::from_str_radix(&digits, 10).map_err(|_| UnitsError::TooLarge(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_exactly() {
        assert_eq!(format_units(U256::from(1_500_000u64), 6), "1.5");
        assert_eq!(format_units(U256::from(1u64), 18), "0.000000000000000001");
        assert_eq!(format_units(U256::ZERO, 6), "0");
        assert_eq!(format_units(U256::from(42u64), 0), "42");
        assert_eq!(
            format_units(U256::MAX, 18),
            "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
        );
    }

    #[test]
    fn parses_exactly_and_refuses_what_is_not_an_amount() {
        assert_eq!(parse_units("250000", 6), Ok(U256::from(250_000_000_000u64)));
        assert_eq!(parse_units("1.50", 6), Ok(U256::from(1_500_000u64)));
        assert_eq!(parse_units("0.000001", 6), Ok(U256::from(1u64)));
        assert_eq!(parse_units("0.0000001", 6), Err(UnitsError::TooPrecise { text: "0.0000001".into(), decimals: 6 }));
        for bad in ["", ".5", "1.", "-1", "1e6", " 1", "0x10"] {
            assert_eq!(parse_units(bad, 6), Err(UnitsError::Invalid(bad.into())), "{bad:?}");
        }
        assert!(matches!(parse_units(&"9".repeat(80), 0), Err(UnitsError::TooLarge(_))));
    }
}
