//! `agent-hyperliquid`: market analysis from Hyperliquid's `info` API and risk-checked order
//! proposals as the venue's signed-action typed data. The agent never signs: the wallet signs
//! the proposal's typed data and posts `submitBody` with the signature to `submitTo`.
//!
//! Modules: [`api`] (the info requests and their typed answers), [`analysis`] (pure market,
//! book, funding, candle and account numbers), [`order`] (tick/lot rounding, risk checks and
//! the `order` action). The L1-action hash is `hyperliquid-wire`'s, shared with the sandbox's
//! `/exchange`, which verifies what a wallet signs from these proposals.

pub mod analysis;
pub mod api;
pub mod order;
pub mod proposal;

use std::str::FromStr;

use agent_io::AgentError;
use agent_io::http::Egress;
use alloy_primitives::Address;
use hyperliquid_wire::{CANDLE_INTERVALS, Network, action_hash, typed_data};
use serde::{Deserialize, Serialize};

use analysis::{Account, BookStats, CandleStats, FundingStats, Market};
use api::{ApiError, Info};
use nexus_proposals::{Proposals, ProposalsError};
use order::{CoinInfo, OrderError, OrderRequest, PlannedOrder, RiskLimits};

pub const MAX_CANDLES: u32 = 500;
pub const MAX_FUNDING_HOURS: u32 = 500;
const HOUR_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Analyze,
    Order,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// Perpetual name as the venue lists it (`BTC`, `ETH`, ...).
    pub coin: String,
    pub task: Task,
    #[serde(default = "default_network")]
    pub network: Network,
    /// Address whose account is read; default the requester.
    pub user: Option<String>,
    #[serde(default = "default_interval")]
    pub interval: String,
    #[serde(default = "default_candles")]
    pub candles: u32,
    #[serde(default = "default_funding_hours")]
    pub funding_hours: u32,
    #[serde(default = "default_depth_bps")]
    pub depth_bps: u32,
    pub order: Option<OrderRequest>,
    #[serde(default)]
    pub risk: RiskLimits,
}

fn default_network() -> Network {
    Network::Mainnet
}
fn default_interval() -> String {
    "1h".to_owned()
}
fn default_candles() -> u32 {
    24
}
fn default_funding_hours() -> u32 {
    24
}
fn default_depth_bps() -> u32 {
    100
}

/// An input the agent refuses before any request (exit 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

fn positive(name: &str, value: Option<f64>, max: f64) -> Result<(), InvalidInput> {
    match value {
        Some(x) if !(x.is_finite() && x > 0.0 && x <= max) => {
            Err(InvalidInput(format!("{name} must be a number above 0 and at most {max}, got {x}")))
        }
        _ => Ok(()),
    }
}

impl Input {
    /// The limits the schema states, checked again here (the schema is advisory for callers).
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let bad = |m: String| Err(InvalidInput(m));
        if self.coin.is_empty() || self.coin.len() > 20 || !self.coin.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return bad(format!("coin must be 1 to 20 ASCII letters or digits, got {:?}", self.coin));
        }
        if let Some(user) = &self.user {
            parse_address(user)?;
        }
        if interval_ms(&self.interval).is_none() {
            return bad(format!("interval {:?} is not one of the venue's intervals", self.interval));
        }
        if !(2..=MAX_CANDLES).contains(&self.candles) {
            return bad(format!("candles must be between 2 and {MAX_CANDLES}, got {}", self.candles));
        }
        if !(1..=MAX_FUNDING_HOURS).contains(&self.funding_hours) {
            return bad(format!("fundingHours must be between 1 and {MAX_FUNDING_HOURS}, got {}", self.funding_hours));
        }
        if !(1..=1000).contains(&self.depth_bps) {
            return bad(format!("depthBps must be between 1 and 1000, got {}", self.depth_bps));
        }
        positive("risk.maxLeverage", Some(self.risk.max_leverage), 50.0)?;
        positive("risk.maxOrderPercent", Some(self.risk.max_order_percent), 10_000.0)?;
        if !(1..=5000).contains(&self.risk.max_price_deviation_bps) {
            return bad(format!(
                "risk.maxPriceDeviationBps must be between 1 and 5000, got {}",
                self.risk.max_price_deviation_bps
            ));
        }
        match (self.task, &self.order) {
            (Task::Order, None) => bad("task \"order\" needs an order".to_owned()),
            (Task::Analyze, Some(_)) => bad("task \"analyze\" takes no order".to_owned()),
            (Task::Analyze, None) => Ok(()),
            (Task::Order, Some(order)) => {
                if order.size.is_some() == order.notional_usd.is_some() {
                    return bad("order needs exactly one of size and notionalUsd".to_owned());
                }
                positive("order.size", order.size, 1e9)?;
                positive("order.notionalUsd", order.notional_usd, 1e10)?;
                positive("order.price", order.price, 1e9)?;
                if !(1..=1000).contains(&order.slippage_bps) {
                    return bad(format!("order.slippageBps must be between 1 and 1000, got {}", order.slippage_bps));
                }
                Ok(())
            }
        }
    }
}

