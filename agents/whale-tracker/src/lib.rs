//! Whale tracker: large ERC-20 transfers by token and address, read from a JSON-RPC node through
//! the egress door.
//!
//! 1. `eth_blockNumber` when the input does not fix both ends of the range;
//! 2. `decimals()` / `symbol()` of every token in one JSON-RPC batch (`eth_call`);
//! 3. `eth_getLogs` for the `Transfer` topic of all tokens at once, with adaptive range splitting
//!    ([`chain`]);
//! 4. thresholds, large movements and address flows per token ([`analysis`]), labelled
//!    ([`labels`]).
//!
//! The node is named by [`RPC_URL`], the real public endpoint the metadata allowlists; operators
//! route it elsewhere (anvil in tests and `make dev`) in the relayer's egress routes.

pub mod analysis;
pub mod chain;
pub mod labels;
pub mod units;

use std::collections::BTreeMap;

use agent_io::jsonrpc::{Client, Transport};
use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

pub use analysis::{AddressFlow, Movement, TokenSummary};
use chain::ChainError;
use labels::{Labels, MAX_INPUT_LABELS, MAX_LABEL_CHARS};
use units::{UnitsError, parse_units};

/// The JSON-RPC endpoint (PublicNode's Ethereum mainnet; see README.md). The metadata's
/// `network` rule names exactly this origin.
pub const RPC_URL: &str = agent_io::jsonrpc::MAINNET_RPC_URL;
pub const MAX_TOKENS: usize = 8;
/// Widest block range (about two weeks of mainnet blocks).
pub const MAX_RANGE: u64 = 100_000;
pub const DEFAULT_BLOCKS: u64 = 1_000;
pub const DEFAULT_PERCENTILE: f64 = 99.0;
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 200;
/// JSON-RPC requests per run (the operator's default egress budget is 64).
pub const DEFAULT_MAX_REQUESTS: u32 = 40;
pub const MAX_REQUESTS: u32 = 60;
/// Transfer logs kept in memory (the container has 256 MiB).
pub const MAX_LOGS: usize = 200_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    pub tokens: Vec<TokenInput>,
    #[serde(default)]
    pub from_block: Option<u64>,
    #[serde(default)]
    pub to_block: Option<u64>,
    /// Blocks back from `toBlock` when `fromBlock` is absent (default 1000).
    #[serde(default)]
    pub blocks: Option<u64>,
    /// Percentile threshold for tokens without `minAmount` (default 99).
    #[serde(default)]
    pub percentile: Option<f64>,
    /// Address → label; wins over the built-in labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Movements and addresses kept per token (default 20).
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub max_requests: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInput {
    pub address: String,
    /// Threshold in token units (`"250000"`, `"1.5"`).
    #[serde(default)]
    pub min_amount: Option<String>,
    /// Overrides (or stands in for) the token's `decimals()`.
    #[serde(default)]
    pub decimals: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub range: Range,
    pub tokens: Vec<TokenSummary>,
    pub movements: Vec<Movement>,
    pub addresses: Vec<AddressFlow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    pub from_block: u64,
    pub to_block: u64,
    /// JSON-RPC requests made (a batch counts once).
    pub requests: u32,
    /// Times the node refused a range and it was halved.
    pub splits: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("tokens must list 1 to {MAX_TOKENS} tokens, got {0}")]
    TokenCount(usize),
    #[error("{0:?} is not an address")]
    Address(String),
    #[error("token {0} is listed twice")]
    Duplicate(Address),
    #[error("token {token}: minAmount: {source}")]
    MinAmount { token: Address, source: UnitsError },
    #[error("decimals must be at most {}", units::MAX_DECIMALS)]
    Decimals,
    #[error("percentile must be above 0 and at most 100")]
    Percentile,
    #[error("limit must be between 1 and {MAX_LIMIT}")]
    Limit,
    #[error("maxRequests must be between 3 and {MAX_REQUESTS}")]
    MaxRequests,
    #[error("labels: at most {MAX_INPUT_LABELS}, each 1 to {MAX_LABEL_CHARS} printable characters")]
    Labels,
    #[error("the range must be 1 to {MAX_RANGE} blocks with fromBlock <= toBlock <= the chain head ({head})")]
    Range { head: u64 },
    #[error("token {0}: decimals() failed; give `decimals` in the input")]
    NoDecimals(Address),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl TrackError {
    /// Whether the input (rather than the node) is at fault: exit 2 instead of 1.
    pub fn is_input(&self) -> bool {
        !matches!(self, TrackError::Chain(_))
    }
}

