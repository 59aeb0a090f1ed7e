//! Hyperliquid's HTTP API: `POST /info` and `POST /exchange`.
//!
//! Mirrors Hyperliquid's API docs ("Info endpoint" → perpetuals, "Exchange endpoint") and the
//! request/response shapes the official Python SDK (`hyperliquid-python-sdk`, `info.py`,
//! `exchange.py`, `utils/signing.py`) sends and parses. Simplified:
//! - one perpetual DEX with a fixed five-coin universe ([`market::COINS`]); no spot, vaults,
//!   sub-accounts or builder DEXs;
//! - market data is generated (see [`market`]), the book does not react to orders;
//! - `/exchange` implements the `order` action only (see [`exchange`]); orders are answered
//!   but do not change positions.
//!
//! Malformed `/info` bodies get axum's JSON rejection (422 "Failed to deserialize the JSON body
//! into the target type: …"), which is what Hyperliquid answers too; an unknown coin in
//! `l2Book` answers `null`, as Hyperliquid does.

pub mod exchange;
pub mod market;

use std::sync::{Arc, Mutex, PoisonError};

use alloy::primitives::Address;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SandboxConfig;
use market::{COINS, fmt};

pub use exchange::RecordedAction;

/// An account `clearinghouseState` reports and `/exchange` accepts orders from.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperliquidAccount {
    pub address: Address,
    /// USDC deposited (account value before unrealized PnL).
    pub usdc: f64,
    pub positions: Vec<HyperliquidPosition>,
}

/// An open cross-margin position.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperliquidPosition {
    pub coin: String,
    /// Signed size: positive long, negative short.
    pub szi: f64,
    pub entry_px: f64,
    pub leverage: u32,
}

/// Shared state of the Hyperliquid upstream.
#[derive(Debug)]
pub struct State {
    config: Arc<SandboxConfig>,
    exchange: Mutex<exchange::Ledger>,
}

impl State {
    pub(crate) fn new(config: Arc<SandboxConfig>) -> Self {
        Self { config, exchange: Mutex::new(exchange::Ledger::default()) }
    }

    pub(crate) fn recorded(&self) -> Vec<RecordedAction> {
        self.ledger().recorded.clone()
    }

    /// The ledger stays consistent under a panicking holder (every write is one push or
    /// insert), so a poisoned lock is taken over rather than failing every later request.
    fn ledger(&self) -> std::sync::MutexGuard<'_, exchange::Ledger> {
        self.exchange.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new().route("/info", post(info)).route("/exchange", post(exchange::handle)).with_state(state)
}

/// The `/info` request types the sandbox serves, tagged by `type` as Hyperliquid's are.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum InfoRequest {
    Meta,
    MetaAndAssetCtxs,
    AllMids,
    L2Book { coin: String, n_sig_figs: Option<u32> },
    CandleSnapshot { req: CandleRequest },
    FundingHistory { coin: String, start_time: u64, end_time: Option<u64> },
    ClearinghouseState { user: Address },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandleRequest {
    coin: String,
    interval: String,
    start_time: u64,
    end_time: u64,
}

/// Hyperliquid answers a well-formed request it cannot serve with a 422 and a text body.
fn unprocessable(message: String) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, message).into_response()
}

async fn info(AxumState(state): AxumState<Arc<State>>, Json(request): Json<InfoRequest>) -> Response {
    let config = &state.config;
    let seed = config.seed;
    match request {
        InfoRequest::Meta => Json(meta()).into_response(),
        InfoRequest::MetaAndAssetCtxs => Json(json!([meta(), asset_ctxs(config)])).into_response(),
        InfoRequest::AllMids => {
            let mids: serde_json::Map<String, Value> =
                COINS.iter().map(|c| (c.name.to_owned(), Value::String(fmt(market::mid(seed, *c))))).collect();
            Json(mids).into_response()
        }
        InfoRequest::L2Book { coin, n_sig_figs } => {
            if let Some(figs) = n_sig_figs
                && !(2..=5).contains(&figs)
            {
                return unprocessable(format!("nSigFigs must be 2, 3, 4, 5 or null, got {figs}"));
            }
            match market::coin(&coin) {
                Some((_, c)) => Json(json!({
                    "coin": c.name,
                    "time": config.now_ms,
                    "levels": market::book(seed, c, n_sig_figs),
                }))
                .into_response(),
                None => Json(Value::Null).into_response(),
            }
        }
        InfoRequest::CandleSnapshot { req } => {
            let Some(interval) = market::INTERVALS.iter().find(|(name, _)| *name == req.interval) else {
                return unprocessable(format!("unknown candle interval {:?}", req.interval));
            };
            let candles = match market::coin(&req.coin) {
                Some((_, c)) => market::candles(seed, c, *interval, req.start_time, req.end_time, config.now_ms),
                None => Vec::new(),
            };
            Json(candles).into_response()
        }
        InfoRequest::FundingHistory { coin, start_time, end_time } => {
            let history = match market::coin(&coin) {
                Some((_, c)) => market::funding_history(seed, c, start_time, end_time, config.now_ms),
                None => Vec::new(),
            };
            Json(history).into_response()
        }
        InfoRequest::ClearinghouseState { user } => Json(clearinghouse_state(config, user)).into_response(),
    }
}

