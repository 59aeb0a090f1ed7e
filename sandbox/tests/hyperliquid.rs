//! Hyperliquid upstream: `/info` shapes, `/exchange` signature checks against the Python SDK's
//! published signing vectors, order answers and recording.

use std::str::FromStr;

use alloy::primitives::{Address, B256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use nexus_sandbox::hyperliquid::exchange::{
    Limit, OrderAction, OrderType, OrderWire, Trigger, WireSignature, action_hash, recover, signing_hash,
};
use nexus_sandbox::hyperliquid::{HyperliquidAccount, HyperliquidPosition};
use nexus_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// The private key of the SDK's signing tests (tests/signing_test.py).
const SDK_KEY: &str = "0x0123456789012345678901234567890123456789012345678901234567890123";

fn order(asset: u32, is_buy: bool, px: &str, sz: &str, tif: &str, cloid: Option<&str>) -> OrderAction {
    OrderAction {
        kind: "order".to_owned(),
        orders: vec![OrderWire {
            a: asset,
            b: is_buy,
            p: px.to_owned(),
            s: sz.to_owned(),
            r: false,
            t: OrderType { limit: Some(Limit { tif: tif.to_owned() }), trigger: None },
            c: cloid.map(str::to_owned),
        }],
        grouping: "na".to_owned(),
        builder: None,
    }
}

fn sign(signer: &PrivateKeySigner, action: &OrderAction, nonce: u64, mainnet: bool) -> WireSignature {
    let digest = signing_hash(action_hash(action, None, nonce, None).unwrap(), mainnet);
    let signature = signer.sign_hash_sync(&digest).unwrap();
    WireSignature {
        r: format!("{:#x}", signature.r()),
        s: format!("{:#x}", signature.s()),
        v: 27 + u8::from(signature.v()),
    }
}

#[test]
fn connection_id_matches_the_sdk_vector() {
    // test_phantom_agent_creation_matches_production
    let action = order(4, true, "1670.1", "0.0147", "Ioc", None);
    let hash = action_hash(&action, None, 1_677_777_606_040, None).unwrap();
    assert_eq!(hash, B256::from_str("0x0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908").unwrap());
}

#[test]
fn signatures_match_the_sdk_vectors_and_recover_the_signer() {
    let signer = PrivateKeySigner::from_str(SDK_KEY).unwrap();
    // (cloid, mainnet, r, s, v) from test_l1_action_signing_order_matches and
    // test_l1_action_signing_order_with_cloid_matches.
    let vectors = [
        (
            None,
            true,
            "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
            "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
            28,
        ),
        (
            None,
            false,
            "0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
            "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5",
            27,
        ),
        (
            Some("0x00000000000000000000000000000001"),
            true,
            "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
            "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
            27,
        ),
        (
            Some("0x00000000000000000000000000000001"),
            false,
            "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
            "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
            28,
        ),
    ];
    for (cloid, mainnet, r, s, v) in vectors {
        let action = order(1, true, "100", "100", "Gtc", cloid);
        let ours = sign(&signer, &action, 0, mainnet);
        let expected = WireSignature { r: r.to_owned(), s: s.to_owned(), v };
        let parse = |h: &str| alloy::primitives::U256::from_str_radix(h.trim_start_matches("0x"), 16).unwrap();
        assert_eq!((parse(&ours.r), parse(&ours.s), ours.v), (parse(r), parse(s), v), "{cloid:?} mainnet={mainnet}");
        let digest = signing_hash(action_hash(&action, None, 0, None).unwrap(), mainnet);
        assert_eq!(recover(&expected, digest).unwrap(), signer.address());
        // The other network's digest recovers someone else: the source letter is signed.
        let other = signing_hash(action_hash(&action, None, 0, None).unwrap(), !mainnet);
        assert_ne!(recover(&expected, other).unwrap(), signer.address());
    }
}

#[test]
fn trigger_order_signatures_match_the_sdk_vectors() {
    // test_l1_action_signing_tpsl_order_matches: the trigger wire's keys are hashed in the
    // order isMarket, triggerPx, tpsl.
    let signer = PrivateKeySigner::from_str(SDK_KEY).unwrap();
    let mut action = order(1, true, "100", "100", "Gtc", None);
    action.orders[0].t = OrderType {
        limit: None,
        trigger: Some(Trigger { is_market: true, trigger_px: "103".into(), tpsl: "sl".into() }),
    };
    let vectors = [
        (
            true,
            "0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
            "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405",
            27,
        ),
        (
            false,
            "0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
            "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac",
            28,
        ),
    ];
    for (mainnet, r, s, v) in vectors {
        let ours = sign(&signer, &action, 0, mainnet);
        assert_eq!((ours.r.as_str(), ours.s.as_str(), ours.v), (r, s, v), "mainnet={mainnet}");
    }
}

#[test]
fn vault_and_expiry_change_the_hash() {
    let action = order(1, true, "100", "100", "Gtc", None);
    let plain = action_hash(&action, None, 7, None).unwrap();
    let vault = action_hash(&action, Some(Address::repeat_byte(1)), 7, None).unwrap();
    let expiring = action_hash(&action, None, 7, Some(9)).unwrap();
    assert_ne!(plain, vault);
    assert_ne!(plain, expiring);
    assert_ne!(vault, expiring);
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
