//! Hostile clients get clear errors and the server stays healthy: deep nesting, alias flooding,
//! `first: 100000`, huge documents, invalid UTF-8, malformed JSON and GraphQL, bad tokens; and
//! `PUT /v1/blobs`: content addressing, idempotence, the size limit and the per-client rate limit.

mod common;

use alloy::primitives::keccak256;
use serde_json::{Value, json};

use common::Env;

async fn post_raw(env: &Env, body: Vec<u8>) -> (u16, Value) {
    let resp = env
        .http
        .post(env.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn message(body: &Value) -> String {
    body["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

async fn healthy(env: &Env) {
    assert_eq!(env.http.get(env.url("/health")).send().await.expect("health").status(), 200);
    assert_eq!(env.http.get(env.url("/ready")).send().await.expect("ready").status(), 200);
    let ok = env.gql("{ agents(first: 1) { totalCount } }", json!({}), None).await;
    assert_eq!(ok["data"]["agents"]["totalCount"], 0, "{ok}");
}

#[tokio::test]
async fn hostile_queries_get_clear_errors() {
    let env = Env::without_chain(|c| {
        c.blob_burst = 3.0;
        c.blob_rate_per_second = 0.01;
        c.development = false;
    })
    .await;

    // Deep nesting (introspection types nest through ofType).
    let deep = format!("{{ __schema {{ types {{ {}name{} }} }} }}", "ofType { ".repeat(30), " }".repeat(30));
    let body = env.gql(&deep, json!({}), None).await;
    assert!(message(&body).contains("nested too deep"), "deep: {body}");

    // Alias flooding: each alias is a full page.
    let flood: String =
        (0..200).map(|i| format!("a{i}: agents(first: 100) {{ edges {{ node {{ id name }} }} }} ")).collect();
    let body = env.gql(&format!("{{ {flood} }}"), json!({}), None).await;
    assert!(message(&body).contains("too complex"), "aliases: {}", message(&body));
    // Many cheap aliases (free for complexity) hit the field limit instead.
    let cheap: String = (0..6000).map(|i| format!("a{i}: __typename ")).collect();
    let body = env.gql(&format!("{{ {cheap} }}"), json!({}), None).await;
    assert!(message(&body).contains("at most 1000"), "cheap aliases: {}", message(&body));

    // Page size.
    let body = env.gql("{ agents(first: 100000) { totalCount } }", json!({}), None).await;
    assert!(message(&body).contains("at most 100"), "first: 100000: {body}");
    let body = env.gql("{ executions(last: 100000) { totalCount } }", json!({}), None).await;
    assert!(message(&body).contains("at most 100"), "last: 100000: {body}");

    // Search text is bounded (it keys the catalog count cache).
    let body = env
        .gql("query($s: String!) { agents(filter: {search: $s}) { totalCount } }", json!({"s": "w ".repeat(150)}), None)
        .await;
    assert!(message(&body).contains("at most 200 characters"), "long search: {body}");

    // Sign-in challenges (each stores a nonce) are rate-limited per client, aliases included.
    let many: String = (0..40).map(|i| format!("c{i}: signInChallenge {{ nonce }} ")).collect();
    let body = env.gql(&format!("mutation {{ {many} }}"), json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "40 challenges, a burst of 30: {body}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM siwe_nonces").fetch_one(&env.pool).await.expect("count");
    // The burst, plus at most a token refilled meanwhile (one per second).
    assert!((30..=31).contains(&stored), "{stored} nonces stored");

    // A huge document (over the 256 KiB body limit).
    let huge = json!({ "query": format!("{{ agents {{ totalCount }} }} #{}", "x".repeat(400 * 1024)) });
    let (status, body) = post_raw(&env, huge.to_string().into_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert!(message(&body).contains("limit"), "{body}");

    // Invalid UTF-8, malformed JSON, malformed GraphQL, unknown fields.
    let mut bad = br#"{"query": "{ agents { totalCount } }"#.to_vec();
    bad.extend([0xff, 0xfe, b'"', b'}']);
    let (status, body) = post_raw(&env, bad).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("UTF-8"), "{body}");
    let (status, body) = post_raw(&env, b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("JSON"), "{body}");
    let body = env.gql("{ agents(first: ", json!({}), None).await;
    assert!(!message(&body).is_empty() && body["data"].is_null(), "syntax: {body}");
    let body = env.gql("{ nosuchfield }", json!({}), None).await;
    assert!(message(&body).contains("nosuchfield"), "unknown field: {body}");
    let body = env.gql("query($id: BigInt!) { agent(id: $id) { id } }", json!({"id": "-5"}), None).await;
    assert!(message(&body).contains("decimal"), "bad scalar: {body}");
    let body = env.gql("query($id: BigInt!) { agent(id: $id) { id } }", json!({"id": "1".repeat(100)}), None).await;
    assert!(!message(&body).is_empty(), "overflowing uint256: {body}");

    // Tokens.
    let resp = env
        .http
        .post(env.url("/graphql"))
        .bearer_auth("forged.token")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    let resp = env
        .http
        .post(env.url("/graphql"))
        .header("authorization", "Basic abc")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);

    // GraphiQL only in development.
    assert_eq!(env.http.get(env.url("/graphql")).send().await.expect("get").status(), 404);

    healthy(&env).await;

    // ---- blobs
    let put = |bytes: Vec<u8>| env.http.put(env.url("/v1/blobs")).body(bytes).send();
    let input = br#"{"text":"hello"}"#.to_vec();
    let first = put(input.clone()).await.expect("put");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["hash"], keccak256(&input).to_string());
    assert_eq!(first["created"], true);
    let again = put(input.clone()).await.expect("put");
    assert_eq!(again.status(), 200, "same bytes twice is a no-op");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["hash"], first["hash"]);
    assert_eq!(again["created"], false);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&env.pool).await.expect("count");
    assert_eq!(stored, 1);
    let big = put(vec![b'x'; 1024 * 1024 + 1]).await.expect("put");
    assert_eq!(big.status(), 413);
    let big: Value = big.json().await.expect("json");
    assert!(message(&big).contains("1048576"), "{big}");
    // The burst (3) is spent: the next upload from this address is refused.
    let limited = put(b"{}".to_vec()).await.expect("put");
    assert_eq!(limited.status(), 429);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&env.pool).await.expect("count");
    assert_eq!(stored, 1, "refused uploads store nothing");

    healthy(&env).await;
    let metrics = env.http.get(env.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("nexus_graphql_rate_limited_total 1"), "{metrics}");
}
