//! Wei quantities as JSON-RPC writes them.
//!
//! `eth_feeHistory` returns hex strings (`"0x4a817c800"`); tools that post-process it often turn
//! them into decimal strings or plain JSON integers. All three are accepted, into `u128`, so no
//! amount ever passes through a float. Output amounts are decimal strings: a JSON number above
//! 2^53 is silently rounded by many parsers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of wei (or any JSON-RPC integer quantity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity(pub u128);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{0:?} is not a hex (0x…) or decimal integer quantity")]
    Invalid(String),
    #[error("{0:?} does not fit in 128 bits")]
    TooLarge(String),
}

impl Quantity {
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        let invalid = || QuantityError::Invalid(s.to_string());
        let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => (hex, 16),
            None => (s, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(invalid());
        }
        u128::from_str_radix(digits, radix).map(Quantity).map_err(|_| QuantityError::TooLarge(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(deserializer) {
            Ok(Raw::Text(s)) => Quantity::parse(&s).map_err(serde::de::Error::custom),
            Ok(Raw::Number(n)) => Ok(Quantity(u128::from(n))),
            Err(_) => Err(serde::de::Error::custom("expected a non-negative integer quantity (hex or decimal string)")),
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `wei` in gwei as an exact decimal string: `1_500_000_000` → `"1.5"`.
pub fn gwei(wei: u128) -> String {
    let whole = wei / 1_000_000_000;
    let frac = wei % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:09}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_decimal_and_numbers() {
        assert_eq!(Quantity::parse("0x4a817c800"), Ok(Quantity(20_000_000_000)));
        assert_eq!(Quantity::parse("0X0"), Ok(Quantity(0)));
        assert_eq!(Quantity::parse("1234"), Ok(Quantity(1234)));
        let q: Vec<Quantity> = serde_json::from_str(r#"["0x10", "16", 16]"#).expect("parses");
        assert_eq!(q, [Quantity(16); 3]);
        for bad in ["", "0x", "0xg1", "-5", "1.5", " 1", "1e9"] {
            assert!(matches!(Quantity::parse(bad), Err(QuantityError::Invalid(_))), "{bad:?}");
        }
        assert!(matches!(Quantity::parse(&format!("0x1{}", "0".repeat(32))), Err(QuantityError::TooLarge(_))));
        assert_eq!(Quantity::parse(&format!("0x{}", "f".repeat(32))), Ok(Quantity(u128::MAX)));
        assert!(serde_json::from_str::<Quantity>("-1").is_err());
        assert!(serde_json::from_str::<Quantity>("1.5").is_err());
    }

    #[test]
    fn serializes_as_a_decimal_string() {
        assert_eq!(serde_json::to_string(&Quantity(u128::MAX)).expect("json"), format!("\"{}\"", u128::MAX));
    }

    #[test]
    fn formats_gwei_exactly() {
        assert_eq!(gwei(0), "0");
        assert_eq!(gwei(1), "0.000000001");
        assert_eq!(gwei(1_500_000_000), "1.5");
        assert_eq!(gwei(22_500_000_000), "22.5");
        assert_eq!(gwei(123_456_789_012), "123.456789012");
    }
}
