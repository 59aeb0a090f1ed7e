//! Transactions sent by the `nexus` binary. Several commands at once with one key, as a script
//! or a second terminal runs them: every purchase lands (each process reads the pending nonce
//! and signs again on a clash) instead of all but one failing with the node's raw "nonce too
//! low". And a transaction that is never mined ends the command within `--receipt-timeout`,
//! saying so, instead of waiting forever.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use nexus_bindings::{AgentMarketplace, credit_id};
use nexus_testkit::Devnet;

const PRICE: u64 = 1000;
const COMMANDS: usize = 4;

/// A devnet with agent 1, priced in ETH: no approval, so purchases only share the key's nonces.
async fn devnet_with_an_agent() -> Devnet {
    let devnet = Devnet::start().await.expect("devnet");
    // Agent 1, priced in ETH: no approval, so the commands only share the key's nonces.
    devnet.register_agent(devnet.signer(4).address(), Address::ZERO, PRICE, "ipfs://agent").await.expect("registered");
    devnet
}

/// `nexus <args>` as the buyer (anvil account 5).
async fn nexus(devnet: &Devnet, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(args)
        .env("NEXUS_RPC_URL", devnet.rpc_url())
        .env("NEXUS_DEPLOYMENTS", devnet.deployments_path())
        // No API: by id, a purchase needs only the chain.
        .env("NEXUS_GRAPHQL_URL", "http://127.0.0.1:9")
        .env("NEXUS_PRIVATE_KEY", format!("0x{}", alloy::hex::encode(devnet.signer(5).to_bytes())))
        .output()
        .await
        .expect("run nexus")
}

#[tokio::test]
async fn purchases_sent_at_once_from_one_key_all_land() {
    let devnet = devnet_with_an_agent().await;
    let buyer = devnet.signer(5);
    let runs = (0..COMMANDS).map(|_| nexus(&devnet, &["buy", "1", "--units", "1"]));
    for out in futures::future::join_all(runs).await {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(0));
    let credits = market.balanceOf(buyer.address(), credit_id::encode(U256::from(1), U256::from(PRICE)));
    assert_eq!(credits.call().await.expect("credits"), U256::from(COMMANDS));
}

#[tokio::test]
async fn a_transaction_never_mined_ends_the_command_within_the_receipt_timeout() {
    let devnet = devnet_with_an_agent().await;
    devnet.dev_provider(0).anvil_set_auto_mine(false).await.expect("automine off");
    let started = Instant::now();
    let out = nexus(&devnet, &["--receipt-timeout", "2", "buy", "1", "--units", "1"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("purchase: transaction 0x") && stderr.contains("is still pending after 2 s"), "{stderr}");
    assert!(stderr.contains("nothing has been paid yet"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    // It was real and is still there: mined now, it takes effect.
    devnet.dev_provider(0).evm_mine(None).await.expect("mine");
    let count = devnet.dev_provider(0).get_transaction_count(devnet.signer(5).address()).await.expect("count");
    assert_eq!(count, 1);
}
