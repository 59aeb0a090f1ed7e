//! Agent binary tests against the sandbox, through the real egress proxy.
//!
//! [`AgentNet`] starts a [`Sandbox`] and one egress [`Session`](nexus_egress::Session) whose
//! policy is the agent's own `metadata.json` `network` section, on a Unix socket the test hands
//! to the agent binary (`NEXUS_EGRESS_SOCKET`). The agent names the real services
//! (`https://api.hyperliquid.xyz`, ...) exactly as in production; operator routes send those
//! origins to the sandbox upstreams, as `make dev`'s relayer config does. So an agent test
//! proves three things at once: the agent speaks the API's documented format, its curated
//! policy allows exactly what it needs, and the key injection it declares works.
//!
//! Synchronous on purpose: agent tests are plain `#[test]`s running a process; the harness owns
//! a small tokio runtime for the sandbox and the proxy, dropped (with them) last.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use nexus_egress::{
    Budget, CallRecord, Egress, EgressConfig, Policy, PolicyError, Routes, SecretValue, Secrets, SystemResolver,
};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::{Sandbox, SandboxConfig, SandboxError};

/// The secret name chat-completions agents declare for the operator's key.
pub const OPENAI_SECRET: &str = "openai";

/// The real origins routed to each sandbox upstream by default.
pub const HYPERLIQUID_ORIGINS: [&str; 2] = ["https://api.hyperliquid.xyz", "https://api.hyperliquid-testnet.xyz"];
pub const OPENAI_ORIGIN: &str = "https://api.openai.com";
pub const METEO_ORIGIN: &str = "https://api.open-meteo.com";
pub const WIKIPEDIA_ORIGIN: &str = "https://en.wikipedia.org";
/// The publishers whose feed paths the feeds upstream serves ([`crate::feeds::REAL_PATHS`]).
pub const FEED_ORIGINS: [&str; 3] =
    ["https://feeds.bbci.co.uk", "https://www.coindesk.com", "https://www.theverge.com"];

/// A sandbox upstream, as the destination of a route added with [`AgentNetBuilder::route_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxUpstream {
    Hyperliquid,
    OpenAi,
    Feeds,
    Meteo,
    Pages,
}

impl SandboxUpstream {
    fn of(self, sandbox: &Sandbox) -> &crate::Upstream {
        match self {
            Self::Hyperliquid => &sandbox.hyperliquid,
            Self::OpenAi => &sandbox.openai,
            Self::Feeds => &sandbox.feeds,
            Self::Meteo => &sandbox.meteo,
            Self::Pages => &sandbox.pages,
        }
    }
}

