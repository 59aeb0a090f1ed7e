//! Hyperliquid upstream: `/info` shapes, `/exchange` signature checks, order answers and
//! recording. The SDK's signing vectors are tested next to the hashing itself, in
//! `agents/hyperliquid-wire/tests/sdk_vectors.rs`.

use alloy::primitives::Address;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use hyperliquid_wire::{Network, OrderAction, OrderWire, WireSignature, action_hash, signing_hash};
use nexus_sandbox::hyperliquid::{HyperliquidAccount, HyperliquidPosition};
use nexus_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

fn order(asset: u32, is_buy: bool, px: &str, sz: &str, tif: &str, cloid: Option<&str>) -> OrderAction {
    let wire = OrderWire::limit(asset, is_buy, px.to_owned(), sz.to_owned(), false, tif);
    OrderAction::single(OrderWire { c: cloid.map(str::to_owned), ..wire })
}

fn sign(signer: &PrivateKeySigner, action: &OrderAction, nonce: u64, mainnet: bool) -> WireSignature {
    let digest = signing_hash(
        action_hash(action, None, nonce, None).unwrap(),
        if mainnet { Network::Mainnet } else { Network::Testnet },
    );
    let signature = signer.sign_hash_sync(&digest).unwrap();
    WireSignature {
        r: format!("{:#x}", signature.r()),
        s: format!("{:#x}", signature.s()),
        v: 27 + u8::from(signature.v()),
    }
}

async fn start(accounts: Vec<HyperliquidAccount>) -> Sandbox {
    Sandbox::start(SandboxConfig { hyperliquid_accounts: accounts, ..SandboxConfig::default() }).await.unwrap()
}

