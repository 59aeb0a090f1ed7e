//! The store's types against a real PostgreSQL (a private cluster from nexus-testkit), migrated
//! with [`nexus_store::migrate`]: enums and codecs decode real rows, and a value outside an enum
//! (possible once a CHECK constraint is dropped, or a column read that the enum does not cover)
//! is a decode error rather than a default.

use alloy::primitives::{Address, B256, U256};
use nexus_store::codec::{Addr, Hash32, Uint256, numeric};
use nexus_store::{AgentStatus, Category, ExecutionRow, ExecutionStatus, LogStream, MetadataStatus, Outcome};
use nexus_testkit::postgres::Postgres;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

async fn database() -> (Postgres, PgPool) {
    let pg = Postgres::start().expect("postgres");
    let pool = PgPoolOptions::new().max_connections(2).connect(&pg.url()).await.expect("connect");
    nexus_store::migrate(&pool).await.expect("migrate");
    // Twice: an up-to-date database is left alone (what every service start does).
    nexus_store::migrate(&pool).await.expect("migrate again");
    (pg, pool)
}

/// Inserts an execution in `status` (with the columns the CHECKs then require).
async fn insert_execution(pool: &PgPool, id: U256, status: ExecutionStatus) {
    let settled = status.is_terminal();
    sqlx::query(
        "INSERT INTO executions (request_id, agent_id, requester, developer, token, credit_id, unit_price,
             input_hash, deadline, status, success, payee, payout, fee, requested_block, requested_tx,
             requested_at, settled_block, settled_tx, settled_at)
         VALUES ($1::numeric, $2::numeric, $3, $4, $5, $6::numeric, $7::numeric, $8, to_timestamp(2000), $9,
             CASE $9 WHEN 'Succeeded' THEN TRUE WHEN 'Failed' THEN FALSE END,
             CASE WHEN $10 THEN $3 END, CASE WHEN $10 THEN $7::numeric END, CASE WHEN $10 THEN 0 END,
             1, $8, to_timestamp(1000),
             CASE WHEN $10 THEN 2 END, CASE WHEN $10 THEN $8 END, CASE WHEN $10 THEN to_timestamp(1500) END)",
    )
    .bind(Uint256(id))
    .bind(Uint256(U256::MAX))
    .bind(Addr(Address::repeat_byte(1)))
    .bind(Addr(Address::repeat_byte(2)))
    .bind(Addr(Address::ZERO))
    .bind(numeric(U256::from(7)))
    .bind(Uint256(U256::from(1000)))
    .bind(Hash32(B256::repeat_byte(3)))
    .bind(status)
    .bind(settled)
    .execute(pool)
    .await
    .expect("insert execution");
}

#[tokio::test]
async fn enums_and_codecs_decode_real_rows() {
    let (_pg, pool) = database().await;
    for (i, status) in ExecutionStatus::ALL.iter().enumerate() {
        let id = U256::MAX - U256::from(i);
        insert_execution(&pool, id, *status).await;
        let row = ExecutionRow::fetch(&pool, id).await.expect("fetch").expect("row");
        assert_eq!(row.status, *status);
        assert_eq!((row.request_id, row.agent_id, row.unit_price), (id, U256::MAX, U256::from(1000)));
        assert_eq!((row.requester, row.token), (Address::repeat_byte(1), Address::ZERO));
        assert_eq!((row.deadline, row.requested_at), (2000, 1000));
        assert_eq!(row.payout.map(|p| p.0), status.is_terminal().then_some(U256::from(1000)));
        assert_eq!(row.settled_tx.map(B256::from), status.is_terminal().then_some(B256::repeat_byte(3)));
    }
    // Every TEXT value each CHECK allows decodes to its variant, straight from the server.
    for s in ExecutionStatus::ALL {
        let back: ExecutionStatus =
            sqlx::query_scalar("SELECT $1::text").bind(s.as_str()).fetch_one(&pool).await.unwrap();
        assert_eq!(back, *s);
    }
    for s in AgentStatus::ALL {
        let back: AgentStatus = sqlx::query_scalar("SELECT $1::text").bind(*s).fetch_one(&pool).await.unwrap();
        assert_eq!(back, *s);
    }
    for c in Category::ALL {
        let back: Category = sqlx::query_scalar("SELECT $1::text").bind(*c).fetch_one(&pool).await.unwrap();
        assert_eq!(back, *c);
    }
    let outcome = Outcome::Failed("deadline".into());
    let back: Outcome = sqlx::query_scalar("SELECT $1::text").bind(outcome.clone()).fetch_one(&pool).await.unwrap();
    assert_eq!(back, outcome);
}

