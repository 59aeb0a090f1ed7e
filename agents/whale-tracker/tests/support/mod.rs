//! A JSON-RPC node stand-in for what anvil cannot show: a provider that refuses `eth_getLogs`
//! over more than `max_span` blocks (as public endpoints do), with one synthetic transfer of
//! `TOKEN` per block. Plain HTTP/1.1 on a loopback port, one request per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub const TOKEN: &str = "0x00000000000000000000000000000000000000aa";
pub const HEAD: u64 = 0x20;
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

pub struct Stub {
    pub url: String,
    /// `(fromBlock, toBlock)` of every `eth_getLogs`, refused or not.
    pub ranges: Arc<Mutex<Vec<(u64, u64)>>>,
}

fn answer(call: &Value, max_span: u64, ranges: &Mutex<Vec<(u64, u64)>>) -> Value {
    let id = call["id"].clone();
    let ok = |result: Value| json!({ "jsonrpc": "2.0", "id": id, "result": result });
    match call["method"].as_str().unwrap_or_default() {
        "eth_blockNumber" => ok(json!(format!("{HEAD:#x}"))),
        "eth_call" if call["params"][0]["data"] == "0x313ce567" => ok(json!(format!("0x{:064x}", 6))),
        "eth_call" => {
            // symbol() = "STUB" as an ABI string.
            ok(json!(format!("0x{:064x}{:064x}{:0<64}", 32, 4, "53545542")))
        }
        "eth_getLogs" => {
            let block = |k: &str| {
                u64::from_str_radix(call["params"][0][k].as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
                    .unwrap_or(0)
            };
            let (from, to) = (block("fromBlock"), block("toBlock"));
            ranges.lock().unwrap().push((from, to));
            if to - from + 1 > max_span {
                return json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32000, "message": format!("query exceeds max block range {max_span}") } });
            }
            let logs: Vec<Value> = (from..=to)
                .map(|b| {
                    json!({
                        "address": TOKEN,
                        "topics": [TRANSFER, format!("0x{:064x}", 0x11), format!("0x{:064x}", 0x22)],
                        "data": format!("0x{:064x}", b * 1_000_000),
                        "blockNumber": format!("{b:#x}"),
                        "transactionHash": format!("0x{b:064x}"),
                        "logIndex": "0x0",
                        "removed": false
                    })
                })
                .collect();
            ok(json!(logs))
        }
        other => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32601, "message": format!("{other} not found") } })
        }
    }
}

/// Starts the stub on a free port; it serves until the test process ends.
pub fn start(max_span: u64) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let reply = match &request {
                Value::Array(calls) => Value::Array(calls.iter().map(|c| answer(c, max_span, &seen)).collect()),
                call => answer(call, max_span, &seen),
            };
            let reply = reply.to_string();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    Stub { url, ranges }
}
