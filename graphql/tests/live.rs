//! Subscriptions over graphql-transport-ws, driven by the real indexer's NOTIFY: a settled
//! execution reaches its subscriber within 500 ms of the block; a requester's executions, log
//! lines (requester only) and agent changes arrive; many clients share one LISTEN connection.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, keccak256};
use futures::{SinkExt, StreamExt};
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::{Env, agent_params, register, u};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Client {
    socket: Socket,
    pending: VecDeque<Value>,
}

impl Client {
    async fn connect(env: &Env, token: Option<&str>) -> Client {
        let mut request = env.ws_url().into_client_request().expect("request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
        let mut client = Client { socket, pending: VecDeque::new() };
        let payload = token.map_or(json!({}), |t| json!({ "authorization": t }));
        client.send(json!({ "type": "connection_init", "payload": payload })).await;
        let ack = client.next(|m| m["type"] == "connection_ack" || m["type"] == "connection_error").await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    async fn send(&mut self, v: Value) {
        self.socket.send(Message::text(v.to_string())).await.expect("send");
    }

    async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
    }

    /// The next message matching `pred` (others are kept for later calls); 5 s at most.
    async fn next(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).expect("pending");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("timed out waiting for a websocket message")
                .expect("socket closed")
                .expect("socket error");
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("json");
            if v["type"] == "ping" {
                self.send(json!({ "type": "pong" })).await;
                continue;
            }
            if pred(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    async fn next_for(&mut self, id: &str) -> Value {
        let m = self.next(|m| m["id"] == id).await;
        assert_eq!(m["type"], "next", "{m}");
        m["payload"]["data"].clone()
    }
}

#[tokio::test]
async fn subscriptions_follow_the_chain() {
    let env = Env::start(|_| {}).await;
    let devnet = env.devnet();
    let d = devnet.deployments.contracts.clone();
    let requester = devnet.signer(3);
    let price = 1_000_000_000_000_000u64;
    register(
        devnet,
        agent_params(devnet.signer(6).address(), Address::ZERO, price, Category::General, r#"{"name":"Echo"}"#),
    )
    .await;
    let market = AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(3));
    send!(market.purchase(u(1), u(2), u(price)).value(u(2 * price)));
    let credit = nexus_bindings::credit_id::encode(u(1), u(price));
    let receipt = send!(market.requestExecution(credit, keccak256(b"in")));
    let req = receipt.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("requested").data;
    env.indexed().await;
    let token = env.sign_in(&requester).await;

    let mut ws = Client::connect(&env, Some(&token)).await;
    ws.subscribe("exec", "subscription { executionUpdated(id: \"1\") { id status settledBlock agent { name } } }")
        .await;
    let first = ws.next_for("exec").await;
    assert_eq!(first["executionUpdated"]["status"], "REQUESTED", "current state first: {first}");
    let who = requester.address().to_string();
    ws.subscribe("mine", &format!("subscription {{ requesterExecutions(requester: \"{who}\") {{ id status }} }}"))
        .await;
    ws.subscribe("logs", "subscription { executionLogs(id: \"1\") { seq line } }").await;
    ws.subscribe("agents", "subscription { agentUpdated { id name price } }").await;

    // A stranger cannot follow someone else's logs.
    let mut anon = Client::connect(&env, None).await;
    anon.subscribe("logs", "subscription { executionLogs(id: \"1\") { seq line } }").await;
    let refused = anon.next(|m| m["id"] == "logs").await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");

    // Many clients, one LISTEN connection.
    let mut crowd = Vec::new();
    for _ in 0..20 {
        let mut c = Client::connect(&env, None).await;
        c.subscribe("exec", "subscription { executionUpdated(id: \"1\") { status } }").await;
        let _ = c.next_for("exec").await;
        crowd.push(c);
    }
    let listeners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&env.pool)
    .await
    .expect("pg_stat_activity");
    assert_eq!(listeners, 1, "one LISTEN connection for the whole server");

    // Log lines as the relayer writes them.
    sqlx::query("INSERT INTO execution_logs (request_id, seq, line) VALUES (1, 1, 'working')")
        .execute(&env.pool)
        .await
        .expect("log line");
    let line = ws.next_for("logs").await;
    assert_eq!(line["executionLogs"], json!({"seq": 1, "line": "working"}));
    // A batch (one INSERT, as the relayer writes) is one notification, and its lines arrive in
    // order; a replayed batch (ON CONFLICT DO NOTHING) notifies nothing.
    let mut listener = sqlx::postgres::PgListener::connect_with(&env.pool).await.expect("listener");
    listener.listen("nexus_execution_logs").await.expect("listen");
    let batch = "INSERT INTO execution_logs (request_id, seq, line)
                 SELECT 1, s, 'line ' || s FROM generate_series(2, 201) s ON CONFLICT DO NOTHING";
    sqlx::query(batch).execute(&env.pool).await.expect("log batch");
    sqlx::query(batch).execute(&env.pool).await.expect("log batch again");
    for seq in 2..=201 {
        let line = ws.next_for("logs").await;
        assert_eq!(line["executionLogs"], json!({"seq": seq, "line": format!("line {seq}")}));
    }
    let first = listener.recv().await.expect("notification");
    let payload: serde_json::Value = serde_json::from_str(first.payload()).expect("payload");
    assert_eq!(payload, json!({"requestId": "1", "attempt": 1, "seq": 2, "lastSeq": 201}));
    let more = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(more.is_err(), "one notification per batch: {more:?}");

    // Settlement: measured from before the transaction is sent (so the block, its indexing and
    // the NOTIFY round trip are all inside the 500 ms).
    let relayer = AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(1));
    let sent = Instant::now();
    let receipt = send!(relayer.settle(req.requestId, req.execution(), true, keccak256(b"out")));
    let mined = sent.elapsed();
    let update = ws.next_for("exec").await;
    let latency = sent.elapsed();
    assert_eq!(update["executionUpdated"]["status"], "SUCCEEDED", "{update}");
    assert_eq!(update["executionUpdated"]["settledBlock"], receipt.block_number.expect("block"));
    assert_eq!(update["executionUpdated"]["agent"]["name"], "Echo");
    println!(
        "graphql.subscription_latency_ms={} (transaction mined after {} ms)",
        latency.as_millis(),
        mined.as_millis()
    );
    assert!(latency < Duration::from_millis(500), "settlement reached the subscriber after {latency:?}");
    for c in &mut crowd {
        assert_eq!(c.next_for("exec").await["executionUpdated"]["status"], "SUCCEEDED");
    }
    let mine = ws.next_for("mine").await;
    assert_eq!(mine["requesterExecutions"], json!({"id": "1", "status": "SUCCEEDED"}));

