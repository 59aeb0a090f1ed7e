//! uint256 and address/hash codecs between alloy's types and the schema's columns.
//!
//! The schema stores every uint256 as `NUMERIC(78,0)` (domain `uint256`) and addresses and
//! hashes as `BYTEA` (domains `address`, `hash32`). sqlx matches column types by OID and the
//! domains have OIDs of their own, so queries cast explicitly (`x::text`, `x::bytea`) and bind
//! numbers as decimal text (`$1::numeric`). These functions are the one place that text and
//! those bytes turn back into `U256`/`Address`/`B256`, and they refuse anything that is not
//! exactly such a value: a negative, fractional or 79-digit number, or 19 bytes for an
//! address, is a bug somewhere upstream, and reading it as zero would hide it.
//!
//! [`Uint256`], [`Addr`] and [`Hash32`] wrap the same checks as sqlx column types, so a
//! `FromRow` struct fails to decode instead of carrying a wrong value.

use alloy::primitives::{Address, B256, U256};
use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};

/// A column value that is not what its type promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("not a uint256 (a non-negative integer below 2^256): {0:?}")]
    Uint256(String),
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
}

/// Decimal text, the form NUMERIC parameters are bound with (`$n::numeric`).
pub fn numeric(value: U256) -> String {
    value.to_string()
}

/// NUMERIC text (`x::text`) back to a `U256`: ASCII digits only, at most 2^256 - 1.
pub fn parse_numeric(text: &str) -> Result<U256, CodecError> {
    // `from_str_radix` alone would accept `_` separators; PostgreSQL never writes them, and a
    // sign, point or exponent means the value is not a uint256 at all.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodecError::Uint256(text.to_string()));
    }
    U256::from_str_radix(text, 10).map_err(|_| CodecError::Uint256(text.to_string()))
}

/// BYTEA (`x::bytea`) back to an address: exactly 20 bytes.
pub fn address(bytes: &[u8]) -> Result<Address, CodecError> {
    Address::try_from(bytes).map_err(|_| CodecError::Length { expected: 20, got: bytes.len() })
}

/// BYTEA (`x::bytea`) back to a 32-byte hash: exactly 32 bytes.
pub fn hash32(bytes: &[u8]) -> Result<B256, CodecError> {
    B256::try_from(bytes).map_err(|_| CodecError::Length { expected: 32, got: bytes.len() })
}

/// A uint256 column read as `x::text` (decoded with [`parse_numeric`]) and bound as decimal
/// text for `$n::numeric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uint256(pub U256);

/// An address column read as `x::bytea` (exactly 20 bytes) and bound as BYTEA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Addr(pub Address);

/// A 32-byte hash column read as `x::bytea` (exactly 32 bytes) and bound as BYTEA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash32(pub B256);

macro_rules! wrapper {
    ($name:ident($inner:ty) as $sql:ty, |$v:ident| $decode:expr, |$s:ident| $encode:expr) => {
        impl From<$name> for $inner {
            fn from(v: $name) -> $inner {
                v.0
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> $name {
                $name(v)
            }
        }

        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <$sql as sqlx::Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <$sql as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let $v = <$sql as sqlx::Decode<Postgres>>::decode(value)?;
                Ok($name($decode?))
            }
        }

        impl sqlx::Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                let $s = self;
                <$sql as sqlx::Encode<Postgres>>::encode_by_ref(&$encode, buf)
            }
        }
    };
}

wrapper!(Uint256(U256) as &str, |v| parse_numeric(v), |s| numeric(s.0).as_str());
wrapper!(Addr(Address) as &[u8], |v| address(v), |s| s.0.as_slice());
wrapper!(Hash32(B256) as &[u8], |v| hash32(v), |s| s.0.as_slice());

/// serde for a `U256` as a decimal string, the form NOTIFY payloads carry ids in (a JSON number
/// loses precision above 2^53, and PostgreSQL's `numeric::text` is decimal).
pub mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::numeric(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_numeric(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_round_trips_the_extremes() {
        for v in [U256::ZERO, U256::from(1), U256::from(u64::MAX), U256::MAX] {
            assert_eq!(parse_numeric(&numeric(v)), Ok(v));
        }
        assert_eq!(numeric(U256::MAX).len(), 78);
    }

    #[test]
    fn numeric_rejects_what_is_not_a_uint256() {
        // 2^256 itself, one past the largest value.
        let two_256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        for bad in ["", "-1", "-0", "1.5", "1.0", "1e3", "+1", " 1", "1_000", "0x10", "NaN", two_256] {
            assert!(parse_numeric(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bytes_round_trip_and_reject_wrong_lengths() {
        let a = Address::repeat_byte(0xab);
        assert_eq!(address(a.as_slice()), Ok(a));
        let h = B256::repeat_byte(0xcd);
        assert_eq!(hash32(h.as_slice()), Ok(h));
        assert_eq!(address(&[0; 19]), Err(CodecError::Length { expected: 20, got: 19 }));
        assert_eq!(address(&[0; 21]), Err(CodecError::Length { expected: 20, got: 21 }));
        assert_eq!(address(&[]), Err(CodecError::Length { expected: 20, got: 0 }));
        assert_eq!(hash32(&[0; 20]), Err(CodecError::Length { expected: 32, got: 20 }));
    }

    #[test]
    fn decimal_serde_is_a_decimal_string() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct P {
            #[serde(with = "super::decimal")]
            id: U256,
        }
        let json = serde_json::to_string(&P { id: U256::MAX }).unwrap();
        assert_eq!(json, format!(r#"{{"id":"{}"}}"#, U256::MAX));
        assert_eq!(serde_json::from_str::<P>(&json).unwrap(), P { id: U256::MAX });
        assert!(serde_json::from_str::<P>(r#"{"id":"-1"}"#).is_err());
        assert!(serde_json::from_str::<P>(r#"{"id":"0x1"}"#).is_err());
    }
}
