//! Runs the built `agent-hyperliquid` binary against the sandbox's Hyperliquid upstream through
//! the real egress proxy (`AgentNet`), as the relayer would: the agent names
//! `https://api.hyperliquid.xyz`, the test's route sends it to the sandbox. Expected numbers
//! were computed by hand (Python) from the sandbox's raw `/info` answers for seed 15 at its
//! fixed "now" 2026-12-07T00:00Z; an order proposal is signed with a local key and accepted by
//! the sandbox's `/exchange`, which verifies the signature the way the venue does.

use std::ffi::OsStr;
use std::str::FromStr;

use agent_io::testing::{check_metadata, envelope, metadata, run_with_env};
use alloy::primitives::Address;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use hyperliquid_wire::{Network, OrderAction, action_hash, signing_hash};
use nexus_sandbox::SandboxConfig;
use nexus_sandbox::harness::AgentNet;
use nexus_sandbox::hyperliquid::{HyperliquidAccount, HyperliquidPosition};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agent-hyperliquid");
const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

fn signer() -> PrivateKeySigner {
    PrivateKeySigner::from_str(KEY).expect("key")
}

/// The sandbox with one funded account (10,000 USDC, long 1 ETH from 3,500 at 5x).
fn start(meta: &Value) -> AgentNet {
    let account = HyperliquidAccount {
        address: signer().address(),
        usdc: 10_000.0,
        positions: vec![HyperliquidPosition { coin: "ETH".into(), szi: 1.0, entry_px: 3_500.0, leverage: 5 }],
    };
    AgentNet::builder(meta)
        .sandbox(SandboxConfig { hyperliquid_accounts: vec![account], ..SandboxConfig::default() })
        .start()
        .expect("sandbox and egress start")
}

fn envelope_for(requester: Address, input: Value) -> String {
    let mut env: Value = serde_json::from_str(&envelope(input)).expect("envelope");
    env["requester"] = json!(format!("{requester:#x}"));
    env.to_string()
}

fn run_on(net: &AgentNet, stdin: &str) -> agent_io::testing::Run {
    run_with_env(BIN, stdin, &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())])
}

#[test]
fn metadata_is_complete_and_small() {
    check_metadata(&metadata(env!("CARGO_MANIFEST_DIR")));
}

#[test]
fn analyzes_a_market_and_the_requesters_account() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let net = start(&meta);
    let input = json!({"coin": "ETH", "task": "analyze", "candles": 24, "fundingHours": 24, "depthBps": 50});
    agent_io::schema::check(&meta["inputSchema"], &input).expect("input fits the schema");
    let run = run_on(&net, &envelope_for(signer().address(), input));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the schema");
    assert!(run.stderr.contains("ETH Analyze on Mainnet: mid 3482.05, 0 proposal(s)"), "{}", run.stderr);
    assert_eq!((out["asset"].clone(), out["time"].clone()), (json!(1), json!(1_796_601_600_000u64)));
    // markPx 3482.1 vs prevDayPx 3509.9: -0.792 %; funding 0.00000196 × 8760 = 0.0172 %/yr →
    // 1.72; open interest 2304 × 3482.1.
    assert_eq!(
        out["market"],
        json!({"markPx": 3482.1, "oraclePx": 3482.1, "prevDayPx": 3509.9, "change24hPct": -0.79,
               "dayNtlVlm": 20058546.0, "openInterest": 2304.0, "openInterestUsd": 8022758.4,
               "fundingRate": 0.00000196, "fundingAprPct": 1.72, "maxLeverage": 25, "szDecimals": 4})
    );
    // Best 3481.9 / 3482.2; depth within ±50 bps of 3482.05 summed from the raw levels.
    assert_eq!(
        out["book"],
        json!({"bestBid": 3481.9, "bestAsk": 3482.2, "mid": 3482.05, "spread": 0.3, "spreadBps": 0.86,
               "depthBps": 50, "bidDepthUsd": 373778.96, "askDepthUsd": 481680.55, "imbalance": -0.126133})
    );
    // 25 hourly entries in [now − 24 h, now] (both ends inclusive), 21 of them positive.
    assert_eq!(
        out["funding"],
        json!({"samples": 25, "latestRate": 0.00000196, "averageRate": 0.0000120728, "averageAprPct": 10.58,
               "cumulativePct": 0.030182, "positiveShare": 0.84})
    );
    assert_eq!(
        out["candles"],
        json!({"interval": "1h", "count": 25, "open": 3424.1, "close": 3356.1, "high": 3455.7, "low": 3346.2,
               "returnPct": -1.99, "volatilityPct": 105.36, "sma": 3402.024, "trend": "down", "volume": 187888.6321})
    );
    // 10,000 USDC + (3482.1 − 3500) × 1 ETH; 3482.1 / 9982.1 = 0.348834x.
    assert_eq!(out["account"]["accountValue"], json!(9982.1));
    assert_eq!(out["account"]["leverage"], json!(0.348834));
    assert_eq!(out["account"]["position"]["unrealizedPnl"], json!(-17.9));
    assert!(out.get("proposals").is_none() && out.get("order").is_none(), "{out}");
    let records = net.records_at_least(5);
    assert_eq!(records.len(), 5, "{records:?}");
    assert!(records.iter().all(|r| r.host == "api.hyperliquid.xyz" && r.path == "/info"), "{records:?}");
}