fn meta() -> Value {
    let universe: Vec<Value> = COINS
        .iter()
        .map(|c| json!({"name": c.name, "szDecimals": c.sz_decimals, "maxLeverage": c.max_leverage}))
        .collect();
    json!({ "universe": universe })
}

fn asset_ctxs(config: &SandboxConfig) -> Vec<Value> {
    let seed = config.seed;
    let hour = config.now_ms / 3_600_000;
    COINS
        .iter()
        .map(|c| {
            let mid = market::mid(seed, *c);
            let [bids, asks] = market::book(seed, *c, None);
            let best = |levels: &[market::Level]| levels.first().map(|l| l.px.clone()).unwrap_or_default();
            let day =
                market::candles(seed, *c, ("1d", 86_400_000), config.now_ms - 86_400_000, config.now_ms, config.now_ms);
            let prev_day = day.first().map(|d| d.o.clone()).unwrap_or_else(|| fmt(mid));
            let volume: f64 = day.iter().filter_map(|d| d.v.parse::<f64>().ok()).sum();
            let funding = market::funding_rate(seed, *c, hour);
            json!({
                "funding": fmt(funding),
                "openInterest": fmt((volume * 0.4).round()),
                "prevDayPx": prev_day,
                "dayNtlVlm": fmt((volume * mid).round()),
                "premium": fmt(funding - 0.000_012_5),
                "oraclePx": fmt(mid),
                "markPx": fmt(mid),
                "midPx": fmt(mid),
                "impactPxs": [best(&bids), best(&asks)],
                "dayBaseVlm": fmt(volume),
            })
        })
        .collect()
}

/// `clearinghouseState`: positions valued at the mid. An unknown user gets the empty state
/// (zeros, no positions), as Hyperliquid answers for an address that never deposited.
fn clearinghouse_state(config: &SandboxConfig, user: Address) -> Value {
    let account = config.hyperliquid_accounts.iter().find(|a| a.address == user);
    let (usdc, positions) = account.map_or((0.0, &[][..]), |a| (a.usdc, &a.positions[..]));
    let mut total_ntl = 0.0;
    let mut total_margin = 0.0;
    let mut total_upnl = 0.0;
    let mut signed_ntl = 0.0;
    let mut maintenance = 0.0;
    let mut valued = Vec::new();
    for p in positions {
        let Some((_, coin)) = market::coin(&p.coin) else { continue };
        let mark = market::mid(config.seed, coin);
        let value = p.szi.abs() * mark;
        let upnl = p.szi * (mark - p.entry_px);
        let margin = value / f64::from(p.leverage.max(1));
        total_ntl += value;
        total_margin += margin;
        total_upnl += upnl;
        signed_ntl += p.szi * mark;
        // Maintenance margin is half the initial margin at max leverage.
        maintenance += value / (2.0 * f64::from(coin.max_leverage));
        valued.push((p, coin, mark, value, upnl, margin));
    }
    let account_value = usdc + total_upnl;
    let asset_positions: Vec<Value> = valued
        .into_iter()
        .map(|(p, coin, mark, value, upnl, margin)| {
            // Price at which account value falls to the maintenance margin, holding the other
            // positions' value fixed; none when the account cannot be liquidated by this one.
            let liquidation = mark - (account_value - maintenance) / p.szi;
            let entry_margin = p.szi.abs() * p.entry_px / f64::from(p.leverage.max(1));
            json!({
                "type": "oneWay",
                "position": {
                    "coin": coin.name,
                    "szi": fmt(p.szi),
                    "leverage": {"type": "cross", "value": p.leverage},
                    "entryPx": fmt(p.entry_px),
                    "positionValue": fmt(value),
                    "unrealizedPnl": fmt(upnl),
                    "returnOnEquity": fmt(if entry_margin > 0.0 { upnl / entry_margin } else { 0.0 }),
                    "liquidationPx": (liquidation > 0.0).then(|| fmt(liquidation)),
                    "marginUsed": fmt(margin),
                    "maxLeverage": coin.max_leverage,
                    "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
                }
            })
        })
        .collect();
    let summary = json!({
        "accountValue": fmt(account_value),
        "totalNtlPos": fmt(total_ntl),
        "totalRawUsd": fmt(account_value - signed_ntl),
        "totalMarginUsed": fmt(total_margin),
    });
    json!({
        "assetPositions": asset_positions,
        "crossMaintenanceMarginUsed": fmt(maintenance),
        "crossMarginSummary": summary,
        "marginSummary": summary,
        "time": config.now_ms,
        "withdrawable": fmt((account_value - total_margin).max(0.0)),
    })
}
