//! Hyperliquid's L1-action wire format and how a wallet's signature covers it, in one place
//! for both sides: the Hyperliquid agent builds order proposals with it, the sandbox's
//! `/exchange` verifies signed orders with it. Two copies could drift apart silently (a key
//! order, a missing vault byte) and the agent's proposals would then fail only against the
//! real venue; with one copy, the sandbox's acceptance of a proposal proves the real hash.
//!
//! Signing scheme (Hyperliquid docs "Exchange endpoint" → "Signing", and the Python SDK's
//! `utils/signing.py`): the action is MessagePack-encoded with its keys in wire order, followed
//! by the nonce (8 bytes big-endian), `0x00` without a vault or `0x01` + the vault's 20 bytes,
//! and, when `expiresAfter` is set, `0x00` + it as 8 bytes; the keccak of those bytes is the
//! `connectionId` of a "phantom agent" `Agent(string source,bytes32 connectionId)` with
//! `source` `"a"` on mainnet and `"b"` on testnet, signed as EIP-712 typed data in the domain
//! `{name: "Exchange", version: "1", chainId: 1337, verifyingContract: 0x0}`.
//! `tests/sdk_vectors.rs` reproduces the SDK's published signing vectors.
//!
//! The action types are structs whose field order is the wire order, because the hash covers
//! the MessagePack bytes: a `serde_json::Value` (keys sorted) would hash differently from what
//! the SDKs and the venue compute.
//!
//! Only what the project uses is modelled: the `order` action (limit and trigger types,
//! `grouping`, `builder`) and the price/size number rules of perpetuals ([`number`]).

pub mod number;

use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use alloy_sol_types::{SolStruct, eip712_domain};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use number::{NumberError, float_to_wire, fmt_number, round_px, round_size_down};

alloy_sol_types::sol! {
    /// Hyperliquid's phantom agent: what an L1 action's signature actually signs.
    struct Agent {
        string source;
        bytes32 connectionId;
    }
}

/// Candle intervals `candleSnapshot` accepts, with their length in milliseconds.
pub const CANDLE_INTERVALS: [(&str, u64); 13] = [
    ("1m", 60_000),
    ("3m", 180_000),
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
    ("1w", 604_800_000),
];

/// The EIP-712 domain of L1 actions (fixed; the network is told by the agent's `source`).
pub const DOMAIN_NAME: &str = "Exchange";
pub const DOMAIN_VERSION: &str = "1";
pub const DOMAIN_CHAIN_ID: u64 = 1337;

/// Mainnet or testnet: which `source` letter is signed and which host serves the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Testnet,
}

impl Network {
    /// The phantom agent's `source`.
    pub fn source(self) -> &'static str {
        match self {
            Network::Mainnet => "a",
            Network::Testnet => "b",
        }
    }

    /// The API origin (`/info`, `/exchange` below it).
    pub fn api_origin(self) -> &'static str {
        match self {
            Network::Mainnet => "https://api.hyperliquid.xyz",
            Network::Testnet => "https://api.hyperliquid-testnet.xyz",
        }
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

impl OrderAction {
    /// An action of one order, without grouping (`"na"`) or builder fee: what the SDKs send for
    /// a single order.
    pub fn single(order: OrderWire) -> Self {
        Self { kind: "order".to_owned(), orders: vec![order], grouping: "na".to_owned(), builder: None }
    }
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

impl OrderWire {
    /// A limit order (`tif` `Gtc`, `Ioc` or `Alo`) without client order id.
    pub fn limit(asset: u32, is_buy: bool, px: String, sz: String, reduce_only: bool, tif: &str) -> Self {
        let t = OrderType { limit: Some(Limit { tif: tif.to_owned() }), trigger: None };
        Self { a: asset, b: is_buy, p: px, s: sz, r: reduce_only, t, c: None }
    }
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSignature {
    pub r: String,
    pub s: String,
    pub v: u8,
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
pub fn signing_hash(connection_id: B256, network: Network) -> B256 {
    let domain = eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: DOMAIN_CHAIN_ID,
        verifying_contract: Address::ZERO,
    };
    let agent = Agent { source: network.source().to_owned(), connectionId: connection_id };
    agent.eip712_signing_hash(&domain)
}

/// The phantom agent as `eth_signTypedData_v4` JSON: what a wallet is asked to sign. Its
/// digest is [`signing_hash`] (a test checks it through alloy's `TypedData`).
pub fn typed_data(connection_id: B256, network: Network) -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"}
            ],
            "Agent": [
                {"name": "source", "type": "string"},
                {"name": "connectionId", "type": "bytes32"}
            ]
        },
        "primaryType": "Agent",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": DOMAIN_CHAIN_ID,
            "verifyingContract": format!("{:#x}", Address::ZERO)
        },
        "message": {"source": network.source(), "connectionId": format!("{connection_id:#x}")}
    })
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
