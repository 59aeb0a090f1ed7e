//! Pure part of the tracker: which transfers are large, and who moved them.
//!
//! A transfer is large when its amount reaches the token's threshold: the buyer's `minAmount`
//! (token units) when given, else the nearest-rank percentile of that token's transfer amounts
//! in the window (default the 99th). Amounts of different tokens are never compared (no prices:
//! the agent does not pretend to know them), so everything is grouped by token.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};
use serde::Serialize;

use crate::chain::Transfer;
use crate::labels::{Label, Labels};
use crate::units::format_units;

/// A token as the analysis sees it.
#[derive(Debug, Clone)]
pub struct TokenPlan {
    pub address: Address,
    pub symbol: Option<String>,
    pub decimals: u8,
    /// Base units; `None` = use the percentile.
    pub min_amount: Option<U256>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ThresholdSource {
    MinAmount,
    Percentile,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    pub address: Address,
    pub symbol: Option<String>,
    pub decimals: u8,
    pub transfers: usize,
    /// Sum of all transfer amounts, token units.
    pub volume: String,
    /// Token units; `None` when the percentile has no transfers to work on.
    pub threshold: Option<String>,
    pub threshold_source: ThresholdSource,
    pub large_transfers: usize,
    pub large_volume: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Movement {
    pub token: Address,
    pub symbol: Option<String>,
    /// Token units.
    pub amount: String,
    /// Base units (decimal integer).
    pub raw_amount: String,
    pub from: Address,
    pub from_label: Option<Label>,
    pub to: Address,
    pub to_label: Option<Label>,
    pub block_number: u64,
    pub transaction_hash: String,
    pub log_index: u64,
}

/// One address's large transfers of one token.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressFlow {
    pub token: Address,
    pub symbol: Option<String>,
    pub address: Address,
    pub label: Option<Label>,
    pub received: String,
    pub sent: String,
    /// `received - sent`, token units, with a leading `-` when negative.
    pub net: String,
    pub transfers: usize,
}

/// What [`analyse`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub tokens: Vec<TokenSummary>,
    pub movements: Vec<Movement>,
    pub addresses: Vec<AddressFlow>,
}

