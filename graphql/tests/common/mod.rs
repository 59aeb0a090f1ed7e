//! Test harness: a devnet (anvil + the real deploy script), a private PostgreSQL, the real
//! indexer following the chain over websocket, and the GraphQL server on a free port; plus
//! helpers to drive the marketplace and to query the API over HTTP and websocket.

#![allow(dead_code)]

use std::time::Duration;

use alloy::primitives::{Address, B256, U256, Uint, keccak256};
use alloy::providers::Provider;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_testkit::{Devnet, Postgres};
use serde_json::{Value, json};
use sqlx::PgPool;

#[macro_export]
macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "transaction reverted");
        receipt
    }};
}

pub const DOMAIN: &str = "nexus.test";
pub const SECRET: &[u8] = b"test secret, at least 16 bytes";

pub struct Env {
    pub devnet: Option<Devnet>,
    pub pg: Postgres,
    pub pool: PgPool,
    pub base: String,
    pub http: reqwest::Client,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn shutdown(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Env {
    /// Devnet + PostgreSQL + live indexer + server.
    pub async fn start(tweak: impl FnOnce(&mut nexus_graphql::Config)) -> Env {
        let devnet = Devnet::start().await.expect("devnet");
        let pg = Postgres::start().expect("postgres");
        let url = pg.create_database("nexus").expect("createdb");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut config = nexus_indexer::Config::local(devnet.deployments.clone(), devnet.ws_url(), url.clone());
        config.poll_interval = Duration::from_millis(20);
        let mut indexer = nexus_indexer::Indexer::connect(config).await.expect("indexer");
        let rx = stopped.clone();
        tokio::spawn(async move { indexer.run(shutdown(rx)).await });
        let mut cfg = nexus_graphql::Config::local(url);
        cfg.rpc_url = Some(devnet.rpc_url());
        cfg.chain_id = Some(devnet.deployments.chain_id);
        Self::finish(Some(devnet), pg, cfg, stop, stopped, tweak).await
    }

    /// PostgreSQL (migrated, empty) + server; no chain.
    pub async fn without_chain(tweak: impl FnOnce(&mut nexus_graphql::Config)) -> Env {
        let pg = Postgres::start().expect("postgres");
        let url = pg.create_database("nexus").expect("createdb");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut cfg = nexus_graphql::Config::local(url);
        cfg.rpc_url = None;
        Self::finish(None, pg, cfg, stop, stopped, tweak).await
    }

    async fn finish(
        devnet: Option<Devnet>,
        pg: Postgres,
        mut cfg: nexus_graphql::Config,
        stop: tokio::sync::watch::Sender<bool>,
        stopped: tokio::sync::watch::Receiver<bool>,
        tweak: impl FnOnce(&mut nexus_graphql::Config),
    ) -> Env {
        cfg.siwe_domain = DOMAIN.into();
        cfg.token_secret = Some(SECRET.to_vec());
        tweak(&mut cfg);
        let server = nexus_graphql::start(cfg, shutdown(stopped.clone())).await.expect("start graphql");
        let pool = server.state.pool.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(nexus_graphql::serve(listener, server, shutdown(stopped)));
        let env = Env { devnet, pg, pool, base: format!("http://{addr}"), http: reqwest::Client::new(), stop };
        // Ready once the LISTEN connection is up, so no notification is missed by the tests.
        for _ in 0..200 {
            if env.http.get(env.url("/ready")).send().await.map(|r| r.status() == 200).unwrap_or(false) {
                return env;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server never became ready");
    }

    pub fn devnet(&self) -> &Devnet {
        self.devnet.as_ref().expect("env without a chain")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.base.replace("http://", "ws://"))
    }

    /// POST a query; returns the whole response body (data and errors).
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut req = self.http.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("post");
        resp.json().await.expect("json body")
    }

    /// POST a query that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables, None).await;
        assert!(body.get("errors").is_none(), "query failed: {body}");
        body["data"].clone()
    }

    /// Waits until the indexer has applied the chain's current head.
    pub async fn indexed(&self) {
        let head = self.devnet().dev_provider(0).get_block_number().await.expect("head") as i64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let cursor: Option<i64> = sqlx::query_scalar("SELECT block_number FROM chain_cursor")
                .fetch_optional(&self.pool)
                .await
                .expect("cursor");
            if cursor >= Some(head) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "indexer did not catch up ({cursor:?} < {head})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A bearer token for `signer` through the real sign-in flow.
    pub async fn sign_in(&self, signer: &PrivateKeySigner) -> String {
        let nonce = self.nonce().await;
        let message = siwe_message(DOMAIN, signer.address(), &nonce, 31337, None);
        let signature = signer.sign_message_sync(message.as_bytes()).expect("sign");
        let body = self.sign_in_with(&message, &format!("0x{}", alloy::hex::encode(signature.as_bytes()))).await;
        body["data"]["signIn"]["token"].as_str().unwrap_or_else(|| panic!("sign-in failed: {body}")).to_string()
    }

    pub async fn nonce(&self) -> String {
        let data = self.data("mutation { signInChallenge { nonce domain } }", json!({})).await;
        data["signInChallenge"]["nonce"].as_str().expect("nonce").to_string()
    }

    pub async fn sign_in_with(&self, message: &str, signature: &str) -> Value {
        self.gql(
            "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) { token address expiresAt } }",
            json!({ "m": message, "s": signature }),
            None,
        )
        .await
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// An EIP-4361 message.
pub fn siwe_message(domain: &str, address: Address, nonce: &str, chain_id: u64, expiration: Option<&str>) -> String {
    let now =
        rfc3339(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64);
    let mut m = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\nRead my execution outputs.\n\n\
         URI: https://{domain}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\nIssued At: {now}",
        address.to_checksum(None)
    );
    if let Some(e) = expiration {
        m.push_str(&format!("\nExpiration Time: {e}"));
    }
    m
}

pub fn agent_params(
    developer: Address,
    token: Address,
    price: u64,
    category: Category,
    meta: &str,
) -> IAgentRegistry::AgentParams {
    IAgentRegistry::AgentParams {
        developer,
        paymentToken: token,
        price: Uint::from(price),
        maxDuration: 30,
        category: category.into(),
        imageDigest: B256::repeat_byte(7),
        metadataURI: format!("data:application/json,{meta}"),
    }
}

/// Registers an agent as the curator (dev account 0).
pub async fn register(devnet: &Devnet, params: IAgentRegistry::AgentParams) {
    let registry = AgentRegistry::new(devnet.deployments.contracts.agent_registry, devnet.dev_provider(0));
    send!(registry.registerAgent(params));
}

/// Registers agent 1 (priced `price` wei, developer dev account 6) and buys `units` credits of
/// it as dev account `buyer`; returns the credit id.
pub async fn agent_with_credits(devnet: &Devnet, buyer: usize, price: u64, units: u64) -> U256 {
    let developer = devnet.signer(6).address();
    register(devnet, agent_params(developer, Address::ZERO, price, Category::General, r#"{"name":"Echo"}"#)).await;
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(buyer));
    send!(market.purchase(u(1), u(units), u(price)).value(u(units * price)));
    nexus_bindings::credit_id::encode(u(1), u(price))
}

/// Requests an execution of `credit` as dev account `buyer` on `input` (uploaded first), then
/// does what the relayer does on success: stores `output` as a blob and settles (dev account 1)
/// with its hash. Returns the request id.
pub async fn settled_execution(env: &Env, buyer: usize, credit: U256, input: &[u8], output: &[u8]) -> U256 {
    let devnet = env.devnet();
    let put = env.http.put(env.url("/v1/blobs")).body(input.to_vec()).send().await.expect("put");
    assert_eq!(put.status(), 201);
    let market = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(buyer));
    let receipt = send!(market.requestExecution(credit, keccak256(input)));
    let req = receipt.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("requested").data;
    sqlx::query("INSERT INTO blobs (hash, bytes, size) VALUES ($1, $2, $3)")
        .bind(keccak256(output).to_vec())
        .bind(output.to_vec())
        .bind(output.len() as i64)
        .execute(&env.pool)
        .await
        .expect("relayer's output blob");
    let relayer = AgentMarketplace::new(devnet.deployments.contracts.agent_marketplace, devnet.dev_provider(1));
    send!(relayer.settle(req.requestId, req.execution(), true, keccak256(output)));
    req.requestId
}

pub fn u(v: u64) -> U256 {
    U256::from(v)
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).expect("time").to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
