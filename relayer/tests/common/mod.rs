//! The relayer's test stack, everything real: anvil with the contracts, a private PostgreSQL,
//! the indexer following the chain, dockerd with the agent images, and relayers.
//!
//! Docker is required: without a reachable daemon (or with images that cannot be built) these
//! tests fail loudly instead of skipping.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256, Uint, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::usdc::TestUSDC;
use nexus_relayer::{Config, Relayer};
use nexus_testkit::agents::ImageSet;
use nexus_testkit::{Devnet, Postgres, repo_root};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Unit price of every test agent: 1 USDC (6 decimals).
pub const PRICE: u64 = 1_000_000;
/// The developer of every test agent (dev account 5).
pub const DEVELOPER: usize = 5;
/// The buyer (dev account 4).
pub const BUYER: usize = 4;

/// Image ids by name, catalog and hostile (testkit builds them with `scripts/agents.sh` when a
/// set is missing or an image is not in the daemon).
pub fn images() -> &'static HashMap<String, String> {
    static IMAGES: OnceLock<HashMap<String, String>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let mut all = HashMap::new();
        for set in [ImageSet::Catalog, ImageSet::Hostile] {
            let map = nexus_testkit::agents::images(set)
                .unwrap_or_else(|e| panic!("{e} (docker must work for the relayer tests)"));
            all.extend(map);
        }
        all
    })
}

