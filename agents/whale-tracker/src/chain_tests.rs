use std::cell::RefCell;

use agent_io::http::HttpError;
use serde_json::Value;

use super::*;

/// A node holding `logs` that refuses any `eth_getLogs` whose answer would exceed `cap` logs,
/// the way geth does, and records every range asked for.
struct CappedNode {
    logs: Vec<Value>,
    cap: usize,
    ranges: RefCell<Vec<(u64, u64)>>,
}

fn log(token: Address, block: u64, index: u64, amount: u64) -> Value {
    let topic = |a: Address| format!("0x{:0>64}", alloy_primitives::hex::encode(a));
    json!({
        "address": token,
        "topics": [TRANSFER_TOPIC, topic(Address::repeat_byte(1)), topic(Address::repeat_byte(2))],
        "data": format!("0x{amount:064x}"),
        "blockNumber": format!("{block:#x}"),
        "transactionHash": format!("0x{:064x}", block * 1000 + index),
        "logIndex": format!("{index:#x}"),
        "removed": false,
    })
}

impl Transport for &CappedNode {
    fn post(&self, _url: &str, body: &Value) -> Result<Value, HttpError> {
        let filter = &body["params"][0];
        let block = |k: &str| u64::from_str_radix(filter[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        let (from, to) = (block("fromBlock"), block("toBlock"));
        self.ranges.borrow_mut().push((from, to));
        let hits: Vec<Value> = self
            .logs
            .iter()
            .filter(|l| (from..=to).contains(&hex_u64("b", l["blockNumber"].as_str().unwrap()).unwrap()))
            .cloned()
            .collect();
        if hits.len() > self.cap {
            let message = format!("query returned more than {} results", self.cap);
            return Ok(json!({"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32005, "message": message}}));
        }
        Ok(json!({"jsonrpc": "2.0", "id": body["id"], "result": hits}))
    }
}

fn token() -> Address {
    Address::repeat_byte(0xaa)
}

#[test]
fn halves_the_span_when_the_node_refuses_and_keeps_every_log_in_order() {
    // 8 logs in blocks 100..=107, at most 2 per answer.
    let node = CappedNode {
        logs: (0..8).map(|i| log(token(), 100 + i, 0, 10 + i)).collect(),
        cap: 2,
        ranges: RefCell::default(),
    };
    let client = Client::new(&node, "https://rpc.example", 50);
    let (transfers, stats) = transfers(&client, &[token()], 100, 107, 1000).unwrap();
    assert_eq!(transfers.iter().map(|t| t.block).collect::<Vec<_>>(), (100..=107).collect::<Vec<_>>());
    assert_eq!(transfers[3].amount, U256::from(13u64));
    // 8 blocks refused, 4 refused, then windows of 2 succeed.
    assert_eq!(*node.ranges.borrow(), [(100, 107), (100, 103), (100, 101), (102, 103), (104, 105), (106, 107)]);
    assert_eq!(stats, FetchStats { get_logs_requests: 6, splits: 2 });
}

#[test]
fn a_block_the_node_cannot_answer_and_the_request_bound_are_errors() {
    let dense: Vec<Value> = (0..3).map(|i| log(token(), 5, i, 1)).collect();
    let node = CappedNode { logs: dense, cap: 2, ranges: RefCell::default() };
    let client = Client::new(&node, "https://rpc.example", 50);
    assert!(matches!(transfers(&client, &[token()], 5, 6, 1000), Err(ChainError::BlockTooDense(5, _))));

    let node =
        CappedNode { logs: (0..64).map(|i| log(token(), i, 0, 1)).collect(), cap: 1, ranges: RefCell::default() };
    let client = Client::new(&node, "https://rpc.example", 10);
    let err = transfers(&client, &[token()], 0, 63, 1000).unwrap_err();
    assert!(matches!(err, ChainError::Rpc(RpcError::TooManyRequests(10))), "{err}");
    assert_eq!(node.ranges.borrow().len(), 10);

    let node =
        CappedNode { logs: (0..5).map(|i| log(token(), i, 0, 1)).collect(), cap: 10, ranges: RefCell::default() };
    let client = Client::new(&node, "https://rpc.example", 10);
    assert!(matches!(transfers(&client, &[token()], 0, 9, 4), Err(ChainError::TooManyLogs(4))));
}

#[test]
fn classifies_provider_limit_messages_but_not_other_failures() {
    let rpc = |code, message: &str| RpcError::Rpc { method: "eth_getLogs".into(), code, message: message.into() };
    for limit in [
        rpc(-32005, "whatever"),
        rpc(-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"),
        rpc(-32000, "query exceeds max block range 100000"),
        rpc(-32614, "eth_getLogs is limited to a 10,000 range"),
        rpc(-32000, "too many results, narrow your filter"),
    ] {
        assert!(is_range_limit(&limit), "{limit}");
    }
    let status = |status, snippet: &str| RpcError::Http(HttpError::Status { status, snippet: snippet.into() });
    assert!(is_range_limit(&status(413, "Request range too large")));
    for other in [
        rpc(-32601, "method not found"),
        rpc(-32005, "daily request count exceeded, request rate limited"),
        rpc(-32000, "rate limit reached, retry later"),
        rpc(-32000, "header not found"),
        status(403, "egress refused: request budget exceeded (64 requests)"),
        status(429, "rate limit exceeded"),
        status(502, "bad gateway"),
    ] {
        assert!(!is_range_limit(&other), "{other}");
    }
}

#[test]
fn decodes_erc20_transfers_only() {
    let mut l: RawLog = serde_json::from_value(log(token(), 7, 3, 500)).unwrap();
    let t = decode(&l).unwrap().unwrap();
    assert_eq!(
        (t.token, t.from, t.to, t.amount, t.block, t.log_index),
        (token(), Address::repeat_byte(1), Address::repeat_byte(2), U256::from(500u64), 7, 3)
    );
    // ERC-721: the id is a fourth topic and data is empty.
    let mut nft = l.clone();
    nft.topics.push(format!("0x{:064x}", 9));
    nft.data = "0x".into();
    assert_eq!(decode(&nft).unwrap(), None);
    l.removed = true;
    assert_eq!(decode(&l).unwrap(), None);
    l.removed = false;
    l.block_number = Some("12".into());
    assert!(matches!(decode(&l), Err(ChainError::Malformed { .. })));
}

#[test]
fn decodes_decimals_and_both_symbol_encodings() {
    let word = |n: u64| {
        let mut w = vec![0u8; 32];
        w[24..].copy_from_slice(&n.to_be_bytes());
        w
    };
    assert_eq!(decode_decimals(&word(6)), Some(6));
    assert_eq!(decode_decimals(&word(200)), None);
    assert_eq!(decode_decimals(&[1, 2]), None);
    let mut abi = word(32);
    abi.extend(word(4));
    abi.extend(b"USDC\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    assert_eq!(decode_symbol(&abi).as_deref(), Some("USDC"));
    let mut mkr = b"MKR".to_vec();
    mkr.resize(32, 0);
    assert_eq!(decode_symbol(&mkr).as_deref(), Some("MKR"));
    let mut sneaky = word(32);
    sneaky.extend(word(8));
    sneaky.extend("U\u{202e}SDC\n".as_bytes());
    sneaky.resize(128, 0);
    assert_eq!(decode_symbol(&sneaky).as_deref(), Some("USDC"));
    let mut lying = word(32);
    lying.extend(word(1_000_000));
    assert_eq!(decode_symbol(&lying), None);
}
