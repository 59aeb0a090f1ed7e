//! `nexus apply` as a person runs it: the `nexus` binary against a real chain (anvil with the
//! contracts), a real bundler (Alto) for `--account`, and the sandbox's Hyperliquid `/exchange`
//! for typed data, which verifies the signature exactly as the venue does and records who signed.
//! The AgentNexus API is a small fake (sign-in and the output download), so each test chooses the
//! exact proposals an agent returned.
//!
//! What is proven on the chain or at the venue, not in the CLI's words: an approved allowance
//! exists after `apply`, a batched operation moved tokens from the smart account, a refused
//! `apply` left the key's nonce where it was, and the venue recovered the buyer's address from
//! the posted signature.

use std::collections::HashMap;
mod common;

use std::process::Output;
use std::sync::Arc;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256, address};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use nexus_bindings::TestUSDC;
use nexus_sandbox::hyperliquid::exchange::{Limit, OrderAction, OrderType, OrderWire, action_hash};
use nexus_sandbox::{HyperliquidAccount, Sandbox, SandboxConfig};
use nexus_testkit::Devnet;
use nexus_testkit::bundler::{Alto, deploy_account, mint_usdc};
use serde_json::{Value, json};

use common::{BUYER, nexus, sign_in_only};

const SPENDER: Address = address!("00000000000000000000000000000000000000b1");
const OTHER: Address = address!("00000000000000000000000000000000000000b2");