fn parse_address(text: &str) -> Result<Address, InvalidInput> {
    if text.len() != 42 || !text.starts_with("0x") {
        return Err(InvalidInput(format!("{text:?} is not a 0x-prefixed 20-byte hex address")));
    }
    Address::from_str(text).map_err(|_| InvalidInput(format!("{text:?} is not a 0x-prefixed 20-byte hex address")))
}

pub fn interval_ms(name: &str) -> Option<u64> {
    CANDLE_INTERVALS.iter().find(|(n, _)| *n == name).map(|(_, ms)| *ms)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub network: Network,
    pub coin: String,
    pub asset: u32,
    pub task: Task,
    /// The venue's clock (the book's time, ms).
    pub time: u64,
    pub market: Market,
    pub book: BookStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding: Option<FundingStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candles: Option<CandleStats>,
    pub account: Account,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<PlannedOrder>,
    #[serde(skip_serializing_if = "Proposals::is_empty")]
    pub proposals: Proposals,
}

/// Why a run produced no output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Input(#[from] InvalidInput),
    #[error("{coin} is not a perpetual listed on Hyperliquid {network:?}")]
    UnknownCoin { coin: String, network: Network },
    #[error("Hyperliquid info API: {0}")]
    Api(#[from] ApiError),
    #[error("{0}")]
    Book(#[from] analysis::EmptyBook),
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("hashing the order action: {0}")]
    Encode(#[from] hyperliquid_wire::EncodeError),
    /// The agent's own proposal breaks the relayer's limits: a bug here, refused before output.
    #[error("proposal: {0}")]
    Proposal(#[from] ProposalsError),
}

impl From<Error> for AgentError {
    /// Input mistakes (including a coin the venue does not list) exit 2; upstream failures,
    /// egress refusals and risk refusals exit 1.
    fn from(error: Error) -> Self {
        match error {
            Error::Input(e) => AgentError::input(e),
            e @ Error::UnknownCoin { .. } => AgentError::input(e),
            e => AgentError::Failed(e.to_string()),
        }
    }
}

/// Runs the task for `requester` (the envelope's) through the egress proxy.
pub fn run(net: &Egress, input: &Input, requester: &str) -> Result<Output, Error> {
    input.validate()?;
    let user = format!("{:#x}", parse_address(input.user.as_deref().unwrap_or(requester))?);
    let info = Info::new(net, input.network);
    let (meta, ctxs) = info.meta_and_asset_ctxs()?;
    let unknown = || Error::UnknownCoin { coin: input.coin.clone(), network: input.network };
    let (index, asset) =
        meta.universe.iter().enumerate().find(|(_, a)| a.name == input.coin && !a.is_delisted).ok_or_else(unknown)?;
    let ctx = ctxs.get(index).ok_or_else(|| ApiError::Shape {
        request: "metaAndAssetCtxs",
        reason: format!("no asset context for universe entry {index}"),
    })?;
    let asset_index = u32::try_from(index).map_err(|_| unknown())?;
    let book_answer = info.l2_book(&asset.name)?.ok_or_else(unknown)?;
    let book = analysis::book(&book_answer, input.depth_bps)?;
    let now = book_answer.time;
    let account = analysis::account(&user, &asset.name, &info.clearinghouse_state(&user)?);
    let mut output = Output {
        network: input.network,
        coin: asset.name.clone(),
        asset: asset_index,
        task: input.task,
        time: now,
        market: analysis::market(asset, ctx),
        book,
        funding: None,
        candles: None,
        account,
        order: None,
        proposals: Proposals::default(),
    };
    match (input.task, &input.order) {
        (Task::Order, Some(request)) => {
            let coin = CoinInfo {
                asset: asset_index,
                sz_decimals: asset.sz_decimals,
                max_leverage: asset.max_leverage,
                mid: output.book.mid,
            };
            let (planned, action) = order::plan(request, &input.risk, coin, &output.account)?;
            // The venue's clock, not the container's: the venue accepts nonces near its own
            // time, and the proposal is reproducible from the same answers.
            let nonce = request.nonce.unwrap_or(now);
            let connection_id = action_hash(&action, None, nonce, None)?;
            let typed = typed_data(connection_id, input.network);
            let proposal = proposal::order(&planned, &asset.name, input.network, &action, nonce, typed);
            output.proposals = Proposals::new(vec![proposal])?;
            output.order = Some(planned);
        }
        _ => {
            let start = now.saturating_sub(u64::from(input.funding_hours) * HOUR_MS);
            output.funding = analysis::funding(&info.funding_history(&asset.name, start, now)?);
            let step = interval_ms(&input.interval).unwrap_or(HOUR_MS);
            let start = now.saturating_sub(u64::from(input.candles) * step);
            let candles = info.candles(&asset.name, &input.interval, start, now)?;
            output.candles = analysis::candles(&input.interval, step, &candles);
        }
    }
    Ok(output)
}
