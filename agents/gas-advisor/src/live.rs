//! Live mode: the fee history read from the chain through the egress door.
//!
//! `{"live": {"blocks": 20, "percentiles": [10, 50, 90]}}` makes one `eth_feeHistory(20,
//! "latest", [10, 50, 90])` call to [`RPC_URL`] (the metadata's only network rule) and advises on
//! its result exactly as on an input history. One request, so the run's egress cost is fixed.

use agent_io::jsonrpc::{Client, RpcError, Transport};
use serde::Deserialize;
use serde_json::json;

use crate::{AdviseError, FeeHistory, Input, MAX_BLOCKS, Output, advise};

/// The endpoint read (PublicNode's Ethereum mainnet); see README.md for switching hosts.
pub const RPC_URL: &str = agent_io::jsonrpc::MAINNET_RPC_URL;
pub const DEFAULT_BLOCKS: u16 = 20;
pub const DEFAULT_PERCENTILES: [f64; 3] = [10.0, 50.0, 90.0];
pub const MAX_PERCENTILES: usize = 10;

/// What to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Live {
    /// Newest blocks to read (default 20, at most 1024).
    #[serde(default)]
    pub blocks: Option<u16>,
    /// Reward percentiles to request (default 10, 50, 90).
    #[serde(default)]
    pub percentiles: Option<Vec<f64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("live mode reads the history itself: give either live or feeHistory/rewardPercentiles")]
    Exclusive,
    #[error("live.blocks must be between 1 and {MAX_BLOCKS}")]
    Blocks,
    #[error("live.percentiles must be 1 to {MAX_PERCENTILES} ascending numbers between 0 and 100")]
    Percentiles,
    #[error(transparent)]
    Advise(#[from] AdviseError),
    #[error("reading the fee history: {0}")]
    Rpc(#[from] RpcError),
}

impl LiveError {
    /// Whether the input is at fault (exit 2) rather than the node (exit 1). An advice error on a
    /// history the node returned is the node's fault.
    pub fn is_input(&self) -> bool {
        matches!(self, LiveError::Exclusive | LiveError::Blocks | LiveError::Percentiles)
    }
}

impl Live {
    /// `(blocks, percentiles)` checked.
    pub fn check(&self, input: &Input) -> Result<(u16, Vec<f64>), LiveError> {
        if input.fee_history.is_some() || input.reward_percentiles.is_some() {
            return Err(LiveError::Exclusive);
        }
        let blocks = self.blocks.unwrap_or(DEFAULT_BLOCKS);
        if blocks == 0 || usize::from(blocks) > MAX_BLOCKS {
            return Err(LiveError::Blocks);
        }
        let percentiles = self.percentiles.clone().unwrap_or_else(|| DEFAULT_PERCENTILES.to_vec());
        let ascending = percentiles.windows(2).all(|w| w[0] <= w[1]);
        if percentiles.is_empty()
            || percentiles.len() > MAX_PERCENTILES
            || !ascending
            || percentiles.iter().any(|p| !(0.0..=100.0).contains(p))
        {
            return Err(LiveError::Percentiles);
        }
        Ok((blocks, percentiles))
    }
}

/// Reads the history `live` asks for and advises on it with the rest of `input`.
pub fn advise_live<T: Transport>(input: &Input, live: &Live, client: &Client<T>) -> Result<Output, LiveError> {
    let (blocks, percentiles) = live.check(input)?;
    let history: FeeHistory = client.call("eth_feeHistory", json!([format!("{blocks:#x}"), "latest", percentiles]))?;
    let mut resolved = input.clone();
    resolved.live = None;
    resolved.fee_history = Some(history);
    resolved.reward_percentiles = Some(percentiles);
    Ok(advise(&resolved)?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use agent_io::http::HttpError;
    use serde_json::Value;

    use super::*;

    /// A node answering one fixed history and keeping the request.
    struct Node(RefCell<Option<Value>>);

    impl Transport for &Node {
        fn post(&self, _url: &str, body: &Value) -> Result<Value, HttpError> {
            *self.0.borrow_mut() = Some(body.clone());
            Ok(json!({"jsonrpc": "2.0", "id": body["id"], "result": {
                "oldestBlock": "0x10",
                "baseFeePerGas": ["0x3b9aca00", "0x3b9aca00"],
                "gasUsedRatio": [0.5],
                "reward": [["0x1", "0x2"]]
            }}))
        }
    }

    fn input(value: Value) -> Input {
        serde_json::from_value(value).expect("input")
    }

    #[test]
    fn asks_for_the_history_and_labels_its_columns() {
        let node = Node(RefCell::default());
        let client = Client::new(&node, RPC_URL, 1);
        let i = input(json!({"live": {"blocks": 1, "percentiles": [25, 75]}, "urgency": "high"}));
        let out = advise_live(&i, i.live.as_ref().expect("live"), &client).expect("advice");
        let sent = node.0.borrow().clone().expect("sent");
        assert_eq!(sent["method"], "eth_feeHistory");
        assert_eq!(sent["params"], json!(["0x1", "latest", [25.0, 75.0]]));
        assert_eq!(out.latest_block, crate::Quantity(16));
        // Columns labelled by the requested percentiles: fast takes the 75th.
        assert_eq!(out.tiers[2].percentile, Some(75.0));
        assert_eq!(out.recommendation.max_priority_fee_per_gas, crate::Quantity(2));
    }

    #[test]
    fn refuses_mixed_or_out_of_range_requests_before_calling() {
        let node = Node(RefCell::default());
        let client = Client::new(&node, RPC_URL, 1);
        for (value, expected) in [
            (json!({"live": {}, "rewardPercentiles": [10]}), "either live or feeHistory"),
            (json!({"live": {"blocks": 0}}), "live.blocks must be between 1 and 1024"),
            (json!({"live": {"blocks": 1025}}), "live.blocks must be between 1 and 1024"),
            (json!({"live": {"percentiles": [90, 10]}}), "ascending"),
            (json!({"live": {"percentiles": []}}), "1 to 10 ascending"),
        ] {
            let i = input(value.clone());
            let err = advise_live(&i, i.live.as_ref().expect("live"), &client).expect_err("refused");
            assert!(err.is_input() && err.to_string().contains(expected), "{value}: {err}");
        }
        assert!(node.0.borrow().is_none(), "no request was sent");
    }
}