#[tokio::test]
async fn values_outside_the_types_are_errors() {
    let (_pg, pool) = database().await;
    // The CHECK keeps unknown statuses out of the table; drop it the way a schema drift would
    // (a migration adding a status the code does not know yet) and write one.
    insert_execution(&pool, U256::from(1), ExecutionStatus::Reclaimed).await;
    sqlx::query("ALTER TABLE executions DROP CONSTRAINT executions_status_check").execute(&pool).await.unwrap();
    sqlx::query("UPDATE executions SET status = 'Settled' WHERE request_id = 1").execute(&pool).await.unwrap();
    let err = ExecutionRow::fetch(&pool, U256::from(1)).await.expect_err("unknown status decoded");
    assert!(err.to_string().contains("\"Settled\" is not a valid ExecutionStatus"), "{err}");

    for (sql, what) in [("SELECT 'Pending'::text", "ExecutionStatus"), ("SELECT ''::text", "ExecutionStatus")] {
        let r: Result<ExecutionStatus, _> = sqlx::query_scalar(sql).fetch_one(&pool).await;
        assert!(r.expect_err(sql).to_string().contains(what), "{sql}");
    }
    assert!(sqlx::query_scalar::<_, AgentStatus>("SELECT 'active'::text").fetch_one(&pool).await.is_err());
    assert!(sqlx::query_scalar::<_, Category>("SELECT 'Other'::text").fetch_one(&pool).await.is_err());
    assert!(sqlx::query_scalar::<_, MetadataStatus>("SELECT 'OK'::text").fetch_one(&pool).await.is_err());
    assert!(sqlx::query_scalar::<_, Outcome>("SELECT 'failed'::text").fetch_one(&pool).await.is_err());

    // Codecs: what NUMERIC/BYTEA can hold but a uint256/address cannot.
    for sql in ["SELECT (-1)::numeric::text", "SELECT 1.5::numeric::text", "SELECT (2::numeric ^ 256)::text"] {
        let r: Result<Uint256, _> = sqlx::query_scalar(sql).fetch_one(&pool).await;
        assert!(r.is_err(), "{sql} decoded");
    }
    let max: Uint256 =
        sqlx::query_scalar("SELECT ((2::numeric ^ 256) - 1)::numeric(78,0)::text").fetch_one(&pool).await.unwrap();
    assert_eq!(max.0, U256::MAX);
    let zero: Uint256 = sqlx::query_scalar("SELECT 0::numeric(78,0)::text").fetch_one(&pool).await.unwrap();
    assert_eq!(zero.0, U256::ZERO);
    let short: Result<Addr, _> = sqlx::query_scalar("SELECT '\\x0102'::bytea").fetch_one(&pool).await;
    assert!(short.is_err());
    let long: Result<Hash32, _> = sqlx::query_scalar("SELECT decode(repeat('ab', 33), 'hex')").fetch_one(&pool).await;
    assert!(long.is_err());
}

/// `execution_logs.stream`: the CHECK accepts exactly the enum's values, and they read back as
/// the variants they were written as.
#[tokio::test]
async fn log_streams_match_the_check() {
    let (_pg, pool) = database().await;
    for (seq, stream) in LogStream::ALL.iter().enumerate() {
        sqlx::query("INSERT INTO execution_logs (request_id, attempt, seq, stream, line) VALUES (1, 1, $1, $2, 'x')")
            .bind(seq as i64)
            .bind(*stream)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{stream} refused: {e}"));
    }
    let back: Vec<LogStream> =
        sqlx::query_scalar("SELECT stream FROM execution_logs ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(back, LogStream::ALL);
    // And nothing else: the quoted values of the CHECK's definition are the enum's.
    let check: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'execution_logs_stream_check'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let allowed: Vec<&str> = check.split('\'').skip(1).step_by(2).collect();
    let ours: Vec<&str> = LogStream::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(allowed, ours, "{check}");
    let unknown: Result<LogStream, _> = sqlx::query_scalar("SELECT 'Stderr'::text").fetch_one(&pool).await;
    assert!(unknown.expect_err("decoded").to_string().contains("is not a valid LogStream"));
}
