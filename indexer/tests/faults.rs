//! Faults: PostgreSQL restarted (immediate shutdown, i.e. a crash) under a running indexer, twice,
//! while events keep coming. The indexer must retry on its own, and the end state must equal a
//! clean index of the same chain.

mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256, Uint};
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_testkit::{Devnet, Postgres};

const PRICE: u64 = 1_000_000_000;

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "transaction reverted");
    }};
}

#[tokio::test]
async fn recovers_from_a_postgres_restart() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let accounts: Vec<Address> = (0..10).map(|i| devnet.signer(i).address()).collect();
    let mut live = common::indexer(&devnet, &pg, "live", |_| {}).await;
    let pool = live.pool().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        live.run(async {
            let _ = stopped.await;
        })
        .await
    });

    let curator = AgentRegistry::new(devnet.deployments.contracts.agent_registry, devnet.dev_provider(0));
    send!(curator.registerAgent(IAgentRegistry::AgentParams {
        developer: accounts[6],
        paymentToken: Address::ZERO,
        price: Uint::from(PRICE),
        maxDuration: 30,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(2),
        metadataURI: "ipfs://x".into(),
    }));
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(3));
    for round in 0..3 {
        for _ in 0..5 {
            send!(market.purchase(U256::from(1), U256::from(2)).value(U256::from(PRICE * 2)));
        }
        if round < 2 {
            pg.restart().expect("restart postgres");
        }
    }

    let head = common::head(&devnet).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT block_number FROM chain_cursor").fetch_optional(&pool).await.unwrap_or(None);
        if cursor == Some(head as i64) {
            break;
        }
        assert!(!task.is_finished(), "the indexer gave up");
        assert!(tokio::time::Instant::now() < deadline, "indexer did not recover: {cursor:?} of {head}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    task.await.expect("join").expect("indexer failed");

    common::assert_matches_chain(&devnet, &pool, &accounts).await;
    let mut clean = common::indexer(&devnet, &pg, "clean", |_| {}).await;
    clean.sync().await.expect("clean");
    common::assert_same_projections(&pool, clean.pool()).await;
}
