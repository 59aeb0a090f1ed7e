//! Helpers shared by the indexer's integration tests: a devnet plus a private PostgreSQL, an
//! indexer over them, canonical dumps of every projection, and checks against the contracts'
//! view functions.

#![allow(dead_code)]

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use nexus_bindings::registry::AgentRegistry;
use nexus_bindings::{AgentMarketplace, agent::Category, agent::Status};
use nexus_indexer::{Config, Indexer};
use nexus_testkit::{Devnet, Postgres};
use sqlx::PgPool;

pub async fn indexer(devnet: &Devnet, pg: &Postgres, db: &str, tweak: impl FnOnce(&mut Config)) -> Indexer {
    let url = pg.create_database(db).expect("createdb");
    let mut config = Config::local(devnet.deployments.clone(), devnet.rpc_url(), url);
    config.poll_interval = Duration::from_millis(20);
    tweak(&mut config);
    Indexer::connect(config).await.expect("indexer")
}

/// Every projection as sorted JSON rows, table by table.
pub async fn dump(pool: &PgPool) -> Vec<(String, String)> {
    nexus_indexer::projection_dump(pool).await.expect("dump")
}

pub async fn assert_same_projections(a: &PgPool, b: &PgPool) {
    let (a, b) = (dump(a).await, dump(b).await);
    for ((table, x), (_, y)) in a.iter().zip(b.iter()) {
        assert_eq!(x, y, "table {table} differs");
    }
}

/// developer, payment_token, price, max_duration, category, status, image_digest, metadata_uri.
type AgentRow = (Vec<u8>, Vec<u8>, String, i64, String, String, Vec<u8>, String);

fn u(s: &str) -> U256 {
    s.parse().expect("decimal")
}

/// Every projection the contracts can be asked about equals their answer.
pub async fn assert_matches_chain(devnet: &Devnet, pool: &PgPool, accounts: &[Address]) {
    let d = &devnet.deployments.contracts;
    let provider = devnet.dev_provider(0);
    let registry = AgentRegistry::new(d.agent_registry, &provider);
    let market = AgentMarketplace::new(d.agent_marketplace, &provider);

    // Agents: every registry field.
    let count = registry.agentCount().call().await.expect("agentCount");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM agents").fetch_one(pool).await.expect("count");
    assert_eq!(U256::from(rows), count, "agent count");
    for id in 1..=count.to::<u64>() {
        let agent = registry.getAgent(U256::from(id)).call().await.expect("getAgent");
        let row: AgentRow = sqlx::query_as(
            "SELECT developer::bytea, payment_token::bytea, price::text, max_duration, category, status,
                    image_digest::bytea, metadata_uri FROM agents WHERE agent_id = $1::numeric",
        )
        .bind(id.to_string())
        .fetch_one(pool)
        .await
        .expect("agent row");
        let t = &agent.terms;
        assert_eq!(Address::from_slice(&row.0), t.developer, "agent {id} developer");
        assert_eq!(Address::from_slice(&row.1), t.paymentToken, "agent {id} token");
        assert_eq!(u(&row.2), U256::from(t.price), "agent {id} price");
        assert_eq!(row.3, i64::from(t.maxDuration), "agent {id} maxDuration");
        assert_eq!(row.4, Category::try_from(t.category).expect("category").as_str(), "agent {id} category");
        assert_eq!(row.5, Status::try_from(t.status).expect("status").as_str(), "agent {id} status");
        assert_eq!(row.6.as_slice(), agent.imageDigest.as_slice(), "agent {id} digest");
        assert_eq!(row.7, agent.metadataURI, "agent {id} uri");
    }

    // Executions: open exactly when the contract says so.
    let next = market.nextRequestId().call().await.expect("nextRequestId");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM executions").fetch_one(pool).await.expect("count");
    assert_eq!(U256::from(rows + 1), next, "execution count");
    for id in 1..next.to::<u64>() {
        let open = market.isOpen(U256::from(id)).call().await.expect("isOpen");
        let status: String = sqlx::query_scalar("SELECT status FROM executions WHERE request_id = $1::numeric")
            .bind(id.to_string())
            .fetch_one(pool)
            .await
            .expect("execution row");
        assert_eq!(open, status == "Requested", "request {id} is {status}");
    }

    // Entitlements: every (holder, credit) ever bought, and every row.
    let pairs: Vec<(Vec<u8>, String, String)> = sqlx::query_as(
        "SELECT p.buyer::bytea, p.credit_id::text, coalesce(e.balance, 0)::text
         FROM (SELECT DISTINCT buyer, credit_id FROM purchases) p
         LEFT JOIN entitlements e ON e.holder = p.buyer AND e.credit_id = p.credit_id
         UNION
         SELECT holder::bytea, credit_id::text, balance::text FROM entitlements",
    )
    .fetch_all(pool)
    .await
    .expect("entitlements");
    assert!(!pairs.is_empty());
    for (holder, credit, balance) in pairs {
        let holder = Address::from_slice(&holder);
        let on_chain = market.balanceOf(holder, u(&credit)).call().await.expect("balanceOf");
        assert_eq!(u(&balance), on_chain, "credits {credit} of {holder}");
    }

    // Withdrawable balances, for every account and token (zero where there is no row).
    let treasury = devnet.deployments.roles.treasury;
    let mut everyone = accounts.to_vec();
    everyone.push(treasury);
    for token in [Address::ZERO, d.usdc] {
        for &account in &everyone {
            let on_chain = market.withdrawable(token, account).call().await.expect("withdrawable");
            let db: Option<String> = sqlx::query_scalar(
                "SELECT withdrawable::text FROM withdrawable_balances WHERE token = $1 AND account = $2",
            )
            .bind(token.to_vec())
            .bind(account.to_vec())
            .fetch_optional(pool)
            .await
            .expect("balance");
            assert_eq!(db.map_or(U256::ZERO, |v| u(&v)), on_chain, "withdrawable {token} of {account}");
        }
    }

    // Configuration.
    let (fee, paused): (i32, bool) =
        sqlx::query_as("SELECT fee_bps, paused FROM marketplace_config").fetch_one(pool).await.expect("config");
    assert_eq!(fee, i32::from(market.feeBps().call().await.expect("feeBps")));
    assert_eq!(paused, market.paused().call().await.expect("paused"));
}

/// Waits (up to a minute) until the indexer writing to `pool` has committed block `head`,
/// failing early if `task` (the running indexer) ended.
pub async fn wait_for_cursor<T>(pool: &PgPool, head: u64, task: &tokio::task::JoinHandle<T>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT block_number FROM chain_cursor").fetch_optional(pool).await.unwrap_or(None);
        if cursor == Some(head as i64) {
            return;
        }
        assert!(!task.is_finished(), "the indexer gave up");
        assert!(tokio::time::Instant::now() < deadline, "indexer did not catch up: {cursor:?} of {head}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The head block number.
pub async fn head(devnet: &Devnet) -> u64 {
    devnet.dev_provider(0).get_block_number().await.expect("head")
}
