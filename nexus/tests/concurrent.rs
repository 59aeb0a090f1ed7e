//! Several `nexus` commands at once with one key, as a script or a second terminal runs them:
//! every purchase lands (each process reads the pending nonce and signs again on a clash)
//! instead of all but one failing with the node's raw "nonce too low".

use alloy::primitives::{Address, B256, U256, Uint};
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::{AgentMarketplace, credit_id};
use nexus_testkit::Devnet;

const PRICE: u64 = 1000;
const COMMANDS: usize = 4;

#[tokio::test]
async fn purchases_sent_at_once_from_one_key_all_land() {
    let devnet = Devnet::start().await.expect("devnet");
    // Agent 1, priced in ETH: no approval, so the commands only share the key's nonces.
    AgentRegistry::new(devnet.deployments.contracts.agent_registry, devnet.dev_provider(0))
        .registerAgent(IAgentRegistry::AgentParams {
            developer: devnet.signer(4).address(),
            paymentToken: Address::ZERO,
            price: Uint::from(PRICE),
            maxDuration: 60,
            category: Category::General.into(),
            imageDigest: B256::repeat_byte(7),
            metadataURI: "ipfs://agent".into(),
        })
        .send()
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("registered");
    let buyer = devnet.signer(5);
    let key = format!("0x{}", alloy::hex::encode(buyer.to_bytes()));
    let runs = (0..COMMANDS).map(|_| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(["buy", "1", "--units", "1"])
            .env("NEXUS_RPC_URL", devnet.rpc_url())
            .env("NEXUS_DEPLOYMENTS", devnet.deployments_path())
            // No API: by id, the purchase needs only the chain.
            .env("NEXUS_GRAPHQL_URL", "http://127.0.0.1:9")
            .env("NEXUS_PRIVATE_KEY", &key)
            .output()
    });
    for out in futures::future::join_all(runs).await {
        let out = out.expect("run nexus");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(0));
    let credits = market.balanceOf(buyer.address(), credit_id::encode(U256::from(1), U256::from(PRICE)));
    assert_eq!(credits.call().await.expect("credits"), U256::from(COMMANDS));
}
