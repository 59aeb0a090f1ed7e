//! Hyperliquid's number rules for perpetuals (docs "Tick and lot size"): a price has at most 5
//! significant figures and at most `6 - szDecimals` decimals (integers are always allowed); a
//! size has at most `szDecimals` decimals. On the wire both are decimal strings without
//! exponent or trailing zeros (the SDK's `float_to_wire`).

/// Why a number cannot go on the wire.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NumberError {
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    #[error("{0} has more than 8 decimals: it would be rounded on the wire")]
    Rounded(f64),
}

/// Rounds a price to the tick rule as the SDK does (`round(float(f"{px:.5g}"), 6 - szDecimals)`):
/// 5 significant figures, then at most `6 - szDecimals` decimals. (The venue also accepts any
/// integer price; rounding large prices to 5 figures too keeps one rule for both sides.)
pub fn round_px(px: f64, sz_decimals: u32) -> f64 {
    if !px.is_finite() || px <= 0.0 {
        return 0.0;
    }
    let max = 10f64.powi(6 - sz_decimals as i32);
    let magnitude = px.log10().floor() as i32;
    let sig = 10f64.powi(4 - magnitude);
    let px = (px * sig).round() / sig;
    (px * max).round() / max
}

/// Rounds a size down to the lot (`szDecimals` decimals): rounding down never lets a size grow
/// past what the risk checks approved.
pub fn round_size_down(size: f64, sz_decimals: u32) -> f64 {
    let lot = 10f64.powi(sz_decimals as i32);
    // The epsilon keeps 0.3 (0.299999…) from becoming 0.29.
    ((size * lot) + 1e-9).floor() / lot
}

/// Formats a number the way Hyperliquid's strings look: 8 decimals at most, no exponent, no
/// trailing zeros, `-0` as `0`.
pub fn fmt_number(x: f64) -> String {
    let s = format!("{x:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// [`fmt_number`], refusing numbers the 8-decimal wire format would change (the SDK's
/// `float_to_wire` raises the same way): a signed price must be the price the user saw.
pub fn float_to_wire(x: f64) -> Result<String, NumberError> {
    if !x.is_finite() {
        return Err(NumberError::NotFinite(x));
    }
    let text = fmt_number(x);
    let back: f64 = text.parse().map_err(|_| NumberError::NotFinite(x))?;
    if (back - x).abs() >= 1e-12 {
        return Err(NumberError::Rounded(x));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_keep_five_significant_figures_and_the_decimal_cap() {
        // BTC (szDecimals 5): at most 1 decimal, 5 significant figures.
        assert_eq!(round_px(97_123.46, 5), 97_123.0);
        assert_eq!(round_px(3_612.345, 4), 3_612.3);
        // ETH (4): 2 decimals allowed, 5 significant figures bind first.
        assert_eq!(round_px(1_670.123, 4), 1_670.1);
        // SOL (2): 4 decimals allowed; 5 significant figures of 210.4567.
        assert_eq!(round_px(210.4567, 2), 210.46);
        // DOGE (0): 6 decimals allowed, 5 significant figures of 0.3812345.
        assert_eq!(round_px(0.3812345, 0), 0.38123);
        // A decimal cap tighter than the significant figures: 6 - 5 = 1 decimal.
        assert_eq!(round_px(12.3456, 5), 12.3);
        // Above 5 integer digits the SDK rounds to 5 significant figures as well.
        assert_eq!(round_px(123_456.7, 5), 123_460.0);
        assert_eq!(round_px(-1.0, 2), 0.0);
    }

    #[test]
    fn sizes_round_down_to_the_lot() {
        assert_eq!(round_size_down(0.0129999, 4), 0.0129);
        assert_eq!(round_size_down(0.3, 2), 0.3);
        assert_eq!(round_size_down(7.9, 0), 7.0);
    }

    #[test]
    fn wire_strings_have_no_exponent_or_trailing_zeros() {
        assert_eq!(fmt_number(1670.10), "1670.1");
        assert_eq!(fmt_number(0.00001), "0.00001");
        assert_eq!(fmt_number(-0.0), "0");
        assert_eq!(fmt_number(100.0), "100");
        assert_eq!(float_to_wire(0.0147), Ok("0.0147".to_owned()));
        assert_eq!(float_to_wire(0.123_456_789), Err(NumberError::Rounded(0.123_456_789)));
        assert_eq!(float_to_wire(f64::NAN).map_err(|e| e.to_string()), Err("NaN is not a finite number".to_owned()));
    }
}