#[test]
fn an_order_proposal_signed_by_the_wallet_is_accepted_by_the_exchange() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let net = start(&meta);
    let input = json!({"coin": "ETH", "task": "order", "network": "testnet",
                       "order": {"side": "buy", "notionalUsd": 1000, "price": 3490.04}});
    let run = run_on(&net, &envelope_for(signer().address(), input));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    agent_io::schema::check(&meta["outputSchema"], &out).expect("output fits the schema");
    // 3490.04 → 3490 (5 significant figures); 1000 / 3490 = 0.28653 → 0.2865 ETH (lot 0.0001,
    // down); 0.2865 × 3490 = 999.885 USD = 10.0168 % of 9982.1; after the order the account
    // holds 1.2865 ETH × 3490 = 4489.885 USD: 0.449794x; 3490 is 22.8314 bps above 3482.05 (all
    // checked with Python).
    let order = &out["order"];
    assert_eq!((order["price"].clone(), order["size"].clone()), (json!("3490"), json!("0.2865")));
    assert_eq!((order["notionalUsd"].clone(), order["leverageAfter"].clone()), (json!(999.885), json!(0.449794)));
    let checks: Vec<(String, f64)> = order["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_owned(), c["value"].as_f64().unwrap_or_default()))
        .collect();
    assert_eq!(
        checks,
        [
            ("priceBand".into(), 22.831378),
            ("minNotional".into(), 999.885),
            ("orderSize".into(), 10.016780),
            ("leverage".into(), 0.449794)
        ]
    );

    let proposals = out["proposals"].as_array().expect("proposals");
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0];
    assert_eq!(p["kind"], "typedData");
    assert_eq!(p["submitTo"], "https://api.hyperliquid-testnet.xyz/exchange");
    assert_eq!(
        p["summary"],
        "Buy 0.2865 ETH at 3490 (limit, GTC) on Hyperliquid testnet: 999.88 USDC notional, account leverage after 0.45x"
    );
    // The action is the SDK's order wire; the nonce is the venue's clock (the book's time).
    assert_eq!(
        p["submitBody"],
        json!({"action": {"type": "order", "orders": [{"a": 1, "b": true, "p": "3490", "s": "0.2865", "r": false,
               "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}, "nonce": 1_796_601_600_000u64})
    );
    // The typed data commits to exactly that action: its connectionId is the action's hash.
    let action: OrderAction = serde_json::from_value(p["submitBody"]["action"].clone()).expect("action");
    let connection_id = action_hash(&action, None, 1_796_601_600_000, None).expect("hash");
    let typed = &p["typedData"];
    assert_eq!(typed["message"], json!({"source": "b", "connectionId": format!("{connection_id:#x}")}));
    assert_eq!(typed["domain"]["chainId"], 1337);
    assert_eq!(typed["primaryType"], "Agent");

    // The relayer accepts the proposals, and alloy's EIP-712 implementation (what `nexus apply`
    // signs with) hashes the typed data to the phantom agent's digest.
    let checked = nexus_proposals::Proposals::from_output(&out).expect("the relayer's proposal check");
    assert_eq!(checked.len(), 1);
    let digest = signing_hash(connection_id, Network::Testnet);
    assert_eq!(nexus_proposals::eip712::signing_hash(typed).expect("EIP-712"), digest);

    // The wallet's side (what `nexus apply` does): sign, add the signature, post to submitTo.
    let signature = signer().sign_hash_sync(&digest).expect("signs");
    let mut body = p["submitBody"].clone();
    body["signature"] = json!({"r": format!("{:#x}", signature.r()), "s": format!("{:#x}", signature.s()), "v": 27 + u8::from(signature.v())});
    let url = format!("{}/exchange", net.sandbox().hyperliquid.base_url);
    let answer: Value = net.block_on(async {
        reqwest::Client::new().post(url).json(&body).send().await.expect("posts").json().await.expect("json")
    });
    // 3490 crosses the sandbox's mid 3482.1: filled in full there.
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["response"]["data"]["statuses"][0]["filled"]["totalSz"], "0.2865", "{answer}");
    let recorded = net.sandbox().hyperliquid_actions();
    assert_eq!(recorded.last().and_then(|r| r.signer), Some(signer().address()));
}

#[test]
fn a_market_sell_is_an_ioc_at_the_mid_minus_slippage() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let net = start(&meta);
    let input = json!({"coin": "ETH", "task": "order", "order": {"side": "sell", "size": 0.5, "slippageBps": 100, "reduceOnly": true}});
    let run = run_on(&net, &envelope_for(signer().address(), input));
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let out = run.json();
    // 3482.05 × 0.99 = 3447.2295 → 3447.2; reduces the 1 ETH long to 0.5: 1723.6 / 9982.1.
    assert_eq!((out["order"]["price"].clone(), out["order"]["tif"].clone()), (json!("3447.2"), json!("Ioc")));
    assert_eq!(out["order"]["leverageAfter"], json!(0.172669));
    assert_eq!(out["proposals"][0]["submitTo"], "https://api.hyperliquid.xyz/exchange");
    assert_eq!(out["proposals"][0]["typedData"]["message"]["source"], "a");
    assert_eq!(out["proposals"][0]["submitBody"]["action"]["orders"][0]["r"], true);
}

#[test]
fn risk_refusals_and_upstream_failures_exit_1_with_a_clear_line() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let me = signer().address();
    // One egress session per execution, as in the relayer: its budget (8 requests) is per run.
    // 11 ETH × 3480 = 38,280 USD on 9,982.1: 3.8349x.
    for (input, message) in [
        (
            json!({"coin": "ETH", "task": "order", "order": {"side": "buy", "size": 10, "price": 3480}, "risk": {"maxOrderPercent": 1000}}),
            "order refused by risk checks: leverage: account leverage after the order 3.83x, cap 3x (coin max 25x)",
        ),
        (
            json!({"coin": "ETH", "task": "order", "order": {"side": "buy", "size": 0.002, "price": 3600}}),
            "order refused by risk checks: priceBand: price 3600 is 338.7 bps from the mid 3482.05; minNotional: notional 7.20 USD",
        ),
    ] {
        let run = run_on(&start(&meta), &envelope_for(me, input.clone()));
        assert_eq!(run.code, Some(1), "{input}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    // An account that never deposited cannot be sized against.
    let run = run_on(
        &start(&meta),
        &envelope_for(
            Address::repeat_byte(7),
            json!({"coin": "ETH", "task": "order", "order": {"side": "buy", "size": 0.01, "price": 3482}}),
        ),
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("orderSize: notional 34.82 USD is inf% of account value 0.00 USD"), "{}", run.stderr);

    // The venue unreachable: the proxy answers 502 and the agent names the request.
    let down =
        AgentNet::builder(&meta).route("https://api.hyperliquid.xyz", "http://127.0.0.1:9").start().expect("starts");
    let run = run_on(&down, &envelope_for(me, json!({"coin": "ETH", "task": "analyze"})));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("error: Hyperliquid info API: metaAndAssetCtxs: HTTP 502"), "{}", run.stderr);

    // A listing without the testnet host: the proxy refuses, the agent says so.
    let mut mainnet_only = meta.clone();
    mainnet_only["network"]["rules"].as_array_mut().expect("rules").truncate(1);
    let narrow = AgentNet::start(&mainnet_only).expect("starts");
    let run = run_on(&narrow, &envelope_for(me, json!({"coin": "ETH", "task": "analyze", "network": "testnet"})));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("metaAndAssetCtxs: HTTP 403: egress refused"), "{}", run.stderr);

    // No socket at all (the smoke run without a grant).
    let run = run_with_env(
        BIN,
        &envelope_for(me, json!({"coin": "ETH", "task": "analyze"})),
        &[("NEXUS_EGRESS_SOCKET", OsStr::new("/nonexistent/egress.sock"))],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no network"), "{}", run.stderr);
}

#[test]
fn invalid_input_exits_2() {
    let meta = metadata(env!("CARGO_MANIFEST_DIR"));
    let net = start(&meta);
    let me = signer().address();
    for (input, message) in [
        (
            json!({"coin": "NOPE", "task": "analyze"}),
            "invalid input: NOPE is not a perpetual listed on Hyperliquid Mainnet",
        ),
        (json!({"coin": "ETH", "task": "order"}), "task \"order\" needs an order"),
        (
            json!({"coin": "ETH", "task": "order", "order": {"side": "buy", "size": 1, "notionalUsd": 5}}),
            "exactly one of size and notionalUsd",
        ),
        (
            json!({"coin": "ETH", "task": "analyze", "interval": "7m"}),
            "interval \"7m\" is not one of the venue's intervals",
        ),
        (
            json!({"coin": "ETH", "task": "analyze", "user": "0x12"}),
            "\"0x12\" is not a 0x-prefixed 20-byte hex address",
        ),
        (json!({"coin": "ETH", "task": "analyze", "candles": 501}), "candles must be between 2 and 500, got 501"),
        (json!({"coin": "ETH/USD", "task": "analyze"}), "coin must be 1 to 20 ASCII letters or digits"),
    ] {
        let run = run_on(&net, &envelope_for(me, input.clone()));
        assert_eq!(run.code, Some(2), "{input}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{message}: {}", run.stderr);
    }
}

/// The shipped example input runs and fits both schemas.
#[test]
fn example_input_runs() {
    let net = start(&metadata(env!("CARGO_MANIFEST_DIR")));
    agent_io::testing::check_example_runs_with_env(
        env!("CARGO_MANIFEST_DIR"),
        BIN,
        &[("NEXUS_EGRESS_SOCKET", net.socket().as_os_str())],
    );
}
