//! `nexus proposals <id>` as a user runs it: the output's proposals decoded against the real
//! deployment (anvil with the contracts), hostile text neutralised, `--json`, and an output whose
//! proposals break the shape refused with the rule. The API is a small fake serving sign-in and
//! the output, so the output is exactly what the test chose.

mod common;

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use nexus_bindings::AgentMarketplace;
use nexus_testkit::Devnet;
use serde_json::{Value, json};

use common::{nexus, sign_in_only};

const HOSTILE: &str = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{202e}fdp.exe";

fn outputs(market: Address) -> [Value; 2] {
    let purchase =
        AgentMarketplace::purchaseCall { agentId: U256::from(1), units: U256::from(3), maxUnitPrice: U256::from(1000) }
            .abi_encode();
    let typed_data = json!({
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
                  "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]},
        "primaryType": "Agent", "domain": {"name": "Exchange", "chainId": 1337},
        "message": {"source": HOSTILE, "connectionId": format!("0x{}", "ab".repeat(32))}
    });
    [
        json!({"summary": "plan", "proposals": [
            {"kind": "call", "chainId": 31337, "to": market, "value": "3000", "data": alloy::hex::encode_prefixed(purchase),
             "summary": "Buy 3 runs of agent 1"},
            {"kind": "call", "chainId": 1, "to": market, "value": "0", "data": "0x", "summary": "Mainnet?"},
            {"kind": "typedData", "summary": "Buy 0.1 BTC", "typedData": typed_data,
             "submitTo": "https://api.hyperliquid.xyz/exchange", "submitBody": {"action": {"type": "order"}, "nonce": 1}}
        ]}),
        json!({"proposals": [{"kind": "call", "chainId": 31337, "to": market, "value": "0", "data": "0x", "summary": ""}]}),
    ]
}

#[tokio::test]
async fn proposals_are_shown_decoded_and_neutralised() {
    let devnet = Devnet::start().await.expect("devnet");
    let market = devnet.deployments.contracts.agent_marketplace;
    let documents = outputs(market);
    let app = Router::new().route("/graphql", post(sign_in_only)).route(
        "/v1/executions/{id}/output",
        get(move |Path(id): Path<usize>| {
            let document = documents.get(id - 1).cloned().unwrap_or(Value::Null);
            async move { document.to_string() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");

    let out = nexus(&devnet, &api, dir.path(), &["proposals", "1"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("proposes 3 action(s) on chain 31337"), "{text}");
    assert!(text.contains("AgentMarketplace purchase(agentId: 1, units: 3, maxUnitPrice: 1000)"), "{text}");
    assert!(text.contains(&format!("{} (AgentMarketplace)", market.to_checksum(None))), "{text}");
    assert!(text.contains("#1 call on chain 1  !! NOT the chain this CLI is connected to"), "{text}");
    assert!(text.contains("#2 typed data: your signature goes to >>> api.hyperliquid.xyz <<<"), "{text}");
    assert!(text.contains("\\u{202e}fdp.exe"), "the hostile message field is shown escaped: {text}");
    for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!text.contains(raw), "U+{:04X} reached the terminal: {text:?}", raw as u32);
    }

    let out = nexus(&devnet, &api, dir.path(), &["proposals", "1", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!stdout.contains('\u{202e}'), "{stdout}");
    let views: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(views[0]["decoded"]["function"], "purchase");
    assert_eq!(views[0]["valueEth"], "0.000000000000003");
    assert_eq!(views[1]["chainMatches"], false);
    assert_eq!(views[2]["submitHost"], "api.hyperliquid.xyz");
    assert_eq!(views[2]["typedData"]["message"]["source"], HOSTILE, "the same JSON value");

    let out = nexus(&devnet, &api, dir.path(), &["proposals", "2"]).await;
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not carry valid proposals") && stderr.contains("proposal 0: summary is empty"),
        "{stderr}"
    );
}