/// Why the harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("the metadata's network section: {0}")]
    Policy(#[from] PolicyError),
    #[error("route: {0}")]
    Route(#[from] nexus_egress::OriginError),
    #[error("egress: {0}")]
    Egress(String),
    #[error("egress socket: {0}")]
    Socket(#[source] std::io::Error),
}

/// What to start; see [`AgentNet::builder`].
#[derive(Debug, Clone)]
pub struct AgentNetBuilder {
    network: serde_json::Value,
    sandbox: SandboxConfig,
    routes: Vec<(String, Destination)>,
    secrets: Vec<(String, String)>,
    budget: Budget,
}

/// Where an added route goes: a fixed origin, or a sandbox upstream (whose port is only known
/// once it has started).
#[derive(Debug, Clone)]
enum Destination {
    Origin(String),
    Sandbox(SandboxUpstream),
}

impl AgentNetBuilder {
    /// The sandbox's data (seed, accounts, the chat key).
    pub fn sandbox(mut self, config: SandboxConfig) -> Self {
        self.sandbox = config;
        self
    }

    /// Routes `from` (a real origin the agent names) to `to` (e.g. anvil's `http://127.0.0.1:8545`
    /// or a test server). Added after, and winning over, the default routes.
    pub fn route(mut self, from: &str, to: &str) -> Self {
        self.routes.push((from.to_owned(), Destination::Origin(to.to_owned())));
        self
    }

    /// Routes `from` to one of the sandbox's own upstreams (e.g. a test-only publisher to the
    /// feeds upstream).
    pub fn route_to(mut self, from: &str, to: SandboxUpstream) -> Self {
        self.routes.push((from.to_owned(), Destination::Sandbox(to)));
        self
    }

    /// An operator secret in addition to [`OPENAI_SECRET`].
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The operator's budget ceiling (the metadata may ask for less).
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    pub fn start(self) -> Result<AgentNet, HarnessError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(HarnessError::Runtime)?;
        let sandbox = runtime.block_on(Sandbox::start(self.sandbox.clone()))?;

        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut default = |origin: &str, to: SandboxUpstream| {
            pairs.push((origin.to_owned(), to.of(&sandbox).base_url.clone()));
        };
        for origin in HYPERLIQUID_ORIGINS {
            default(origin, SandboxUpstream::Hyperliquid);
        }
        default(OPENAI_ORIGIN, SandboxUpstream::OpenAi);
        default(METEO_ORIGIN, SandboxUpstream::Meteo);
        default(WIKIPEDIA_ORIGIN, SandboxUpstream::Pages);
        for origin in FEED_ORIGINS {
            default(origin, SandboxUpstream::Feeds);
        }
        for (from, to) in self.routes {
            let to = match to {
                Destination::Origin(origin) => origin,
                Destination::Sandbox(upstream) => upstream.of(&sandbox).base_url.clone(),
            };
            pairs.push((from, to));
        }
        let routes = Routes::parse(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))?;

        let mut secrets = Secrets::default();
        secrets.insert(OPENAI_SECRET, SecretValue::new(format!("Bearer {}", self.sandbox.openai_api_key)));
        for (name, value) in self.secrets {
            secrets.insert(name, SecretValue::new(value));
        }
        let config = EgressConfig {
            budget: self.budget,
            allow_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            extra_roots: Vec::new(),
            secrets,
            routes,
        };
        let egress = Egress::new(config, Arc::new(SystemResolver)).map_err(|e| HarnessError::Egress(e.to_string()))?;
        let policy = Policy::from_json(&self.network)?;
        let (tx, mut rx) = mpsc::channel(1024);
        let session = egress.session(policy, tx).map_err(|e| HarnessError::Egress(e.to_string()))?;

        let dir = tempfile::tempdir().map_err(HarnessError::Socket)?;
        let socket = dir.path().join("egress.sock");
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(&socket).map_err(HarnessError::Socket)?
        };
        runtime.spawn(session.serve(listener));
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = records.clone();
        runtime.spawn(async move {
            while let Some(record) = rx.recv().await {
                sink.lock().unwrap_or_else(PoisonError::into_inner).push(record);
            }
        });
        Ok(AgentNet { sandbox: Some(sandbox), socket, records, _dir: dir, runtime: Some(runtime) })
    }
}

/// A sandbox and an egress session for one agent test. Dropping it stops both.
pub struct AgentNet {
    sandbox: Option<Sandbox>,
    socket: PathBuf,
    records: Arc<Mutex<Vec<CallRecord>>>,
    _dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
}

impl AgentNet {
    /// The sandbox with default data and a session for `metadata["network"]`.
    pub fn start(metadata: &serde_json::Value) -> Result<AgentNet, HarnessError> {
        Self::builder(metadata).start()
    }

    pub fn builder(metadata: &serde_json::Value) -> AgentNetBuilder {
        AgentNetBuilder {
            network: metadata.get("network").cloned().unwrap_or(serde_json::Value::Null),
            sandbox: SandboxConfig::default(),
            routes: Vec::new(),
            secrets: Vec::new(),
            budget: Budget::default(),
        }
    }

    /// The socket to give the agent as `NEXUS_EGRESS_SOCKET`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Every call the proxy recorded so far (a record lands when its response ends).
    pub fn records(&self) -> Vec<CallRecord> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The records once there are at least `n`, or whatever there is after 5 s. The proxy
    /// records a call when its response has ended, which may be just after the agent read it
    /// and exited, so a test right after the agent's exit waits here instead of sleeping.
    pub fn records_at_least(&self, n: usize) -> Vec<CallRecord> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let records = self.records();
            if records.len() >= n || std::time::Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        // Only `Drop` takes it.
        self.sandbox.as_ref().unwrap_or_else(|| unreachable!("the sandbox lives until drop"))
    }

    /// Runs `future` on the harness' runtime (e.g. a test's own async setup).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => unreachable!("the runtime lives until drop"),
        }
    }
}

impl Drop for AgentNet {
    fn drop(&mut self) {
        // The sandbox's servers first, inside the runtime, then the runtime without waiting.
        if let Some(runtime) = self.runtime.take() {
            let _guard = runtime.enter();
            self.sandbox.take();
            drop(_guard);
            runtime.shutdown_background();
        }
    }
}
