//! Schema drift is an error, never a guess: a status the code does not know (here written after
//! dropping the CHECK that keeps it out, as a migration adding a status before the code learns it
//! would) makes the field an INTERNAL error. Before nexus-store, `Execution.status` read an
//! unknown value as REQUESTED and `Agent.category` read it as GENERAL; a log line's stream was
//! passed through as whatever text the row held.

mod common;

use alloy::signers::local::PrivateKeySigner;
use serde_json::json;

use common::Env;

#[tokio::test]
async fn unknown_stored_values_are_errors_not_defaults() {
    let env = Env::without_chain(|_| {}).await;
    let pool = &env.pool;
    for sql in [
        "ALTER TABLE executions DROP CONSTRAINT executions_status_check",
        "ALTER TABLE agents DROP CONSTRAINT agents_category_check",
        "INSERT INTO executions (request_id, agent_id, requester, developer, token, credit_id, unit_price,
             input_hash, deadline, status, payee, payout, fee, requested_block, requested_tx, requested_at,
             settled_block, settled_tx, settled_at)
         VALUES (1, 1, decode(repeat('11', 20), 'hex'), decode(repeat('22', 20), 'hex'), decode(repeat('00', 20), 'hex'),
             1, 10, decode(repeat('33', 32), 'hex'), now(), 'Disputed', decode(repeat('11', 20), 'hex'), 10, 0,
             1, decode(repeat('44', 32), 'hex'), now(), 2, decode(repeat('55', 32), 'hex'), now())",
        "INSERT INTO agents (agent_id, developer, payment_token, price, max_duration, category, status, image_digest,
             metadata_uri, registered_block, registered_tx, registered_at, updated_block, updated_at)
         VALUES (1, decode(repeat('22', 20), 'hex'), decode(repeat('00', 20), 'hex'), 10, 60, 'Gaming', 'Active',
             decode(repeat('66', 32), 'hex'), 'data:,{}', 1, decode(repeat('77', 32), 'hex'), now(), 1, now())",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.expect(sql);
    }

    let body = env.gql(r#"{ execution(id: "1") { status } }"#, json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
    assert!(body["data"]["execution"].is_null(), "{body}");

    let body = env.gql(r#"{ agent(id: "1") { category } }"#, json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
    assert!(body["data"]["agent"].is_null(), "{body}");

    // Known values still read (the server is fine; only the drifted rows are refused).
    sqlx::query("UPDATE agents SET category = 'Crypto'").execute(pool).await.unwrap();
    let data = env.data(r#"{ agent(id: "1") { category status } }"#, json!({})).await;
    assert_eq!(data["agent"], json!({ "category": "CRYPTO", "status": "ACTIVE" }));
}

#[tokio::test]
async fn unknown_log_streams_are_errors() {
    let env = Env::without_chain(|_| {}).await;
    let pool = &env.pool;
    let requester = PrivateKeySigner::random();
    sqlx::query(
        "INSERT INTO executions (request_id, agent_id, requester, developer, token, credit_id, unit_price,
             input_hash, deadline, status, requested_block, requested_tx, requested_at)
         VALUES (1, 1, $1, decode(repeat('22', 20), 'hex'), decode(repeat('00', 20), 'hex'), 1, 10,
             decode(repeat('33', 32), 'hex'), now(), 'Requested', 1, decode(repeat('44', 32), 'hex'), now())",
    )
    .bind(requester.address().as_slice())
    .execute(pool)
    .await
    .expect("insert execution");
    for sql in [
        "ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_stream_check",
        "INSERT INTO execution_logs (request_id, attempt, seq, stream, line) VALUES (1, 1, 0, 'relayer', 'hello')",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.expect(sql);
    }
    let token = env.sign_in(&requester).await;
    let query = r#"{ execution(id: "1") { logs { stream line } } }"#;

    let body = env.gql(query, json!({}), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
    assert!(body["data"]["execution"].is_null(), "{body}");

    // A known stream reads as the text it always was.
    sqlx::query("UPDATE execution_logs SET stream = 'system'").execute(pool).await.unwrap();
    let body = env.gql(query, json!({}), Some(&token)).await;
    assert_eq!(body["data"]["execution"]["logs"], json!([{ "stream": "system", "line": "hello" }]), "{body}");
}