/// Nearest-rank percentile (`0 < p <= 100`) of ascending `sorted` amounts.
pub fn percentile(sorted: &[U256], p: f64) -> Option<U256> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Large movements and address flows per token, in `tokens` order. Within a token movements
/// are largest first (then block, log index) and addresses by gross large volume (then
/// address); at most `limit` of each per token.
pub fn analyse(tokens: &[TokenPlan], transfers: &[Transfer], pct: f64, labels: &Labels, limit: usize) -> Analysis {
    let mut out = Analysis { tokens: Vec::new(), movements: Vec::new(), addresses: Vec::new() };
    for plan in tokens {
        let mine: Vec<&Transfer> = transfers.iter().filter(|t| t.token == plan.address).collect();
        let units = |v: U256| format_units(v, plan.decimals);
        let mut amounts: Vec<U256> = mine.iter().map(|t| t.amount).collect();
        amounts.sort_unstable();
        let (threshold, source) = match plan.min_amount {
            Some(min) => (Some(min), ThresholdSource::MinAmount),
            None => (percentile(&amounts, pct), ThresholdSource::Percentile),
        };
        // Zero-amount transfers (address-poisoning spam) are never "large".
        let mut large: Vec<&Transfer> = match threshold {
            Some(th) => mine.iter().copied().filter(|t| t.amount >= th && !t.amount.is_zero()).collect(),
            None => Vec::new(),
        };
        large.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.block.cmp(&b.block)).then(a.log_index.cmp(&b.log_index)));
        let sum = |ts: &[&Transfer]| ts.iter().fold(U256::ZERO, |acc, t| acc.saturating_add(t.amount));
        out.tokens.push(TokenSummary {
            address: plan.address,
            symbol: plan.symbol.clone(),
            decimals: plan.decimals,
            transfers: mine.len(),
            volume: units(sum(&mine)),
            threshold: threshold.map(units),
            threshold_source: source,
            large_transfers: large.len(),
            large_volume: units(sum(&large)),
        });

        let mut flows: BTreeMap<Address, (U256, U256, usize)> = BTreeMap::new();
        for t in &large {
            let to = flows.entry(t.to).or_default();
            to.0 = to.0.saturating_add(t.amount);
            to.2 += 1;
            let from = flows.entry(t.from).or_default();
            from.1 = from.1.saturating_add(t.amount);
            from.2 += 1;
        }
        let mut flows: Vec<(Address, (U256, U256, usize))> = flows.into_iter().collect();
        flows.sort_by(|(a, x), (b, y)| y.0.saturating_add(y.1).cmp(&x.0.saturating_add(x.1)).then(a.cmp(b)));
        out.addresses.extend(flows.into_iter().take(limit).map(|(address, (received, sent, n))| AddressFlow {
            token: plan.address,
            symbol: plan.symbol.clone(),
            address,
            label: labels.get(&address).cloned(),
            received: units(received),
            sent: units(sent),
            net: if received >= sent { units(received - sent) } else { format!("-{}", units(sent - received)) },
            transfers: n,
        }));

        out.movements.extend(large.into_iter().take(limit).map(|t| Movement {
            token: t.token,
            symbol: plan.symbol.clone(),
            amount: units(t.amount),
            raw_amount: t.amount.to_string(),
            from: t.from,
            from_label: labels.get(&t.from).cloned(),
            to: t.to,
            to_label: labels.get(&t.to).cloned(),
            block_number: t.block,
            transaction_hash: t.transaction_hash.clone(),
            log_index: t.log_index,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(token: Address, from: u8, to: u8, amount: u64, block: u64) -> Transfer {
        Transfer {
            token,
            from: Address::repeat_byte(from),
            to: Address::repeat_byte(to),
            amount: U256::from(amount),
            block,
            transaction_hash: format!("0x{block:064x}"),
            log_index: 0,
        }
    }

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<U256> = (1..=10u64).map(U256::from).collect();
        assert_eq!(percentile(&v, 99.0), Some(U256::from(10u64)));
        assert_eq!(percentile(&v, 90.0), Some(U256::from(9u64)));
        assert_eq!(percentile(&v, 50.0), Some(U256::from(5u64)));
        assert_eq!(percentile(&v, 0.1), Some(U256::from(1u64)));
        assert_eq!(percentile(&[], 99.0), None);
    }

    #[test]
    fn thresholds_flows_and_order_by_token() {
        let (a, b) = (Address::repeat_byte(0xa0), Address::repeat_byte(0xb0));
        let transfers = [
            t(a, 1, 2, 5_000_000, 10), // 5 A: large
            t(a, 2, 3, 1_000_000, 11), // 1 A: large (== threshold)
            t(a, 3, 1, 999_999, 12),   // below
            t(a, 4, 1, 7_000_000, 13), // 7 A: largest
            t(b, 1, 2, 0, 10),         // zero: never large
            t(b, 1, 2, 30, 11),
            t(b, 2, 1, 40, 12),
        ];
        let plans = [
            TokenPlan { address: a, symbol: Some("A".into()), decimals: 6, min_amount: Some(U256::from(1_000_000u64)) },
            TokenPlan { address: b, symbol: None, decimals: 0, min_amount: None },
        ];
        let labels = Labels::new(&BTreeMap::from([(Address::repeat_byte(1), "desk".to_owned())]));
        let out = analyse(&plans, &transfers, 60.0, &labels, 10);

        assert_eq!(out.tokens[0].threshold.as_deref(), Some("1"));
        assert_eq!((out.tokens[0].transfers, out.tokens[0].large_transfers), (4, 3));
        assert_eq!((out.tokens[0].volume.as_str(), out.tokens[0].large_volume.as_str()), ("13.999999", "13"));
        // 60th percentile of [0, 30, 40] by nearest rank: rank 2 → 30.
        assert_eq!(
            (out.tokens[1].threshold.as_deref(), out.tokens[1].threshold_source),
            (Some("30"), ThresholdSource::Percentile)
        );
        let amounts: Vec<(&str, u64)> = out.movements.iter().map(|m| (m.amount.as_str(), m.block_number)).collect();
        assert_eq!(amounts, [("7", 13), ("5", 10), ("1", 11), ("40", 12), ("30", 11)]);
        assert_eq!(out.movements[0].to_label.as_ref().map(|l| l.name.as_str()), Some("desk"));

        // Token A: 1 received 7, sent 5; 2 received 5, sent 1; 4 sent 7; 3 received 1.
        let flows: Vec<(u8, &str, &str, &str)> = out
            .addresses
            .iter()
            .filter(|f| f.token == a)
            .map(|f| (f.address.0[0], f.received.as_str(), f.sent.as_str(), f.net.as_str()))
            .collect();
        // By gross large volume: 1 (12), 4 (7), 2 (6), 3 (1).
        assert_eq!(flows, [(1, "7", "5", "2"), (4, "0", "7", "-7"), (2, "5", "1", "4"), (3, "1", "0", "1")]);
        let limited = analyse(&plans, &transfers, 60.0, &labels, 1);
        assert_eq!(limited.movements.len(), 2);
        assert_eq!(limited.addresses.len(), 2);
    }
}