async fn post(sandbox: &Sandbox, path: &str, body: &Value) -> (u16, Value) {
    let response =
        reqwest::Client::new().post(format!("{}{path}", sandbox.hyperliquid.base_url)).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn info_answers_in_the_documented_shapes() {
    let sandbox = start(Vec::new()).await;
    let (_, meta) = post(&sandbox, "/info", &json!({"type": "meta"})).await;
    assert_eq!(meta["universe"][0], json!({"name": "BTC", "szDecimals": 5, "maxLeverage": 40}));

    let (_, both) = post(&sandbox, "/info", &json!({"type": "metaAndAssetCtxs"})).await;
    assert_eq!(both[0], meta);
    let ctx = &both[1][1];
    for key in ["funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx", "markPx", "midPx"] {
        assert!(ctx[key].as_str().unwrap().parse::<f64>().is_ok(), "{key}: {ctx}");
    }
    assert_eq!(ctx["impactPxs"].as_array().unwrap().len(), 2);

    let (_, mids) = post(&sandbox, "/info", &json!({"type": "allMids"})).await;
    let eth_mid: f64 = mids["ETH"].as_str().unwrap().parse().unwrap();
    assert_eq!(both[1][1]["midPx"], mids["ETH"]);

    let (_, book) = post(&sandbox, "/info", &json!({"type": "l2Book", "coin": "ETH", "nSigFigs": null})).await;
    assert_eq!(book["coin"], "ETH");
    assert_eq!(book["time"], SandboxConfig::default().now_ms);
    let best_bid: f64 = book["levels"][0][0]["px"].as_str().unwrap().parse().unwrap();
    let best_ask: f64 = book["levels"][1][0]["px"].as_str().unwrap().parse().unwrap();
    assert!(best_bid < eth_mid && eth_mid < best_ask);
    assert_eq!(book["levels"][0].as_array().unwrap().len(), 20);
    assert!(book["levels"][0][0]["n"].as_u64().unwrap() >= 1);
    let (_, none) = post(&sandbox, "/info", &json!({"type": "l2Book", "coin": "NOPE"})).await;
    assert_eq!(none, Value::Null);

    let hour = 3_600_000u64;
    let now = SandboxConfig::default().now_ms;
    let req = json!({"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "1h", "startTime": now - 24 * hour, "endTime": now + 5 * hour}});
    let (_, candles) = post(&sandbox, "/info", &req).await;
    let candles = candles.as_array().unwrap();
    assert_eq!(candles.len(), 25, "24 past hours and the current one, none from the future");
    let last = &candles[24];
    assert_eq!(last["t"], now);
    assert_eq!(last["T"], now + hour - 1);
    assert_eq!((last["s"].as_str(), last["i"].as_str()), (Some("SOL"), Some("1h")));
    let h: f64 = last["h"].as_str().unwrap().parse().unwrap();
    let l: f64 = last["l"].as_str().unwrap().parse().unwrap();
    assert!(h >= l);

    let req = json!({"type": "fundingHistory", "coin": "BTC", "startTime": now - 3 * hour});
    let (_, funding) = post(&sandbox, "/info", &req).await;
    let funding = funding.as_array().unwrap();
    assert_eq!(funding.len(), 4);
    assert_eq!(funding[3]["time"], now);
    assert!(funding[0]["fundingRate"].as_str().unwrap().parse::<f64>().is_ok());

    let (status, text) = post(&sandbox, "/info", &json!({"type": "noSuchType"})).await;
    assert_eq!(status, 422);
    assert!(text.as_str().unwrap().starts_with("Failed to deserialize the JSON body"), "{text}");
    let (status, _) = post(
        &sandbox,
        "/info",
        &json!({"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "7m", "startTime": 0, "endTime": 1}}),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn clearinghouse_state_values_positions_at_the_mid() {
    let user = Address::repeat_byte(0xab);
    let account = HyperliquidAccount {
        address: user,
        usdc: 10_000.0,
        positions: vec![HyperliquidPosition { coin: "ETH".into(), szi: -2.0, entry_px: 3_000.0, leverage: 5 }],
    };
    let sandbox = start(vec![account]).await;
    let (_, mids) = post(&sandbox, "/info", &json!({"type": "allMids"})).await;
    let mid: f64 = mids["ETH"].as_str().unwrap().parse().unwrap();
    let (_, state) =
        post(&sandbox, "/info", &json!({"type": "clearinghouseState", "user": format!("{user:#x}")})).await;
    let position = &state["assetPositions"][0]["position"];
    assert_eq!(state["assetPositions"][0]["type"], "oneWay");
    assert_eq!(position["szi"], "-2");
    assert_eq!(position["leverage"], json!({"type": "cross", "value": 5}));
    let upnl: f64 = position["unrealizedPnl"].as_str().unwrap().parse().unwrap();
    assert!((upnl - (-2.0 * (mid - 3_000.0))).abs() < 1e-6);
    let value: f64 = state["marginSummary"]["accountValue"].as_str().unwrap().parse().unwrap();
    assert!((value - (10_000.0 + upnl)).abs() < 1e-6);

    let stranger = format!("{:#x}", Address::repeat_byte(0xcd));
    let (_, empty) = post(&sandbox, "/info", &json!({"type": "clearinghouseState", "user": stranger})).await;
    assert_eq!(empty["assetPositions"], json!([]));
    assert_eq!(empty["marginSummary"]["accountValue"], "0");
}

#[tokio::test]
async fn exchange_verifies_answers_and_records_orders() {
    let signer = PrivateKeySigner::random();
    let account = HyperliquidAccount { address: signer.address(), usdc: 1_000.0, positions: Vec::new() };
    let sandbox = start(vec![account]).await;
    let (_, mids) = post(&sandbox, "/info", &json!({"type": "allMids"})).await;
    let mid: f64 = mids["BTC"].as_str().unwrap().parse().unwrap();
    let px = |factor: f64| format!("{}", ((mid * factor) / 10.0).round() * 10.0);
    let request = |action: &OrderAction, nonce: u64, signature: &WireSignature| json!({"action": action, "nonce": nonce, "signature": {"r": signature.r, "s": signature.s, "v": signature.v}, "vaultAddress": null});

    let crossing = order(0, true, &px(1.02), "0.01", "Gtc", None);
    let (status, answer) =
        post(&sandbox, "/exchange", &request(&crossing, 1, &sign(&signer, &crossing, 1, false))).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["response"]["type"], "order");
    let filled = &answer["response"]["data"]["statuses"][0]["filled"];
    assert_eq!(filled["totalSz"], "0.01");
    assert_eq!(filled["avgPx"], mids["BTC"]);

    let passive = order(0, true, &px(0.9), "0.01", "Gtc", None);
    let (_, answer) = post(&sandbox, "/exchange", &request(&passive, 2, &sign(&signer, &passive, 2, false))).await;
    assert!(answer["response"]["data"]["statuses"][0]["resting"]["oid"].is_u64(), "{answer}");

    let ioc = order(0, true, &px(0.9), "0.01", "Ioc", None);
    let (_, answer) = post(&sandbox, "/exchange", &request(&ioc, 3, &sign(&signer, &ioc, 3, false))).await;
    assert!(
        answer["response"]["data"]["statuses"][0]["error"].as_str().unwrap().contains("could not immediately match")
    );

    // Replaying a nonce is refused.
    let (_, answer) = post(&sandbox, "/exchange", &request(&passive, 2, &sign(&signer, &passive, 2, false))).await;
    assert_eq!(answer["status"], "err");

    // A signature over other bytes (price changed after signing) recovers a stranger.
    let signature = sign(&signer, &passive, 4, false);
    let tampered = order(0, true, &px(0.8), "0.01", "Gtc", None);
    let (_, answer) = post(&sandbox, "/exchange", &request(&tampered, 4, &signature)).await;
    assert_eq!(answer["status"], "err");
    assert!(answer["response"].as_str().unwrap().ends_with("does not exist."), "{answer}");

    // Mainnet signature against a testnet sandbox: also a stranger.
    let (_, answer) = post(&sandbox, "/exchange", &request(&passive, 5, &sign(&signer, &passive, 5, true))).await;
    assert_eq!(answer["status"], "err");

    let recorded = sandbox.hyperliquid_actions();
    assert_eq!(recorded.len(), 6);
    assert_eq!(recorded[0].signer, Some(signer.address()));
    assert_eq!(recorded[0].action["orders"][0]["p"], json!(px(1.02)));
    assert_eq!(recorded[0].nonce, 1);
    assert_ne!(recorded[4].signer, Some(signer.address()));
    assert_eq!(recorded[4].response["status"], "err");
}

#[tokio::test]
async fn same_config_same_answers() {
    let a = start(Vec::new()).await;
    let b = start(Vec::new()).await;
    let body = json!({"type": "l2Book", "coin": "BTC", "nSigFigs": 4});
    assert_eq!(post(&a, "/info", &body).await, post(&b, "/info", &body).await);
    let other = Sandbox::start(SandboxConfig { seed: 99, ..SandboxConfig::default() }).await.unwrap();
    assert_ne!(post(&a, "/info", &body).await, post(&other, "/info", &body).await);
}
