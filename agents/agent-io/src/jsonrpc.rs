//! A small JSON-RPC 2.0 client over the egress door, for agents that read a chain (the whale
//! tracker's `eth_getLogs`, the gas advisor's `eth_feeHistory`).
//!
//! One type for every chain-reading agent, so request ids, error shapes and the request bound are
//! handled once. The transport is a trait: agents use [`crate::http::Egress`]; unit tests script
//! answers without a socket. An Ethereum client library (alloy's provider) was rejected: it brings
//! an async runtime and a transport stack into static agent binaries that make a dozen calls.
//!
//! Every HTTP request counts against [`Client::max_requests`] (a batch is one request), checked
//! before sending: the proxy's budget also refuses past its limit, but an agent that knows its
//! own bound can fail with a message naming it instead of a generic refusal.

use std::cell::Cell;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::http::{Egress, HttpError};

/// The Ethereum mainnet endpoint the catalog's chain readers name (whale tracker, gas advisor):
/// PublicNode's free, keyless endpoint, which serves `eth_getLogs`, `eth_call`, `eth_feeHistory`
/// and batches. An agent's metadata must list this host; operators route it elsewhere (anvil in
/// tests and `make dev`, a paid provider in production) with the relayer's egress routes.
pub const MAINNET_RPC_URL: &str = "https://ethereum-rpc.publicnode.com";

/// Sends one JSON-RPC request body and returns the parsed response body.
pub trait Transport {
    fn post(&self, url: &str, body: &Value) -> Result<Value, HttpError>;
}

impl Transport for Egress {
    fn post(&self, url: &str, body: &Value) -> Result<Value, HttpError> {
        self.post_json(url, body)?.error_for_status()?.json()
    }
}

/// Why a call produced no result.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The node answered with a JSON-RPC error object.
    #[error("{method}: JSON-RPC error {code}: {message}")]
    Rpc { method: String, code: i64, message: String },
    #[error("{method}: malformed JSON-RPC response: {reason}")]
    Malformed { method: String, reason: String },
    #[error("more than {0} JSON-RPC requests would be needed")]
    TooManyRequests(u32),
}

/// A JSON-RPC endpoint.
pub struct Client<T> {
    transport: T,
    url: String,
    next_id: Cell<u64>,
    requests: Cell<u32>,
    max_requests: u32,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, url: impl Into<String>, max_requests: u32) -> Self {
        Client { transport, url: url.into(), next_id: Cell::new(1), requests: Cell::new(0), max_requests }
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn spend(&self) -> Result<(), RpcError> {
        if self.requests.get() >= self.max_requests {
            return Err(RpcError::TooManyRequests(self.max_requests));
        }
        self.requests.set(self.requests.get() + 1);
        Ok(())
    }

    fn request(&self, method: &str, params: &Value) -> (u64, Value) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        (id, json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
    }

    /// Calls `method` and deserializes its `result`.
    pub fn call<R: DeserializeOwned>(&self, method: &str, params: Value) -> Result<R, RpcError> {
        self.spend()?;
        let (id, body) = self.request(method, &params);
        let reply = self.transport.post(&self.url, &body)?;
        let result = answer(method, id, &reply)?;
        serde_json::from_value(result).map_err(|e| malformed(method, e.to_string()))
    }

    /// Sends `calls` as one JSON-RPC batch (one HTTP request) and returns each call's outcome
    /// in the order given, matched by id (nodes may answer a batch in any order).
    pub fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, RpcError>>, RpcError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        self.spend()?;
        let (ids, bodies): (Vec<u64>, Vec<Value>) = calls.iter().map(|(m, p)| self.request(m, p)).unzip();
        let reply = self.transport.post(&self.url, &Value::Array(bodies))?;
        let Value::Array(items) = reply else {
            // A node refusing batches answers with one error object: surface it.
            return Err(answer("batch", 0, &reply).err().unwrap_or_else(|| malformed("batch", "not an array")));
        };
        Ok(ids
            .iter()
            .zip(calls)
            .map(|(&id, (method, _))| {
                let item = items.iter().find(|i| i.get("id").and_then(Value::as_u64) == Some(id));
                item.map_or_else(|| Err(malformed(method, "no answer in the batch")), |i| answer(method, id, i))
            })
            .collect())
    }
}

fn malformed(method: &str, reason: impl Into<String>) -> RpcError {
    RpcError::Malformed { method: method.to_owned(), reason: reason.into() }
}

/// The `result` of one response object, or its error.
fn answer(method: &str, id: u64, reply: &Value) -> Result<Value, RpcError> {
    if let Some(error) = reply.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message: String = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        return Err(RpcError::Rpc { method: method.to_owned(), code, message });
    }
    if id != 0 && reply.get("id").and_then(Value::as_u64) != Some(id) {
        return Err(malformed(method, "id does not match the request"));
    }
    reply.get("result").cloned().ok_or_else(|| malformed(method, "neither result nor error"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers from a script and keeps what was sent.
    struct Script {
        replies: RefCell<Vec<Value>>,
        sent: RefCell<Vec<Value>>,
    }

    impl Transport for &Script {
        fn post(&self, _url: &str, body: &Value) -> Result<Value, HttpError> {
            self.sent.borrow_mut().push(body.clone());
            Ok(self.replies.borrow_mut().remove(0))
        }
    }

    fn script(replies: Vec<Value>) -> Script {
        Script { replies: RefCell::new(replies), sent: RefCell::new(Vec::new()) }
    }

    #[test]
    fn calls_match_ids_and_surface_node_errors() {
        let s = script(vec![
            json!({"jsonrpc": "2.0", "id": 1, "result": "0x10"}),
            json!({"jsonrpc": "2.0", "id": 2, "error": {"code": -32005, "message": "query returned more than 10000 results"}}),
            json!({"jsonrpc": "2.0", "id": 99, "result": "0x1"}),
        ]);
        let client = Client::new(&s, "https://rpc.example", 10);
        assert_eq!(client.call::<String>("eth_blockNumber", json!([])).unwrap(), "0x10");
        assert_eq!(s.sent.borrow()[0], json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}));
        let err = client.call::<Value>("eth_getLogs", json!([{}])).unwrap_err();
        assert!(matches!(&err, RpcError::Rpc { code: -32005, .. }), "{err}");
        assert!(err.to_string().contains("more than 10000 results"));
        let err = client.call::<String>("eth_chainId", json!([])).unwrap_err();
        assert!(matches!(err, RpcError::Malformed { .. }), "{err}");
        assert_eq!(client.requests(), 3);
    }

    #[test]
    fn batches_are_one_request_answered_in_any_order() {
        let s = script(vec![json!([
            {"jsonrpc": "2.0", "id": 2, "error": {"code": 3, "message": "execution reverted"}},
            {"jsonrpc": "2.0", "id": 1, "result": "0x06"},
        ])]);
        let client = Client::new(&s, "https://rpc.example", 1);
        let out = client.batch(&[("eth_call", json!([1])), ("eth_call", json!([2]))]).unwrap();
        assert_eq!(out[0].as_ref().unwrap(), &json!("0x06"));
        assert!(matches!(&out[1], Err(RpcError::Rpc { code: 3, .. })));
        assert_eq!(s.sent.borrow()[0].as_array().map(Vec::len), Some(2));
        // The bound is checked before sending.
        let err = client.call::<Value>("eth_blockNumber", json!([])).unwrap_err();
        assert!(matches!(err, RpcError::TooManyRequests(1)));
        assert_eq!(s.sent.borrow().len(), 1);
    }
}
