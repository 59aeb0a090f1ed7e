//! What the tracker reads from the chain: the head, token metadata and `Transfer` logs.
//!
//! `eth_getLogs` over a wide range is where public endpoints push back: each provider caps the
//! block range or the result count and says so in its own words (geth/Infura `query returned
//! more than 10000 results` with code -32005, Alchemy `Log response size exceeded`, reth `query
//! exceeds max block range`, QuickNode `eth_getLogs is limited to a 10,000 range`, ...). So the
//! range is fetched with an adaptive span: start with the whole range, halve the span whenever
//! the node refuses, keep the halved span for the rest (the next window is most likely as dense),
//! and stop at one block (a block the node cannot answer for is an error, not a silent gap). The
//! client's request bound keeps the total finite whatever the node says. Splitting up front into
//! fixed chunks was rejected: a fixed size is too large for one provider and wastes requests on
//! another.

use agent_io::jsonrpc::{Client, RpcError, Transport};
use alloy_primitives::{Address, U256};
use serde::Deserialize;
use serde_json::{Value, json};

/// `keccak256("Transfer(address,address,uint256)")`.
pub const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// `decimals()` and `symbol()` selectors.
const DECIMALS: &str = "0x313ce567";
const SYMBOL: &str = "0x95d89b41";
/// Longest symbol kept (after dropping control characters).
pub const MAX_SYMBOL_CHARS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("the node refuses eth_getLogs even for block {0} alone: {1}")]
    BlockTooDense(u64, RpcError),
    #[error("more than {0} Transfer logs in the range: ask for fewer blocks")]
    TooManyLogs(usize),
    #[error("malformed {what} from the node: {value}")]
    Malformed { what: &'static str, value: String },
}

/// One ERC-20 `Transfer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: U256,
    pub block: u64,
    pub transaction_hash: String,
    pub log_index: u64,
}

/// A log as `eth_getLogs` returns it (the fields used).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawLog {
    pub address: String,
    pub topics: Vec<String>,
    pub data: String,
    pub block_number: Option<String>,
    pub transaction_hash: Option<String>,
    pub log_index: Option<String>,
    #[serde(default)]
    pub removed: bool,
}

/// How the logs were fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub get_logs_requests: u32,
    /// Times the node refused a range and the span was halved.
    pub splits: u32,
}