pub struct Stack {
    pub devnet: Devnet,
    pub pg: Postgres,
    pub url: String,
    pub pool: PgPool,
    indexer: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Stack {
    /// Devnet + PostgreSQL + the indexer running over them.
    pub async fn start(db: &str) -> Stack {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("nexus_relayer=info")),
            )
            .with_test_writer()
            .try_init();
        // Build or find the images first: a failure here must not leave anvil running.
        let _ = images();
        let devnet = Devnet::start().await.expect("devnet");
        let pg = Postgres::start().expect("postgres");
        let url = pg.create_database(db).expect("createdb");
        let mut config = nexus_indexer::Config::local(devnet.deployments.clone(), devnet.rpc_url(), url.clone());
        config.poll_interval = Duration::from_millis(20);
        let mut indexer = nexus_indexer::Indexer::connect(config).await.expect("indexer");
        let pool = indexer.pool().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            indexer
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("indexer run");
        });
        Stack { devnet, pg, url, pool, indexer: Some((tx, handle)) }
    }

    pub fn relayer_config(&self) -> Config {
        let mut c = Config::local(
            self.devnet.deployments.clone(),
            self.devnet.rpc_url(),
            self.url.clone(),
            self.devnet.signer(1),
        );
        c.sweep_interval = Duration::from_millis(500);
        c
    }

    /// Starts a relayer; stop it with [`RunningRelayer::stop`].
    pub async fn relayer(&self, tweak: impl FnOnce(&mut Config)) -> RunningRelayer {
        let mut config = self.relayer_config();
        tweak(&mut config);
        let relayer = Relayer::connect(config).await.expect("relayer connect");
        let metrics = relayer.metrics();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            relayer
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("relayer run");
        });
        RunningRelayer { stop: Some(tx), handle: Some(handle), metrics }
    }

    /// Registers an agent for `image` (a name in [`images`]) and returns its id.
    pub async fn register(&self, image: &str, max_duration: u32) -> U256 {
        let id = images().get(image).unwrap_or_else(|| panic!("no image {image}"));
        let digest: B256 = id.trim_start_matches("sha256:").parse().expect("image id hex");
        self.register_digest(digest, max_duration).await
    }

    /// Like [`Stack::register`], with `metadata_uri` (e.g. a `data:` URI declaring an output
    /// schema, which the indexer resolves while indexing the registration).
    pub async fn register_with_metadata(&self, image: &str, max_duration: u32, metadata_uri: &str) -> U256 {
        let id = images().get(image).unwrap_or_else(|| panic!("no image {image}"));
        let digest: B256 = id.trim_start_matches("sha256:").parse().expect("image id hex");
        self.register_full(digest, max_duration, metadata_uri).await
    }

    pub async fn register_digest(&self, digest: B256, max_duration: u32) -> U256 {
        self.register_full(digest, max_duration, "ipfs://test").await
    }

    async fn register_full(&self, digest: B256, max_duration: u32, metadata_uri: &str) -> U256 {
        let d = &self.devnet.deployments.contracts;
        let registry = AgentRegistry::new(d.agent_registry, self.devnet.dev_provider(0));
        let params = IAgentRegistry::AgentParams {
            developer: self.devnet.signer(DEVELOPER).address(),
            paymentToken: d.usdc,
            price: Uint::from(PRICE),
            maxDuration: max_duration,
            category: Category::General.into(),
            imageDigest: digest,
            metadataURI: metadata_uri.into(),
        };
        let receipt =
            registry.registerAgent(params).send().await.expect("register").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "registerAgent reverted");
        registry.agentCount().call().await.expect("agentCount")
    }

    /// The buyer mints USDC, approves the marketplace and buys `units` credits of `agent`.
    pub async fn buy(&self, agent: U256, units: u64) -> U256 {
        let d = &self.devnet.deployments.contracts;
        let provider = self.devnet.dev_provider(BUYER);
        let buyer = self.buyer();
        let usdc = TestUSDC::new(d.usdc, provider.clone());
        let cost = U256::from(PRICE * units);
        usdc.mint(buyer, cost).send().await.expect("mint").get_receipt().await.expect("mint receipt");
        usdc.approve(d.agent_marketplace, cost).send().await.expect("approve").get_receipt().await.expect("receipt");
        let market = AgentMarketplace::new(d.agent_marketplace, provider);
        let r = market
            .purchase(agent, U256::from(units), U256::from(PRICE))
            .send()
            .await
            .expect("purchase")
            .get_receipt()
            .await
            .expect("r");
        assert!(r.status(), "purchase reverted");
        market.creditIdOf(agent, Uint::from(PRICE)).call().await.expect("creditIdOf")
    }

    /// Grants RELAYER_ROLE to `account` (from the admin, dev account 0).
    pub async fn grant_relayer(&self, account: Address) {
        let d = &self.devnet.deployments.contracts;
        let market = AgentMarketplace::new(d.agent_marketplace, self.devnet.dev_provider(0));
        let role = market.RELAYER_ROLE().call().await.expect("RELAYER_ROLE");
        let r = market.grantRole(role, account).send().await.expect("grant").get_receipt().await.expect("receipt");
        assert!(r.status(), "grantRole reverted");
    }

    pub fn buyer(&self) -> Address {
        self.devnet.signer(BUYER).address()
    }

    /// Stores `bytes` as a blob under their keccak256 (what the GraphQL upload does).
    pub async fn upload(&self, bytes: &[u8]) -> B256 {
        let hash = keccak256(bytes);
        self.insert_blob(hash, bytes).await;
        hash
    }

    /// Stores `bytes` under an arbitrary `hash` (to fake a corrupted blob).
    pub async fn insert_blob(&self, hash: B256, bytes: &[u8]) {
        sqlx::query("INSERT INTO blobs (hash, bytes, size) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(hash.to_vec())
            .bind(bytes)
            .bind(bytes.len() as i64)
            .execute(&self.pool)
            .await
            .expect("insert blob");
    }

    /// Sends `requestExecution` from the buyer; returns the request id.
    pub async fn request(&self, credit: U256, input_hash: B256) -> U256 {
        let d = &self.devnet.deployments.contracts;
        let market = AgentMarketplace::new(d.agent_marketplace, self.devnet.dev_provider(BUYER));
        let id = market.nextRequestId().call().await.expect("nextRequestId");
        let r =
            market.requestExecution(credit, input_hash).send().await.expect("request").get_receipt().await.expect("r");
        assert!(r.status(), "requestExecution reverted");
        id
    }

    /// `n` requests of the `echo` agent (registered for them), each returned once indexed, for
    /// tests that drive [`nexus_relayer::Chain`] without a running relayer.
    pub async fn echo_requests(&self, n: u64) -> Vec<nexus_relayer::db::Request> {
        let echo = self.register("echo", 60).await;
        let credit = self.buy(echo, n).await;
        let input = self.upload(br#"{"n": 1}"#).await;
        let mut requests = Vec::new();
        for _ in 0..n {
            let id = self.request(credit, input).await;
            requests.push(self.indexed(id, Duration::from_secs(90)).await);
        }
        requests
    }

    /// The relayer's chain side with the relayer key (dev account 1, which holds RELAYER_ROLE).
    pub fn chain(&self, config: nexus_relayer::ChainConfig) -> nexus_relayer::Chain {
        let d = &self.devnet.deployments.contracts;
        nexus_relayer::Chain::new(&self.devnet.rpc_url(), self.signer(1), d.agent_marketplace, d.agent_registry, config)
            .expect("chain")
    }

    /// Waits until the indexer has recorded `request`; returns it as the relayer reads it.
    pub async fn indexed(&self, request: U256, timeout: Duration) -> nexus_relayer::db::Request {
        let start = Instant::now();
        loop {
            if let Some(r) = nexus_relayer::db::request(&self.pool, request).await.expect("request") {
                return r;
            }
            assert!(start.elapsed() < timeout, "request {request} never indexed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the indexed execution is no longer `Requested`; returns (status, output hash).
    pub async fn settled(&self, request: U256, timeout: Duration) -> (String, Option<B256>) {
        let start = Instant::now();
        loop {
            let row: Option<(String, Option<Vec<u8>>)> =
                sqlx::query_as("SELECT status, output_hash::bytea FROM executions WHERE request_id = $1::numeric")
                    .bind(request.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .expect("execution");
            if let Some((status, out)) = row
                && status != "Requested"
            {
                return (status, out.map(|b| B256::from_slice(&b)));
            }
            assert!(start.elapsed() < timeout, "request {request} not settled within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn withdrawable(&self, account: Address) -> U256 {
        let d = &self.devnet.deployments.contracts;
        let market = AgentMarketplace::new(d.agent_marketplace, self.devnet.dev_provider(0));
        market.withdrawable(d.usdc, account).call().await.expect("withdrawable")
    }

    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        self.devnet.signer(i)
    }

    /// Ids of this stack's running containers for `request` (found by the relayer's labels).
    pub fn running_containers(&self, request: U256) -> Vec<String> {
        use nexus_relayer::docker::{LABEL_REQUEST, LABEL_SCOPE, scope};
        let out = std::process::Command::new("docker")
            .args(["ps", "-q", "--filter", "status=running"])
            .args(["--filter", &format!("label={LABEL_SCOPE}={}", scope(&self.url))])
            .args(["--filter", &format!("label={LABEL_REQUEST}={request}")])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
    }

    /// Waits until a container of `request` runs.
    pub async fn wait_running(&self, request: U256, timeout: Duration) {
        let started = Instant::now();
        while self.running_containers(request).is_empty() {
            assert!(started.elapsed() < timeout, "no container ran for request {request}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn head(&self) -> u64 {
        self.devnet.dev_provider(0).get_block_number().await.expect("head")
    }

    pub async fn stop(mut self) {
        if let Some((tx, handle)) = self.indexer.take() {
            let _ = tx.send(());
            let _ = handle.await;
        }
    }
}

pub struct RunningRelayer {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    pub metrics: std::sync::Arc<nexus_relayer::Metrics>,
}

impl RunningRelayer {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("relayer task");
        }
    }
}

/// The summarizer's example input.
pub fn summarizer_input() -> Vec<u8> {
    std::fs::read(repo_root().join("agents/summarizer/example.json")).expect("summarizer example")
}