/// The input, checked before any request is made.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tokens: Vec<(Address, Option<String>, Option<u8>)>,
    pub percentile: f64,
    pub labels: BTreeMap<Address, String>,
    pub limit: usize,
    pub max_requests: u32,
}

impl Input {
    pub fn plan(&self) -> Result<Plan, TrackError> {
        if self.tokens.is_empty() || self.tokens.len() > MAX_TOKENS {
            return Err(TrackError::TokenCount(self.tokens.len()));
        }
        let parse = |s: &str| s.parse::<Address>().map_err(|_| TrackError::Address(s.chars().take(60).collect()));
        let mut tokens = Vec::new();
        for t in &self.tokens {
            let address = parse(&t.address)?;
            if tokens.iter().any(|(a, _, _)| *a == address) {
                return Err(TrackError::Duplicate(address));
            }
            if t.decimals.is_some_and(|d| d > units::MAX_DECIMALS) {
                return Err(TrackError::Decimals);
            }
            tokens.push((address, t.min_amount.clone(), t.decimals));
        }
        let percentile = self.percentile.unwrap_or(DEFAULT_PERCENTILE);
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(TrackError::Percentile);
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(TrackError::Limit);
        }
        // Head, metadata batch and at least one eth_getLogs.
        let max_requests = self.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS);
        if !(3..=MAX_REQUESTS).contains(&max_requests) {
            return Err(TrackError::MaxRequests);
        }
        if self.labels.len() > MAX_INPUT_LABELS {
            return Err(TrackError::Labels);
        }
        let mut labels = BTreeMap::new();
        for (address, label) in &self.labels {
            let chars = label.chars().count();
            if chars == 0 || chars > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
                return Err(TrackError::Labels);
            }
            labels.insert(parse(address)?, label.clone());
        }
        Ok(Plan { tokens, percentile, labels, limit, max_requests })
    }
}

/// `fromBlock..=toBlock` from the input and (when needed) the head.
fn block_range<T: Transport>(input: &Input, client: &Client<T>) -> Result<(u64, u64), TrackError> {
    let head = match (input.from_block, input.to_block) {
        (Some(_), Some(to)) => to,
        _ => chain::block_number(client)?,
    };
    let to = input.to_block.unwrap_or(head);
    let from = match input.from_block {
        Some(from) => from,
        None => to.saturating_sub(input.blocks.unwrap_or(DEFAULT_BLOCKS).saturating_sub(1)),
    };
    let span = to.checked_sub(from).map(|d| d + 1);
    if to > head || span.is_none_or(|s| s > MAX_RANGE) || input.blocks.is_some_and(|b| b == 0 || b > MAX_RANGE) {
        return Err(TrackError::Range { head });
    }
    Ok((from, to))
}

/// Runs the whole tracker against `client`.
pub fn track<T: Transport>(input: &Input, plan: &Plan, client: &Client<T>) -> Result<Output, TrackError> {
    let (from, to) = block_range(input, client)?;
    let addresses: Vec<Address> = plan.tokens.iter().map(|(a, _, _)| *a).collect();
    let meta = chain::token_meta(client, &addresses)?;
    let mut tokens = Vec::new();
    for ((address, min_amount, decimals), meta) in plan.tokens.iter().zip(meta) {
        let decimals = decimals.or(meta.decimals).ok_or(TrackError::NoDecimals(*address))?;
        let min_amount = min_amount
            .as_deref()
            .map(|m| parse_units(m, decimals))
            .transpose()
            .map_err(|source| TrackError::MinAmount { token: *address, source })?;
        tokens.push(analysis::TokenPlan { address: *address, symbol: meta.symbol, decimals, min_amount });
    }
    let (transfers, stats) = chain::transfers(client, &addresses, from, to, MAX_LOGS)?;
    let labels = Labels::new(&plan.labels);
    let found = analysis::analyse(&tokens, &transfers, plan.percentile, &labels, plan.limit);
    Ok(Output {
        range: Range { from_block: from, to_block: to, requests: client.requests(), splits: stats.splits },
        tokens: found.tokens,
        movements: found.movements,
        addresses: found.addresses,
    })
}
