//! Crash safety of `nexus indexer`: the real binary is SIGKILLed at random moments (seeded;
//! `CRASH_SEED` replays a run) 24 times, during backfill of a chain of ~15,000 events (batches of
//! ~800 logs, so kills land inside and between big commits) and while new events keep
//! arriving, and restarted each time. The final database must equal a clean index of the same
//! chain: nothing lost, nothing applied twice.

use nexus_testkit::rng::Rng;
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
        .env("NEXUS_INDEXER_MAX_REORG_DEPTH", REORG_DEPTH.to_string())
        // Two blocks (~800 logs) per backfill batch: many commits to land between and inside.
        .env("NEXUS_INDEXER_MAX_BLOCK_RANGE", "2")
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
        send!(market.purchase(U256::from(1), U256::from(1), U256::from(PRICE)).value(U256::from(PRICE)));
    }
}

/// Kills, and how many of them must land in each phase.
const ROUNDS: u64 = 24;
const MIN_BACKFILL_KILLS: usize = 8;
const MIN_LIVE_KILLS: usize = 2;
/// Blocks the indexer may still reorganise (below: backfill, in batches; within: one by one).
const REORG_DEPTH: u64 = 8;
/// The first rounds kill soon after start, so several land while backfilling.
const BACKFILL_ROUNDS: u64 = 9;
const LOAD_EVENTS: u64 = 15_000;

/// The committed cursor (0 before the first commit).
async fn cursor(pool: &sqlx::PgPool) -> u64 {
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT block_number FROM chain_cursor").fetch_optional(pool).await.unwrap_or_default();
    cursor.map_or(0, |c| c as u64)
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
    let load = nexus_testkit::load::EventLoad::deploy(&devnet).await.expect("load");
    load.emit(LOAD_EVENTS).await.expect("emit");

    let mut rng = Rng::from_env_or_clock("CRASH_SEED");
    let seed = rng.seed();
    let url = pg.create_database("crashy").expect("createdb");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let (mut backfill_kills, mut live_kills, mut live_rounds) = (0, 0, 0u64);
    for round in 0..ROUNDS {
        let mut child = spawn(&devnet, &url, &deployments);
        // A random moment: during start-up or inside a backfill batch (the first rounds), or
        // while following with new events arriving (every third round after that).
        let live = round >= BACKFILL_ROUNDS && round % 3 == 1;
        if live {
            live_rounds += 1;
            let buyer = 4 + (round as usize % 3);
            tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
            purchases(&devnet, buyer, 3).await;
        } else if round < BACKFILL_ROUNDS {
            // Kill by progress, not by time, so the kills land in backfill however fast the
            // machine is: wait until the cursor has moved 1-3 batches past where it stood (round
            // 0: not at all, a kill during start-up), then a random few ms more, inside the next
            // batch or between two.
            let start = cursor(&pool).await;
            let target = if round == 0 { 0 } else { start + 2 * (1 + rng.below(3)) };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while cursor(&pool).await < target && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.below(if round == 0 { 100 } else { 15 }))).await;
        } else {
            tokio::time::sleep(Duration::from_millis(30 + rng.below(800))).await;
        }
        let head = devnet.dev_provider(0).get_block_number().await.expect("head");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let cursor = cursor(&pool).await;
        eprintln!("round {round}: killed at cursor {cursor} of head {head}");
        if cursor + REORG_DEPTH < head {
            backfill_kills += 1;
        } else {
            live_kills += 1;
        }
    }
    assert!(backfill_kills >= MIN_BACKFILL_KILLS, "only {backfill_kills} kills during backfill (seed {seed})");
    assert!(live_kills >= MIN_LIVE_KILLS, "only {live_kills} kills while following (seed {seed})");

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
    let driven = LOAD_EVENTS.div_ceil(nexus_testkit::load::EVENTS_PER_ITERATION);
    assert_eq!(purchases as u64, 40 + live_rounds * 3 + driven, "purchases (seed {seed})");
}
