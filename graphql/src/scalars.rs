//! Typed scalars. The database stores addresses and hashes as raw bytes and uint256 values as
//! NUMERIC; clients get them in the forms wallets and libraries already use: `0x`-hex for bytes
//! (checksummed for addresses), and uint256 numbers as *decimal strings*, because a GraphQL
//! `Int` is 32-bit and JSON numbers lose precision above 2^53.

use alloy::primitives::{B256, U256};
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use nexus_store::codec;

/// A 20-byte Ethereum address: `0x` + 40 hex digits, any case on input, EIP-55 checksummed on output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub alloy::primitives::Address);

#[Scalar(name = "Address")]
impl ScalarType for Address {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_hex::<20>(s)
                .map(|b| Address(alloy::primitives::Address::from(b)))
                .ok_or_else(|| InputValueError::custom("expected an address: 0x followed by 40 hex digits")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_checksum(None))
    }
}

/// A 32-byte value (hash, digest): `0x` + 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bytes32(pub B256);

#[Scalar(name = "Bytes32")]
impl ScalarType for Bytes32 {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_hex::<32>(s)
                .map(|b| Bytes32(B256::from(b)))
                .ok_or_else(|| InputValueError::custom("expected 32 bytes: 0x followed by 64 hex digits")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An unsigned 256-bit integer as a decimal string (ids, prices, amounts). Input also accepts a
/// non-negative GraphQL `Int` for convenience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BigInt(pub U256);

#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if !s.is_empty() && s.len() <= 78 && s.bytes().all(|b| b.is_ascii_digit()) => {
                U256::from_str_radix(s, 10)
                    .map(BigInt)
                    .map_err(|_| InputValueError::custom("number does not fit in 256 bits"))
            }
            Value::String(_) => Err(InputValueError::custom("expected a non-negative decimal integer string")),
            Value::Number(n) => n
                .as_u64()
                .map(|v| BigInt(U256::from(v)))
                .ok_or_else(|| InputValueError::custom("expected a non-negative integer")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl BigInt {
    /// Decimal text, the form NUMERIC columns are bound with (`$n::numeric`).
    pub fn decimal(&self) -> String {
        codec::numeric(self.0)
    }
}

impl Address {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

// From the store's column types: rows decode through `nexus_store::codec`, which refuses a
// value that is not a uint256/address/hash, so there is nothing left to default here.
impl From<U256> for BigInt {
    fn from(v: U256) -> Self {
        BigInt(v)
    }
}

impl From<codec::Uint256> for BigInt {
    fn from(v: codec::Uint256) -> Self {
        BigInt(v.0)
    }
}

impl From<alloy::primitives::Address> for Address {
    fn from(v: alloy::primitives::Address) -> Self {
        Address(v)
    }
}

impl From<codec::Addr> for Address {
    fn from(v: codec::Addr) -> Self {
        Address(v.0)
    }
}

impl From<B256> for Bytes32 {
    fn from(v: B256) -> Self {
        Bytes32(v)
    }
}

impl From<codec::Hash32> for Bytes32 {
    fn from(v: codec::Hash32) -> Self {
        Bytes32(v.0)
    }
}

/// An instant as an RFC 3339 string in UTC (`2026-11-22T01:02:03Z`). Chain times are block
/// timestamps, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub i64);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.timestamp_millis()))
                .map_err(|e| InputValueError::custom(format!("expected an RFC 3339 time: {e}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(rfc3339_millis(self.0))
    }
}

impl DateTime {
    pub(crate) fn from_secs(secs: i64) -> Self {
        DateTime(secs.saturating_mul(1000))
    }
}

/// Milliseconds since the epoch as RFC 3339 (fractional seconds only when there are any).
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if ms % 1000 == 0 => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => String::new(),
    }
}

/// `0x` + exactly 2N hex digits.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    alloy::hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}
