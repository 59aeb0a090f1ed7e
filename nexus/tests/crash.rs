//! Crash safety of `nexus indexer`: the real binary is SIGKILLed at varying moments, during
//! backfill (one block per commit, so kills land between and inside commits) and while new
//! events keep arriving, and restarted each time. The final database must equal a clean index of
//! the same chain: nothing lost, nothing applied twice.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256, Uint};
use alloy::providers::Provider;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_indexer::{Config, Indexer, projection_dump};
use nexus_testkit::{Devnet, Postgres};

const PRICE: u64 = 1_000_000_000_000;

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "transaction reverted");
    }};
}

fn spawn(devnet: &Devnet, db_url: &str, deployments: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("indexer")
        .env("NEXUS_RPC_URL", devnet.rpc_url())
        .env("NEXUS_DATABASE_URL", db_url)
        .env("NEXUS_DEPLOYMENTS", deployments)
        .env("NEXUS_INDEXER_MAX_BLOCK_RANGE", "1")
        .env("NEXUS_INDEXER_MAX_REORG_DEPTH", "8")
        .env("NEXUS_INDEXER_POLL_INTERVAL_MS", "20")
        .env("NEXUS_INDEXER_STATUS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nexus")
}

async fn purchases(devnet: &Devnet, buyer: usize, n: usize) {
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(buyer));
    for _ in 0..n {
        send!(market.purchase(U256::from(1), U256::from(1)).value(U256::from(PRICE)));
    }
}

#[tokio::test]
async fn sigkill_at_any_moment_loses_nothing_and_duplicates_nothing() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let dir = tempfile::tempdir().expect("tempdir");
    let deployments = dir.path().join("deployments.json");
    std::fs::write(&deployments, serde_json::to_vec(&devnet.deployments).expect("json")).expect("write");

    let curator = AgentRegistry::new(devnet.deployments.contracts.agent_registry, devnet.dev_provider(0));
    send!(curator.registerAgent(IAgentRegistry::AgentParams {
        developer: devnet.signer(6).address(),
        paymentToken: Address::ZERO,
        price: Uint::from(PRICE),
        maxDuration: 30,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(3),
        metadataURI: "data:application/json,{\"name\":\"crash\"}".into(),
    }));
    purchases(&devnet, 3, 40).await;

    let url = pg.create_database("crashy").expect("createdb");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let mut interrupted = 0;
    for round in 0..12u64 {
        let mut child = spawn(&devnet, &url, &deployments);
        // Varying moments: during start-up, backfill and live following.
        tokio::time::sleep(Duration::from_millis(120 + (round * 97) % 450)).await;
        if round % 3 == 1 {
            purchases(&devnet, 4 + (round as usize % 3), 3).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let head = devnet.dev_provider(0).get_block_number().await.expect("head");
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT block_number FROM chain_cursor").fetch_optional(&pool).await.unwrap_or_default();
        eprintln!("round {round}: killed at cursor {cursor:?} of head {head}");
        if cursor.is_some_and(|c| (c as u64) < head) {
            interrupted += 1;
        }
    }
    assert!(interrupted >= 2, "the kills should interrupt indexing in progress");

    // Let a last run finish, then compare with a clean index of the same chain.
    let head = devnet.dev_provider(0).get_block_number().await.expect("head");
    let mut child = spawn(&devnet, &url, &deployments);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT block_number FROM chain_cursor").fetch_optional(&pool).await.expect("cursor");
        if cursor == Some(head as i64) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "indexer did not catch up: {cursor:?} of {head}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let clean_url = pg.create_database("clean").expect("createdb");
    let mut clean = Indexer::connect(Config::local(devnet.deployments.clone(), devnet.rpc_url(), clean_url))
        .await
        .expect("clean indexer");
    assert_eq!(clean.sync().await.expect("clean sync"), head);
    let (crashed, clean) =
        (projection_dump(&pool).await.expect("dump"), projection_dump(clean.pool()).await.expect("dump"));
    for ((table, a), (_, b)) in crashed.iter().zip(clean.iter()) {
        assert_eq!(a, b, "{table} differs after crashes");
    }
    let purchases: i64 = sqlx::query_scalar("SELECT count(*) FROM purchases").fetch_one(&pool).await.expect("count");
    assert_eq!(purchases, 40 + 4 * 3);
}
