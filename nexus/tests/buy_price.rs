//! `nexus buy` passes the unit price it showed as the purchase's `maxUnitPrice`.
//!
//! The front-run the bound exists for, played on a real chain: the buyer has a standing USDC
//! allowance, the CLI reads and shows the price, and the developer's price rise is ordered just
//! before the purchase in the same block (anvil's automine off, the rise with the higher tip).
//! The marketplace refuses, the CLI says what happened, that nothing was paid and what to do, and
//! the buyer's USDC is untouched. Run again, the CLI shows the new price and buys at it.
//!
//! Light on purpose: anvil and the deploy script only. The agent is given by id, so the CLI
//! needs no GraphQL API (it only asks it for the agent's name, and does without).

use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256, Uint, hex};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::signers::local::PrivateKeySigner;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::{AgentMarketplace, TestUSDC, credit_id};
use nexus_testkit::Devnet;
use serde_json::Value;

const DEVELOPER: usize = 6;
const BUYER: usize = 5;
/// 0.05 USDC, then 0.10 USDC.
const SHOWN_PRICE: u64 = 50_000;
const RAISED_PRICE: u64 = 100_000;
const BUYER_USDC: u64 = 10_000_000;
const METADATA: &str = "data:application/json,{}";

fn key_hex(signer: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(signer.to_bytes()))
}

/// `nexus buy 1 --units 2` as the buyer, against the devnet and no API.
fn buy(devnet: &Devnet) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["buy", "1", "--units", "2"])
        .env_remove("NEXUS_CONFIG")
        .env_remove("NEXUS_PRIVATE_KEY_FILE")
        .env_remove("RUST_LOG")
        .env("NEXUS_RPC_URL", devnet.rpc_url())
        .env("NEXUS_DEPLOYMENTS", devnet.deployments_path())
        // Nothing listens there: the name lookup fails and the CLI goes on by id.
        .env("NEXUS_GRAPHQL_URL", "http://127.0.0.1:9")
        .env("NEXUS_PRIVATE_KEY", key_hex(&devnet.signer(BUYER)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the CLI")
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn finish(child: tokio::process::Child) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the CLI hung")
        .expect("the CLI's output");
    let out = Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ nexus buy 1 --units 2 (exit {:?})\n{}{}", out.code, out.stdout, out.stderr);
    out
}

#[tokio::test]
async fn a_price_raised_just_before_the_purchase_is_refused_and_explained() {
    let devnet = Devnet::start().await.expect("devnet");
    let d = devnet.deployments.contracts.clone();
    let admin = devnet.dev_provider(0);
    let buyer = devnet.signer(BUYER).address();

    let registry = AgentRegistry::new(d.agent_registry, admin.clone());
    let params = IAgentRegistry::AgentParams {
        developer: devnet.signer(DEVELOPER).address(),
        paymentToken: d.usdc,
        price: Uint::from(SHOWN_PRICE),
        maxDuration: 60,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(7),
        metadataURI: METADATA.into(),
    };
    assert!(registry.registerAgent(params).send().await.unwrap().get_receipt().await.unwrap().status());
    let usdc = TestUSDC::new(d.usdc, devnet.dev_provider(BUYER));
    usdc.mint(buyer, U256::from(BUYER_USDC)).send().await.unwrap().get_receipt().await.unwrap();
    // A standing allowance: the CLI sends the purchase alone, nothing else bounds what it takes.
    usdc.approve(d.agent_marketplace, U256::MAX).send().await.unwrap().get_receipt().await.unwrap();

    // From here blocks are mined only when the test says so.
    admin.anvil_set_auto_mine(false).await.unwrap();
    let developer = AgentRegistry::new(d.agent_registry, devnet.dev_provider(DEVELOPER));
    let rise = developer
        .updateAgent(U256::from(1), Uint::from(RAISED_PRICE), 60, B256::repeat_byte(7), METADATA.into())
        .gas(200_000)
        // A far higher tip than the CLI's: ordered first in the block they share.
        .max_priority_fee_per_gas(100_000_000_000)
        .max_fee_per_gas(200_000_000_000)
        .send()
        .await
        .unwrap();

    // The CLI reads the price (the rise is still pending), shows it and sends the purchase; once
    // both transactions wait in the pool, one block takes them, the rise first. Should the node
    // refuse the purchase already while estimating it, the CLI exits without sending.
    let mut cli = buy(&devnet);
    let started = Instant::now();
    loop {
        if cli.try_wait().unwrap().is_some() {
            break;
        }
        let status: Value = admin.raw_request("txpool_status".into(), ()).await.unwrap();
        // A quantity: hex string per the spec, a plain number from some nodes.
        let pending = status["pending"].as_u64().or_else(|| {
            status["pending"].as_str().and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
        });
        if pending == Some(2) {
            admin.anvil_mine(Some(1), None).await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the CLI neither sent its purchase nor exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = finish(cli).await;
    // Lands the rise if the CLI never sent its purchase (then the block is otherwise empty).
    admin.anvil_mine(Some(1), None).await.unwrap();
    admin.anvil_set_auto_mine(true).await.unwrap();
    assert!(rise.get_receipt().await.unwrap().status(), "the price rise landed");

    assert_eq!(refused.code, Some(1));
    assert!(refused.stderr.contains("at 0.05 USDC per credit (0.1 USDC)"), "the shown price: {}", refused.stderr);
    for needle in ["rose from 0.05 USDC to 0.1 USDC per credit", "Nothing was paid", "nexus agents", "nexus buy"] {
        assert!(refused.stderr.contains(needle), "{needle:?} missing from: {}", refused.stderr);
    }
    let market = AgentMarketplace::new(d.agent_marketplace, admin.clone());
    assert_eq!(usdc.balanceOf(buyer).call().await.unwrap(), U256::from(BUYER_USDC), "no USDC left the wallet");
    for price in [SHOWN_PRICE, RAISED_PRICE] {
        let credit = credit_id::encode(U256::from(1), U256::from(price));
        assert_eq!(market.balanceOf(buyer, credit).call().await.unwrap(), U256::ZERO, "no credits at {price}");
    }
    assert_eq!(usdc.balanceOf(d.agent_marketplace).call().await.unwrap(), U256::ZERO);

    // Run again: the new price is shown, and is what is paid.
    let bought = finish(buy(&devnet)).await;
    assert_eq!(bought.code, Some(0));
    assert!(bought.stderr.contains("at 0.1 USDC per credit (0.2 USDC)"), "{}", bought.stderr);
    assert!(bought.stdout.contains("bought 2 credits of agent 1 for 0.2 USDC"), "{}", bought.stdout);
    let credit = credit_id::encode(U256::from(1), U256::from(RAISED_PRICE));
    assert_eq!(market.balanceOf(buyer, credit).call().await.unwrap(), U256::from(2));
    assert_eq!(usdc.balanceOf(buyer).call().await.unwrap(), U256::from(BUYER_USDC - 2 * RAISED_PRICE));
}
