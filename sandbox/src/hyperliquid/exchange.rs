//! `POST /exchange` with the `order` action, its L1-action signature verified.
//!
//! Signing scheme (Hyperliquid docs "Exchange endpoint" and the Python SDK's
//! `utils/signing.py`): the action is MessagePack-encoded with its keys in wire order, followed
//! by the nonce (8 bytes big-endian), `0x00` without a vault or `0x01` + the vault's 20 bytes,
//! and, when `expiresAfter` is set, `0x00` + it as 8 bytes; the keccak of those bytes is the
//! `connectionId` of a "phantom agent" `Agent(string source,bytes32 connectionId)` with
//! `source` `"a"` on mainnet and `"b"` on testnet, signed as EIP-712 typed data in the domain
//! `{name: "Exchange", version: "1", chainId: 1337, verifyingContract: 0x0}`. Tests reproduce
//! the SDK's published signing vectors.
//!
//! The action is decoded into typed structs whose field order is the wire order, because the
//! hash covers the MessagePack bytes: a `serde_json::Value` (keys sorted) would hash
//! differently from what the wallet signed.
//!
//! Simplified: only `order` (limit and trigger types, `grouping`, `builder`); a signer must be
//! one of the configured accounts (the real venue answers the same error for an unknown
//! wallet); agent (API) wallets are not modelled; nonces must be unique per signer but are not
//! checked against a time window (the sandbox's clock is fixed); a crossing limit order fills
//! in full at the mid, a non-crossing one rests; nothing changes positions.

use std::collections::HashSet;
use std::sync::Arc;

use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use alloy::sol_types::{SolStruct, eip712_domain};
use axum::Json;
use axum::extract::State as AxumState;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::State;
use super::market::{self, COINS, fmt};

alloy::sol! {
    /// Hyperliquid's phantom agent: what an L1 action's signature actually signs.
    struct Agent {
        string source;
        bytes32 connectionId;
    }
}

/// An `order` action as the SDKs build it; field order is the MessagePack key order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub orders: Vec<OrderWire>,
    pub grouping: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
}

/// One order of an `order` action (`a` asset, `b` is buy, `p` price, `s` size, `r` reduce
/// only, `t` type, `c` client order id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderWire {
    pub a: u32,
    pub b: bool,
    pub p: String,
    pub s: String,
    pub r: bool,
    pub t: OrderType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<String>,
}

/// `{"limit": {"tif": …}}` or `{"trigger": {"isMarket", "triggerPx", "tpsl"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderType {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limit {
    pub tif: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trigger {
    #[serde(rename = "isMarket")]
    pub is_market: bool,
    #[serde(rename = "triggerPx")]
    pub trigger_px: String,
    pub tpsl: String,
}

/// Builder fee: `b` the builder's address (lowercase hex), `f` the fee in tenths of a bp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Builder {
    pub b: String,
    pub f: u64,
}

/// `signature` of an `/exchange` request.
#[derive(Debug, Clone, Deserialize)]
pub struct WireSignature {
    pub r: String,
    pub s: String,
    pub v: u8,
}

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

/// Why an action's hash could not be computed.
#[derive(Debug, thiserror::Error)]
#[error("encoding the action as MessagePack: {0}")]
pub struct EncodeError(#[from] rmp_serde::encode::Error);

/// keccak256 of the action's MessagePack bytes, nonce, vault flag and expiry (the
/// `connectionId`).
pub fn action_hash(
    action: &OrderAction,
    vault_address: Option<Address>,
    nonce: u64,
    expires_after: Option<u64>,
) -> Result<B256, EncodeError> {
    let mut data = rmp_serde::to_vec_named(action)?;
    data.extend_from_slice(&nonce.to_be_bytes());
    match vault_address {
        None => data.push(0),
        Some(vault) => {
            data.push(1);
            data.extend_from_slice(vault.as_slice());
        }
    }
    if let Some(expires) = expires_after {
        data.push(0);
        data.extend_from_slice(&expires.to_be_bytes());
    }
    Ok(keccak256(data))
}

/// The EIP-712 digest a wallet signs for an L1 action with this `connectionId`.
pub fn signing_hash(connection_id: B256, mainnet: bool) -> B256 {
    let domain = eip712_domain! {
        name: "Exchange",
        version: "1",
        chain_id: 1337,
        verifying_contract: Address::ZERO,
    };
    let agent = Agent { source: if mainnet { "a" } else { "b" }.to_owned(), connectionId: connection_id };
    agent.eip712_signing_hash(&domain)
}

/// The address that produced `signature` over `digest`, or why none can be recovered.
pub fn recover(signature: &WireSignature, digest: B256) -> Result<Address, String> {
    let word = |hex: &str| {
        U256::from_str_radix(hex.trim_start_matches("0x"), 16).map_err(|e| format!("bad signature word {hex:?}: {e}"))
    };
    let parity = match signature.v {
        27 => false,
        28 => true,
        v => return Err(format!("bad signature v {v}, expected 27 or 28")),
    };
    Signature::new(word(&signature.r)?, word(&signature.s)?, parity)
        .recover_address_from_prehash(&digest)
        .map_err(|e| format!("signature recovery failed: {e}"))
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
    let digest = signing_hash(hash, state.config.hyperliquid_mainnet);
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
