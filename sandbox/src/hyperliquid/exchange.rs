//! `POST /exchange` with the `order` action, its L1-action signature verified.
//!
//! The action's types, its hash and the phantom-agent digest come from `hyperliquid-wire`
//! (`agents/hyperliquid-wire`), the one implementation the Hyperliquid agent builds its
//! proposals with and whose tests reproduce the Python SDK's signing vectors. The action is
//! decoded into those typed structs, whose field order is the wire order, because the hash
//! covers the MessagePack bytes: a `serde_json::Value` (keys sorted) would hash differently
//! from what the wallet signed.
//!
//! Simplified: only `order` (limit and trigger types, `grouping`, `builder`); a signer must be
//! one of the configured accounts (the real venue answers the same error for an unknown
//! wallet); agent (API) wallets are not modelled; nonces must be unique per signer but are not
//! checked against a time window (the sandbox's clock is fixed); a crossing limit order fills
//! in full at the mid, a non-crossing one rests; nothing changes positions.

use std::collections::HashSet;
use std::sync::Arc;

use alloy::primitives::Address;
use axum::Json;
use axum::extract::State as AxumState;
use hyperliquid_wire::Network;
// Re-exported so the sandbox's users keep one import path for the venue's wire types.
pub use hyperliquid_wire::{
    Builder, Limit, OrderAction, OrderType, OrderWire, Trigger, WireSignature, action_hash, recover, signing_hash,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::State;
use super::market::{self, COINS, fmt};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeRequest {
    action: Value,
    nonce: u64,
    signature: WireSignature,
    #[serde(default)]
    vault_address: Option<Address>,
    #[serde(default)]
    expires_after: Option<u64>,
}

/// One `/exchange` request as received, with who signed it and what was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAction {
    pub action: Value,
    pub nonce: u64,
    pub vault_address: Option<Address>,
    /// The recovered signer, when the signature could be recovered at all.
    pub signer: Option<Address>,
    pub response: Value,
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) recorded: Vec<RecordedAction>,
    used_nonces: HashSet<(Address, u64)>,
    next_oid: u64,
}

fn err(message: impl Into<String>) -> Value {
    json!({"status": "err", "response": message.into()})
}

/// What checking a request's action and signature found.
enum Checked {
    /// An authenticated order action from a configured account.
    Orders { signer: Address, orders: Vec<OrderWire> },
    /// Refused before any order was looked at; the signer when one was recovered.
    Refused { signer: Option<Address>, message: String },
}

pub(crate) async fn handle(
    AxumState(state): AxumState<Arc<State>>,
    Json(request): Json<ExchangeRequest>,
) -> Json<Value> {
    let checked = check(&state, &request);
    let mut ledger = state.ledger();
    let (signer, response) = match checked {
        Checked::Orders { signer, orders } => {
            let response = if ledger.used_nonces.insert((signer, request.nonce)) {
                let statuses: Vec<Value> = orders
                    .iter()
                    .map(|o| {
                        ledger.next_oid += 1;
                        order_status(state.config.seed, o, 1_000_000 + ledger.next_oid)
                    })
                    .collect();
                json!({"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}})
            } else {
                err(format!("Invalid nonce: duplicate nonce {} for {signer:#x}", request.nonce))
            };
            (Some(signer), response)
        }
        Checked::Refused { signer, message } => (signer, err(message)),
    };
    ledger.recorded.push(RecordedAction {
        action: request.action,
        nonce: request.nonce,
        vault_address: request.vault_address,
        signer,
        response: response.clone(),
    });
    Json(response)
}

/// Decodes and authenticates the action.
fn check(state: &State, request: &ExchangeRequest) -> Checked {
    let refused = |signer, message: String| Checked::Refused { signer, message };
    let kind = request.action.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "order" {
        return refused(None, format!("Unsupported action type {kind:?}: the sandbox implements \"order\" only"));
    }
    let action: OrderAction = match serde_json::from_value(request.action.clone()) {
        Ok(action) => action,
        Err(e) => return refused(None, format!("Failed to deserialize the action: {e}")),
    };
    let hash = match action_hash(&action, request.vault_address, request.nonce, request.expires_after) {
        Ok(hash) => hash,
        Err(e) => return refused(None, e.to_string()),
    };
    let network = if state.config.hyperliquid_mainnet { Network::Mainnet } else { Network::Testnet };
    let digest = signing_hash(hash, network);
    let signer = match recover(&request.signature, digest) {
        Ok(signer) => signer,
        Err(e) => return refused(None, e),
    };
    if !state.config.hyperliquid_accounts.iter().any(|a| a.address == signer) {
        // What Hyperliquid answers when a signature recovers to a wallet it does not know,
        // which is also how a wrong signature shows up there.
        return refused(Some(signer), format!("User or API Wallet {signer:#x} does not exist."));
    }
    Checked::Orders { signer, orders: action.orders }
}

/// The per-order status: `filled` when a limit crosses the mid, `resting` otherwise, or an
/// `error` Hyperliquid would give.
fn order_status(seed: u64, order: &OrderWire, oid: u64) -> Value {
    let Some(coin) = COINS.get(order.a as usize) else {
        return json!({"error": format!("Invalid asset {}", order.a)});
    };
    let (Ok(px), Ok(sz)) = (order.p.parse::<f64>(), order.s.parse::<f64>()) else {
        return json!({"error": "Order has invalid price or size."});
    };
    if sz <= 0.0 || px <= 0.0 {
        return json!({"error": "Order has zero size or price."});
    }
    if market::round_px(px, coin.sz_decimals) != px {
        return json!({"error": "Order has invalid price."});
    }
    let mid = market::mid(seed, *coin);
    let crosses = if order.b { px >= mid } else { px <= mid };
    let asset = order.a;
    match order.t.limit.as_ref().map(|l| l.tif.as_str()) {
        Some("Alo") if crosses => json!({"error": format!(
            "Post only order would have immediately matched, bbo was {mid}@{mid}. asset={asset}",
            mid = fmt(mid)
        )}),
        Some("Ioc") if !crosses => json!({"error": format!(
            "Order could not immediately match against any resting orders. asset={asset}"
        )}),
        Some(_) if crosses => json!({"filled": {"totalSz": order.s, "avgPx": fmt(mid), "oid": oid}}),
        _ => json!({"resting": {"oid": oid}}),
    }
}