    // A new request by the same requester, and a new agent.
    send!(market.requestExecution(credit, keccak256(b"again")));
    let mine = ws.next_for("mine").await;
    assert_eq!(mine["requesterExecutions"], json!({"id": "2", "status": "REQUESTED"}));
    register(
        devnet,
        agent_params(devnet.signer(6).address(), Address::ZERO, price, Category::Crypto, r#"{"name":"Second"}"#),
    )
    .await;
    let agent = ws.next_for("agents").await;
    assert_eq!(agent["agentUpdated"]["id"], "2", "{agent}");
    assert_eq!(agent["agentUpdated"]["name"], "Second");
    // Metadata resolved later (as the indexer's resolver does for ipfs:// and https:// URIs).
    sqlx::query("UPDATE agents SET description = 'resolved later' WHERE agent_id = 1")
        .execute(&env.pool)
        .await
        .expect("metadata update");
    // (Agent 2's own metadata notification may come first: skip to agent 1's.)
    let agent = ws.next(|m| m["id"] == "agents" && m["payload"]["data"]["agentUpdated"]["id"] == "1").await;
    assert_eq!(agent["type"], "next", "{agent}");

    // Completing a subscription ends only that stream; the server stays healthy.
    ws.send(json!({ "id": "exec", "type": "complete" })).await;
    assert_eq!(env.http.get(env.url("/health")).send().await.expect("health").status(), 200);
}