/// The fake API: sign-in always succeeds, `/v1/executions/{id}/output` serves `outputs[id]`.
async fn start_api(outputs: HashMap<String, Value>) -> String {
    async fn output(
        State(outputs): State<Arc<HashMap<String, Value>>>,
        Path(id): Path<String>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        match outputs.get(&id) {
            Some(v) => v.to_string().into_response(),
            None => (axum::http::StatusCode::NOT_FOUND, "no such output").into_response(),
        }
    }
    let app = Router::new()
        .route("/graphql", post(sign_in_only))
        .route("/v1/executions/{id}/output", get(output))
        .with_state(Arc::new(outputs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    api
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn call(chain_id: u64, to: Address, data: Vec<u8>, summary: &str) -> Value {
    json!({ "kind": "call", "chainId": chain_id, "to": to, "value": "0",
            "data": alloy::hex::encode_prefixed(data), "summary": summary })
}

fn approve(usdc: Address, spender: Address, amount: u64) -> Value {
    let data = TestUSDC::approveCall { spender, value: U256::from(amount) }.abi_encode();
    call(31337, usdc, data, &format!("Approve {amount} USDC base units to {spender}"))
}

fn output_with(proposals: Vec<Value>) -> Value {
    json!({ "summary": "done", "proposals": proposals })
}

#[tokio::test]
async fn calls_are_applied_from_the_wallet_in_order_and_refusals_send_nothing() {
    let devnet = Devnet::start().await.expect("devnet");
    let usdc = devnet.deployments.contracts.usdc;
    let buyer = devnet.signer(BUYER).address();
    let provider = devnet.dev_provider(0);
    let token = TestUSDC::new(usdc, &provider);
    let allowance = async |spender| token.allowance(buyer, spender).call().await.expect("allowance");
    let nonce = async || provider.get_transaction_count(buyer).await.expect("nonce");

    // transferFrom without an allowance: the token's custom error, decoded.
    let reverting = TestUSDC::transferFromCall { from: OTHER, to: buyer, value: U256::from(1) }.abi_encode();
    let permit = json!({
        "kind": "typedData", "summary": "Sign to continue",
        "typedData": {
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                           {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                           {"name": "deadline", "type": "uint256"}]
            },
            "primaryType": "Permit",
            "domain": {"name": "USD Coin", "version": "1", "chainId": 31337, "verifyingContract": usdc},
            "message": {"owner": buyer, "spender": SPENDER, "value": "1000000", "nonce": 0, "deadline": 1}
        },
        "submitTo": "http://127.0.0.1:9/permits",
        "submitBody": {}
    });
    let outputs = HashMap::from([
        ("1".to_string(), output_with(vec![approve(usdc, SPENDER, 10_000_000), approve(usdc, OTHER, 7)])),
        ("2".to_string(), output_with(vec![call(1, usdc, vec![0x09, 0x5e, 0xa7, 0xb3], "Approve on mainnet")])),
        (
            "3".to_string(),
            output_with(vec![
                approve(usdc, SPENDER, 1),
                call(31337, usdc, reverting, "Pull 1 USDC"),
                approve(usdc, OTHER, 3),
            ]),
        ),
        ("4".to_string(), output_with(vec![permit])),
    ]);
    let api = start_api(outputs).await;
    let home = tempfile::tempdir().expect("home");

    // No terminal and no --yes: refused before anything is signed.
    let before = nonce().await;
    let out = nexus(&devnet, &api, home.path(), &["apply", "1"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("stdin is not a terminal"), "{}", text(&out));
    assert_eq!(nonce().await, before, "nothing sent without confirmation");
    assert_eq!(allowance(SPENDER).await, U256::ZERO);

    // --index picks one proposal; --yes applies it.
    let out = nexus(&devnet, &api, home.path(), &["apply", "1", "--index", "1", "--yes"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(allowance(OTHER).await, U256::from(7));
    assert_eq!(allowance(SPENDER).await, U256::ZERO, "proposal 0 was not selected");
    assert_eq!(nonce().await, before + 1);

    // All of them, in order, one transaction each; the view shows the agent's summary.
    let out = nexus(&devnet, &api, home.path(), &["apply", "1", "--yes"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Approve 10000000 USDC base units"), "{}", text(&out));
    // ... next to the call decoded (nexus proposals' view), and who sends it.
    assert!(
        text(&out).contains("ERC-20 approve(spender: 0x00000000000000000000000000000000000000B1"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains(&format!("=> sent from your wallet {buyer}")), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(": tx 0x")).count(), 2);
    assert_eq!(allowance(SPENDER).await, U256::from(10_000_000));
    assert_eq!(nonce().await, before + 3);

    // A call for another chain is refused, nothing sent.
    let out = nexus(&devnet, &api, home.path(), &["apply", "2", "--yes"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is for chain 1, but you are connected to chain 31337"), "{}", text(&out));
    assert_eq!(nonce().await, before + 3);

    // The first refusal stops the rest: 0 applied, 1 explained, 2 never sent.
    let out = nexus(&devnet, &api, home.path(), &["apply", "3", "--yes"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("proposal 1") && said.contains("insufficient allowance"), "{said}");
    assert!(said.contains("1 proposal(s) applied before it (listed above), 1 after it not sent"), "{said}");
    assert_eq!(allowance(SPENDER).await, U256::from(1), "proposal 0 applied");
    assert_eq!(allowance(OTHER).await, U256::from(7), "proposal 2 not sent");
    assert_eq!(nonce().await, before + 4, "only proposal 0 was sent (1 failed its gas estimation)");

    // A token permit: refused without --allow-permit, and nothing posted.
    let out = nexus(&devnet, &api, home.path(), &["apply", "4", "--yes"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--allow-permit") && text(&out).contains("ERC-20 permit"), "{}", text(&out));
}

/// Hyperliquid's L1-action typed data for `action` (the phantom agent), as an agent proposes it.
fn hyperliquid_order(action: &OrderAction, nonce: u64, submit_to: &str) -> Value {
    let connection_id = action_hash(action, None, nonce, None).expect("hash");
    json!({
        "kind": "typedData",
        "summary": "Buy 0.01 BTC at 60000 (limit, GTC) on Hyperliquid",
        "typedData": {
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]
            },
            "primaryType": "Agent",
            "domain": {"name": "Exchange", "version": "1", "chainId": 1337, "verifyingContract": Address::ZERO},
            "message": {"source": "b", "connectionId": connection_id}
        },
        "submitTo": submit_to,
        "submitBody": {"action": action, "nonce": nonce, "vaultAddress": null}
    })
}

#[tokio::test]
async fn typed_data_is_signed_by_the_buyer_and_accepted_by_the_venue() {
    let devnet = Devnet::start().await.expect("devnet");
    let buyer = devnet.signer(BUYER).address();
    let account = HyperliquidAccount { address: buyer, usdc: 100_000.0, positions: Vec::new() };
    let sandbox = Sandbox::start(SandboxConfig { hyperliquid_accounts: vec![account], ..SandboxConfig::default() })
        .await
        .expect("sandbox");
    let order = |px: &str| OrderAction {
        kind: "order".into(),
        orders: vec![OrderWire {
            a: 0,
            b: true,
            p: px.into(),
            s: "0.01".into(),
            r: false,
            t: OrderType { limit: Some(Limit { tif: "Gtc".into() }), trigger: None },
            c: None,
        }],
        grouping: "na".into(),
        builder: None,
    };
    let direct = format!("{}/exchange", sandbox.hyperliquid.base_url);
    let outputs = HashMap::from([
        // The agent names the sandbox directly (loopback http is allowed).
        ("1".to_string(), output_with(vec![hyperliquid_order(&order("1000"), 1_796_601_600_001, &direct)])),
        // The agent names the real venue; make dev routes it to the sandbox.
        (
            "2".to_string(),
            output_with(vec![hyperliquid_order(
                &order("1001"),
                1_796_601_600_002,
                "https://api.hyperliquid.xyz/exchange",
            )]),
        ),
    ]);
    let api = start_api(outputs).await;
    let home = tempfile::tempdir().expect("home");

    let out = nexus(&devnet, &api, home.path(), &["apply", "1", "--yes"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let actions = sandbox.hyperliquid_actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].signer, Some(buyer), "the venue recovered the buyer from the signature");
    assert_eq!(actions[0].response["status"], "ok", "{:?}", actions[0].response);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"status\":\"ok\""), "{}", text(&out));

    let route = format!("https://api.hyperliquid.xyz={}", sandbox.hyperliquid.base_url);
    let out = nexus(&devnet, &api, home.path(), &["apply", "2", "--yes", "--submit-route", &route]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("your signature goes to >>> api.hyperliquid.xyz <<<"), "{}", text(&out));
    assert!(text(&out).contains("(routed from https://api.hyperliquid.xyz/exchange)"), "{}", text(&out));
    let actions = sandbox.hyperliquid_actions();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!((actions[1].signer, actions[1].nonce), (Some(buyer), 1_796_601_600_002));

    // The same order again (same nonce): the venue refuses, and apply says so with exit 1.
    let out = nexus(&devnet, &api, home.path(), &["apply", "2", "--yes", "--submit-route", &route]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("answered 200"), "{}", text(&out));
}

#[tokio::test]
async fn calls_go_out_from_the_smart_account_in_one_user_operation() {
    let devnet = Devnet::start().await.expect("devnet");
    let alto = Alto::start(&devnet).await.expect("alto");
    let d = &devnet.deployments;
    let (usdc, factory) = (d.contracts.usdc, d.contracts.nexus_account_factory.expect("factory"));
    let provider = devnet.dev_provider(0);
    let owner = devnet.signer(BUYER).address();
    let smart = nexus_accounts::SmartAccount::address_of(&provider, factory, owner, U256::ZERO).await.expect("address");
    // Deployed already, as any account that requested an execution is (signing in as it is an
    // EIP-1271 check); it pays its own gas: fund it with ETH, and USDC to move.
    let deployed = deploy_account(&devnet, &devnet.signer(BUYER), U256::ZERO, 6).await.expect("deploy");
    assert_eq!(deployed, smart);
    let fund = alloy::rpc::types::TransactionRequest::default().with_to(smart).with_value(U256::from(10u128.pow(18)));
    provider.send_transaction(fund).await.expect("fund").get_receipt().await.expect("funded");
    mint_usdc(&devnet, smart, 5_000_000).await.expect("mint");

    let transfer = TestUSDC::transferCall { to: OTHER, value: U256::from(2_000_000) }.abi_encode();
    let outputs = HashMap::from([(
        "1".to_string(),
        output_with(vec![approve(usdc, SPENDER, 42), call(31337, usdc, transfer, "Send 2 USDC")]),
    )]);
    let api = start_api(outputs).await;
    let home = tempfile::tempdir().expect("home");
    let out =
        nexus(&devnet, &api, home.path(), &["apply", "1", "--account", "--yes", "--bundler-url", &alto.url()]).await;
    assert!(out.status.success(), "{}\n{}", text(&out), alto.log_tail());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("proposals 0, 1 (one user operation): user operation 0x"), "{}", text(&out));
    let token = TestUSDC::new(usdc, &provider);
    assert_eq!(token.allowance(smart, SPENDER).call().await.expect("allowance"), U256::from(42));
    assert_eq!(token.balanceOf(OTHER).call().await.expect("balance"), U256::from(2_000_000));
    assert_eq!(token.balanceOf(smart).call().await.expect("balance"), U256::from(3_000_000));
    // The key itself sent nothing.
    assert_eq!(provider.get_transaction_count(owner).await.expect("nonce"), 0);
}