pub fn hex_u64(what: &'static str, text: &str) -> Result<u64, ChainError> {
    text.strip_prefix("0x")
        .filter(|h| !h.is_empty() && h.len() <= 16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| ChainError::Malformed { what, value: text.chars().take(80).collect() })
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("0x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// The address in the low 20 bytes of a 32-byte topic (upper 12 must be zero).
fn topic_address(topic: &str) -> Option<Address> {
    let bytes = hex_bytes(topic)?;
    (bytes.len() == 32 && bytes[..12].iter().all(|&b| b == 0)).then(|| Address::from_slice(&bytes[12..]))
}

/// The ERC-20 transfer a log holds; `None` for logs of another shape (ERC-721's `Transfer`
/// indexes the token id as a fourth topic and has no data) and for removed (reorged) logs.
pub fn decode(log: &RawLog) -> Result<Option<Transfer>, ChainError> {
    if log.removed || log.topics.len() != 3 || !log.topics[0].eq_ignore_ascii_case(TRANSFER_TOPIC) {
        return Ok(None);
    }
    let (Some(from), Some(to)) = (topic_address(&log.topics[1]), topic_address(&log.topics[2])) else {
        return Ok(None);
    };
    let Some(data) = hex_bytes(&log.data).filter(|d| d.len() == 32) else {
        return Ok(None);
    };
    let malformed = |what, value: &str| ChainError::Malformed { what, value: value.chars().take(80).collect() };
    let token = log.address.parse::<Address>().map_err(|_| malformed("log address", &log.address))?;
    let tx = log.transaction_hash.clone().unwrap_or_default();
    if hex_bytes(&tx).is_none_or(|b| b.len() != 32) {
        return Err(malformed("transaction hash", &tx));
    }
    Ok(Some(Transfer {
        token,
        from,
        to,
        amount: U256::from_be_slice(&data),
        block: hex_u64("log block number", log.block_number.as_deref().unwrap_or_default())?,
        transaction_hash: tx.to_ascii_lowercase(),
        log_index: hex_u64("log index", log.log_index.as_deref().unwrap_or_default())?,
    }))
}

/// Whether a failed `eth_getLogs` means "ask for less" rather than a real failure.
///
/// Rate limiting is excluded even where it shares the code (Infura answers both "more than
/// 10000 results" and "request rate limited" with -32005): halving would spend the request
/// bound on a node that asks us to slow down, then blame a block for it.
pub fn is_range_limit(error: &RpcError) -> bool {
    const PHRASES: [&str; 7] =
        ["more than", "too many", "exceed", "limit", "block range", "response size", "too large"];
    const RATE: [&str; 3] = ["rate limit", "request rate", "daily request"];
    let text = match error {
        RpcError::Rpc { message, .. } => message.to_ascii_lowercase(),
        // Some gateways answer an oversized query with an HTTP error; the proxy's own refusals
        // (budget, policy) are never a reason to retry with a smaller range.
        RpcError::Http(http) if !http.is_egress_refusal() => match http {
            agent_io::http::HttpError::Status { status, snippet } if *status != 429 => snippet.to_ascii_lowercase(),
            _ => return false,
        },
        _ => return false,
    };
    if RATE.iter().any(|r| text.contains(r)) {
        return false;
    }
    matches!(error, RpcError::Rpc { code: -32005, .. }) || PHRASES.iter().any(|p| text.contains(p))
}

/// The newest block number.
pub fn block_number<T: Transport>(client: &Client<T>) -> Result<u64, ChainError> {
    let head: String = client.call("eth_blockNumber", json!([]))?;
    hex_u64("block number", &head)
}

/// `Transfer` logs of `tokens` in `from..=to`, in the node's order (block, then log index).
pub fn transfers<T: Transport>(
    client: &Client<T>,
    tokens: &[Address],
    from: u64,
    to: u64,
    max_logs: usize,
) -> Result<(Vec<Transfer>, FetchStats), ChainError> {
    let mut stats = FetchStats::default();
    let mut out = Vec::new();
    let mut span = to - from + 1;
    let mut cursor = from;
    while cursor <= to {
        let end = to.min(cursor.saturating_add(span - 1));
        let filter = json!([{
            "address": tokens,
            "topics": [TRANSFER_TOPIC],
            "fromBlock": format!("{cursor:#x}"),
            "toBlock": format!("{end:#x}"),
        }]);
        stats.get_logs_requests += 1;
        match client.call::<Vec<RawLog>>("eth_getLogs", filter) {
            Ok(logs) => {
                for log in &logs {
                    // The filter names the tokens; a node answering with other contracts' logs
                    // must not have them counted.
                    if let Some(t) = decode(log)?.filter(|t| tokens.contains(&t.token)) {
                        out.push(t);
                    }
                }
                if out.len() > max_logs {
                    return Err(ChainError::TooManyLogs(max_logs));
                }
                match end.checked_add(1) {
                    Some(next) => cursor = next,
                    None => break,
                }
            }
            Err(error) if is_range_limit(&error) => {
                if end == cursor {
                    return Err(ChainError::BlockTooDense(cursor, error));
                }
                let window = end - cursor + 1;
                span = window / 2;
                stats.splits += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok((out, stats))
}

/// What `decimals()` and `symbol()` say about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMeta {
    pub decimals: Option<u8>,
    pub symbol: Option<String>,
}

/// `decimals()` and `symbol()` of every token, in one batch request. A call that reverts or
/// answers garbage leaves the field `None` (many old tokens lack `symbol()` or return `bytes32`).
pub fn token_meta<T: Transport>(client: &Client<T>, tokens: &[Address]) -> Result<Vec<TokenMeta>, ChainError> {
    let call = |token: &Address, data: &str| ("eth_call", json!([{ "to": token, "data": data }, "latest"]));
    let calls: Vec<(&str, Value)> = tokens.iter().flat_map(|t| [call(t, DECIMALS), call(t, SYMBOL)]).collect();
    let answers = client.batch(&calls)?;
    let bytes = |i: usize| -> Option<Vec<u8>> { answers.get(i)?.as_ref().ok()?.as_str().and_then(hex_bytes) };
    Ok((0..tokens.len())
        .map(|i| TokenMeta {
            decimals: bytes(2 * i).and_then(|b| decode_decimals(&b)),
            symbol: bytes(2 * i + 1).and_then(|b| decode_symbol(&b)),
        })
        .collect())
}

fn decode_decimals(bytes: &[u8]) -> Option<u8> {
    let word = bytes.get(..32)?;
    let value = U256::from_be_slice(word);
    u8::try_from(value).ok().filter(|&d| d <= crate::units::MAX_DECIMALS)
}

/// An ABI `string`, or the `bytes32` some early tokens (MKR, SAI) return.
fn decode_symbol(bytes: &[u8]) -> Option<String> {
    let raw: &[u8] = if bytes.len() == 32 {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(32);
        &bytes[..end]
    } else {
        let offset = usize::try_from(U256::from_be_slice(bytes.get(..32)?)).ok()?;
        let len_end = offset.checked_add(32)?;
        let len = usize::try_from(U256::from_be_slice(bytes.get(offset..len_end)?)).ok()?;
        bytes.get(len_end..len_end.checked_add(len)?)?
    };
    // Control and bidi/zero-width characters could reorder or hide what a buyer reads.
    let hidden = |c: char| {
        c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let text: String = String::from_utf8_lossy(raw).chars().filter(|&c| !hidden(c)).take(MAX_SYMBOL_CHARS).collect();
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
