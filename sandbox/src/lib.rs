//! Sandbox upstreams: small local HTTP servers that speak the documented request and response
//! formats of the external APIs AgentNexus agents call (issue 15), so tests and `make dev` run
//! without the internet. Agents are written against the real APIs; pointing one at the real
//! host is a configuration change.
//!
//! Each upstream listens on its own port (own base URL), so an egress policy that lists
//! `(host, port, path prefix)` can allow one of them and refuse the others, as it would with
//! distinct real hosts. One shared router was rejected for that reason.
//!
//! - [`hyperliquid`]: `POST /info` (market data, account state) and `POST /exchange` (signed
//!   `order` actions, signature verified per the L1-action scheme, actions recorded).
//! - [`openai`]: `POST /v1/chat/completions` with bearer-key check and a documented,
//!   deterministic answer.
//! - [`feeds`]: RSS 2.0 and Atom 1.0 feeds with overlapping stories, plus a malformed one.
//! - [`meteo`]: Open-Meteo `GET /v1/forecast`.
//! - [`pages`]: Wikipedia-style article pages `GET /wiki/<Title>` (the summarizer's URL mode).
//!
//! [`harness::AgentNet`] puts the real egress proxy in front of the sandbox for agent binary
//! tests (the agent names the real hosts; operator routes send them here).
//!
//! All data is generated from [`SandboxConfig::seed`] and [`SandboxConfig::now_ms`] (no wall
//! clock), so two sandboxes with the same config answer byte-for-byte alike.

pub mod feeds;
pub mod harness;
pub mod hyperliquid;
pub mod meteo;
pub mod openai;
pub mod pages;
mod rng;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use hyperliquid::{HyperliquidAccount, RecordedAction};

/// Everything the sandbox's answers depend on.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address every upstream binds (loopback by default).
    pub bind: IpAddr,
    /// Fixed ports (`0` = any free port, what tests use).
    pub ports: Ports,
    /// Seed of every generated value.
    pub seed: u64,
    /// The sandbox's "now" in Unix milliseconds: the newest candle, the book's `time`, the
    /// forecast's first day and the feeds' dates derive from it instead of the wall clock.
    pub now_ms: u64,
    /// The key `/v1/chat/completions` accepts as `Authorization: Bearer <key>`.
    pub openai_api_key: String,
    /// Context window of the chat model: prompts estimated above it get
    /// `context_length_exceeded`.
    pub openai_max_context_tokens: u64,
    /// Whether `/exchange` verifies signatures as mainnet (phantom agent source `"a"`) or
    /// testnet (`"b"`).
    pub hyperliquid_mainnet: bool,
    /// Accounts `clearinghouseState` knows and `/exchange` accepts signatures from.
    pub hyperliquid_accounts: Vec<HyperliquidAccount>,
}

/// Port of each upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    pub hyperliquid: u16,
    pub openai: u16,
    pub feeds: u16,
    pub meteo: u16,
    pub pages: u16,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::default(),
            seed: 15,
            // 2026-12-07T00:00:00Z.
            now_ms: 1_796_601_600_000,
            openai_api_key: "sk-sandbox".to_owned(),
            openai_max_context_tokens: 8192,
            hyperliquid_mainnet: false,
            hyperliquid_accounts: Vec::new(),
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("binding the {upstream} upstream to {addr}")]
    Bind {
        upstream: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// `http://addr` without a trailing slash.
    pub base_url: String,
}

/// The running sandbox. Dropping it stops every upstream.
#[derive(Debug)]
pub struct Sandbox {
    pub hyperliquid: Upstream,
    pub openai: Upstream,
    pub feeds: Upstream,
    pub meteo: Upstream,
    pub pages: Upstream,
    hyperliquid_state: Arc<hyperliquid::State>,
    /// The servers; a `JoinSet` aborts them when dropped, which is what stops the sandbox.
    tasks: JoinSet<()>,
}

impl Sandbox {
    /// Binds and starts the upstreams.
    pub async fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        let config = Arc::new(config);
        let hyperliquid_state = Arc::new(hyperliquid::State::new(config.clone()));
        let mut tasks = JoinSet::new();
        let ports = config.ports;
        let hyperliquid = serve(
            &mut tasks,
            "hyperliquid",
            SocketAddr::new(config.bind, ports.hyperliquid),
            hyperliquid::router(hyperliquid_state.clone()),
        )
        .await?;
        let openai =
            serve(&mut tasks, "openai", SocketAddr::new(config.bind, ports.openai), openai::router(config.clone()))
                .await?;
        let feeds =
            serve(&mut tasks, "feeds", SocketAddr::new(config.bind, ports.feeds), feeds::router(config.clone()))
                .await?;
        let meteo =
            serve(&mut tasks, "meteo", SocketAddr::new(config.bind, ports.meteo), meteo::router(config.clone()))
                .await?;
        let pages = serve(&mut tasks, "pages", SocketAddr::new(config.bind, ports.pages), pages::router()).await?;
        Ok(Self { hyperliquid, openai, feeds, meteo, pages, hyperliquid_state, tasks })
    }

    /// Every action `/exchange` received, in arrival order (valid or not), so tests can assert
    /// on what an agent or the CLI submitted.
    pub fn hyperliquid_actions(&self) -> Vec<RecordedAction> {
        self.hyperliquid_state.recorded()
    }

    /// Waits until the first upstream stops (a server only stops on an error, logged by its
    /// task): the binary's main loop.
    pub async fn wait(mut self) {
        if let Some(Err(error)) = self.tasks.join_next().await {
            tracing::error!(%error, "sandbox upstream task failed");
        }
    }
}

async fn serve(
    tasks: &mut JoinSet<()>,
    upstream: &'static str,
    addr: SocketAddr,
    router: Router,
) -> Result<Upstream, SandboxError> {
    let bind_error = |source| SandboxError::Bind { upstream, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    tasks.spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(upstream, %error, "sandbox upstream stopped");
        }
    });
    tracing::info!(upstream, %addr, "sandbox upstream listening");
    Ok(Upstream { addr, base_url: format!("http://{addr}") })
}
