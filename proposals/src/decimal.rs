//! `value` as a decimal string. alloy's own serde for `U256` writes 0x-hex and reads either
//! base; the contract says decimal, so both directions are pinned here: a wallet showing
//! "0x2386f26fc10000" instead of "10000000000000000" is the kind of ambiguity proposals avoid.

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serializer, de::Error};

pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    // `from_str_radix` alone would accept `_` separators; only plain digits are a decimal string.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(D::Error::custom(format!("value {text:?} is not a decimal string of digits")));
    }
    U256::from_str_radix(&text, 10).map_err(|e| D::Error::custom(format!("value {text:?}: {e}")))
}
