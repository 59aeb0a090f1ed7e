//! Address labels: what the buyer supplies, over a small built-in set.
//!
//! The built-in set is deliberately small and only lists addresses whose owner is public and
//! stable: Ethereum mainnet exchange hot/cold wallets as Etherscan's public name tags show them
//! (etherscan.io/accounts/label/exchange, checked 2024), the token issuer treasury most whale
//! alerts mention, and the zero address (mints and burns). A large list was rejected: labels go
//! stale, a wrong "exchange" label misleads more than no label, and the buyer can pass their own
//! (`labels` in the input), which always win.

use std::collections::BTreeMap;

use alloy_primitives::Address;

/// `(address, label)`, mainnet. Lower-case hex so the list is easy to diff against its source.
const BUILT_IN: &[(&str, &str)] = &[
    ("0x0000000000000000000000000000000000000000", "Zero address (mint/burn)"),
    ("0x28c6c06298d514db089934071355e5743bf21d60", "Binance 14"),
    ("0xbe0eb53f46cd790cd13851d5eff43d12404d33e8", "Binance 7"),
    ("0xa9d1e08c7793af67e9d92fe308d5697fb81d3e43", "Coinbase 10"),
    ("0x2910543af39aba0cd09dbb2d50200b3e800a63d2", "Kraken"),
    ("0x6cc5f688a315f3dc28a7781717a9a798a59fda7b", "OKX"),
    ("0x876eabf441b2ee5b5b0554fd502a8e0600950cfa", "Bitfinex 2"),
    ("0x6262998ced04146fa42253a5c0af90ca02dfd2a3", "Crypto.com"),
    ("0x5754284f345afc66a98fbb0a0afe71e0f007b949", "Tether: Treasury"),
];

/// Most labels an input may carry, and the longest label kept.
pub const MAX_INPUT_LABELS: usize = 1000;
pub const MAX_LABEL_CHARS: usize = 64;

/// Where a label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LabelSource {
    Input,
    BuiltIn,
}

/// A label and its source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    pub name: String,
    pub source: LabelSource,
}

/// Labels by address.
#[derive(Debug, Clone, Default)]
pub struct Labels(BTreeMap<Address, Label>);

impl Labels {
    /// The built-in set with `input` over it.
    pub fn new(input: &BTreeMap<Address, String>) -> Self {
        let mut map = BTreeMap::new();
        for (hex, name) in BUILT_IN {
            if let Ok(address) = hex.parse::<Address>() {
                map.insert(address, Label { name: (*name).to_owned(), source: LabelSource::BuiltIn });
            }
        }
        for (address, name) in input {
            map.insert(*address, Label { name: name.clone(), source: LabelSource::Input });
        }
        Labels(map)
    }

    pub fn get(&self, address: &Address) -> Option<&Label> {
        self.0.get(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_addresses_parse_and_input_labels_win() {
        // Every built-in entry is a valid address (a typo would silently drop it).
        assert!(BUILT_IN.iter().all(|(hex, _)| hex.len() == 42 && hex.parse::<Address>().is_ok()));
        let binance: Address = BUILT_IN[1].0.parse().unwrap();
        let mine = Address::repeat_byte(7);
        let labels = Labels::new(&BTreeMap::from([(binance, "my desk".to_owned()), (mine, "treasury".to_owned())]));
        assert_eq!(labels.get(&binance), Some(&Label { name: "my desk".into(), source: LabelSource::Input }));
        assert_eq!(labels.get(&Address::ZERO).map(|l| l.source), Some(LabelSource::BuiltIn));
        assert_eq!(labels.get(&mine).map(|l| l.name.as_str()), Some("treasury"));
        assert_eq!(labels.get(&Address::repeat_byte(9)), None);
    }
}
