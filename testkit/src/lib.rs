//! Local-chain harness shared by every AgentNexus test, benchmark and measurement.
//!
//! A [`Devnet`] is a private anvil plus the contracts deployed by the *real* deploy script
//! (`script/Deploy.s.sol` through `forge script`), so tests exercise exactly what `make dev`
//! deploys. The Foundry binaries come from `node_modules` (`make setup` installs them); nothing
//! here downloads anything.
//!
//! Each devnet writes its deployments file into its own temporary directory under
//! `target/devnets/`, so any number of devnets can run side by side.
//!
//! [`Postgres`] is the database half: a private PostgreSQL cluster per test (initdb into
//! `target/postgres/`, a free port, stopped and deleted on drop), so tests that need the shared
//! schema get a real server with no shared state.
//!
//! [`agents`] builds and finds the agent images; [`seed_catalog`] lists them the way `make dev`
//! does (`script/Seed.s.sol`), so the end-to-end test runs the catalog a user sees.

pub mod agents;
pub mod bundler;
pub mod load;
pub mod postgres;
pub mod rng;

pub use postgres::{Postgres, PostgresError};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance, NodeError};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use nexus_bindings::{Deployments, DeploymentsError};
use tokio::sync::Mutex;

/// Why a devnet could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("{tool} not found at {path}: run `make setup` first")]
    MissingTool { tool: &'static str, path: PathBuf },
    #[error("anvil failed to start: {0}")]
    Anvil(#[from] NodeError),
    #[error("cannot run forge: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("{script} failed ({status}):\n{output}")]
    Script { script: String, status: std::process::ExitStatus, output: String },
    #[error("the deploy script did not write {0}")]
    NoDeployments(PathBuf),
    #[error(transparent)]
    Deployments(#[from] DeploymentsError),
}

/// The repository root (the workspace root, one level above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_owned).unwrap_or_else(|| PathBuf::from("."))
}

/// Path to a Foundry binary installed by npm (`@foundry-rs/<tool>`).
pub fn foundry_tool(tool: &'static str) -> Result<PathBuf, TestkitError> {
    let path = repo_root().join("node_modules").join(".bin").join(tool);
    if path.exists() { Ok(path) } else { Err(TestkitError::MissingTool { tool, path }) }
}

/// The deploy script is serialised within a process: concurrent `forge script` runs would race
/// on forge's compilation cache and broadcast logs.
static DEPLOY_LOCK: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// A private anvil with the AgentNexus contracts deployed. Dropping it stops anvil.
pub struct Devnet {
    anvil: AnvilInstance,
    pub deployments: Deployments,
    _workdir: tempfile::TempDir,
}

impl Devnet {
    /// Starts anvil on a free port (automine) and deploys with the script's local defaults.
    pub async fn start() -> Result<Self, TestkitError> {
        Self::start_with(Anvil::new()).await
    }

    /// Like [`Devnet::start`], with extra anvil options (block time, chain id, ...).
    pub async fn start_with(anvil: Anvil) -> Result<Self, TestkitError> {
        let anvil = anvil.path(foundry_tool("anvil")?).try_spawn()?;
        // Under target/: the only place besides deployments/ that foundry.toml lets scripts write.
        let devnets = repo_root().join("target").join("devnets");
        std::fs::create_dir_all(&devnets)?;
        let workdir = tempfile::tempdir_in(devnets)?;
        let deployments_path = workdir.path().join("deployments.json");
        deploy(&anvil.endpoint(), &deployments_path, &[]).await?;
        let deployments = Deployments::load_for_chain(&deployments_path, anvil.chain_id())?;
        Ok(Self { anvil, deployments, _workdir: workdir })
    }

    /// The deployments file the deploy script wrote for this devnet (what `nexus --deployments`
    /// takes).
    pub fn deployments_path(&self) -> PathBuf {
        self._workdir.path().join("deployments.json")
    }

    /// HTTP JSON-RPC endpoint.
    pub fn rpc_url(&self) -> String {
        self.anvil.endpoint()
    }

    /// WebSocket JSON-RPC endpoint.
    pub fn ws_url(&self) -> String {
        self.anvil.ws_endpoint()
    }

    /// A provider that signs with `signer` (nonces and gas filled in by alloy).
    pub fn provider(&self, signer: PrivateKeySigner) -> DynProvider {
        let url = self.anvil.endpoint_url();
        ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased()
    }

    /// The signer of anvil dev account `index` (0..10, each funded with 10,000 ETH). The deploy
    /// script's local defaults give roles to the first three: 0 deployer, admin and curator;
    /// 1 relayer; 2 treasury. The rest are free for tests.
    pub fn signer(&self, index: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[index].clone())
    }

    /// A provider for anvil dev account `index`.
    pub fn dev_provider(&self, index: usize) -> DynProvider {
        self.provider(self.signer(index))
    }

    /// Lists an agent from the curator (dev account 0) with a placeholder image digest, priced
    /// `price` base units of `token` (`Address::ZERO`: ETH), and returns its id: the one-agent
    /// catalog most chain tests start from.
    pub async fn register_agent(
        &self,
        developer: alloy::primitives::Address,
        token: alloy::primitives::Address,
        price: u64,
        metadata_uri: &str,
    ) -> anyhow::Result<alloy::primitives::U256> {
        use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
        let params = IAgentRegistry::AgentParams {
            developer,
            paymentToken: token,
            price: alloy::primitives::Uint::from(price),
            maxDuration: 60,
            category: nexus_bindings::agent::Category::General.into(),
            imageDigest: alloy::primitives::B256::repeat_byte(0x11),
            metadataURI: metadata_uri.to_owned(),
        };
        let registry = AgentRegistry::new(self.deployments.contracts.agent_registry, self.dev_provider(0));
        let receipt = registry.registerAgent(params).send().await?.get_receipt().await?;
        let registered = receipt
            .decoded_log::<AgentRegistry::AgentRegistered>()
            .ok_or_else(|| anyhow::anyhow!("no AgentRegistered log"))?;
        Ok(registered.agentId)
    }
}

/// Runs `script/Deploy.s.sol` against `rpc_url`, writing the deployments file to `out`.
/// `env` adds or overrides the script's environment variables (see the script's NatSpec).
pub async fn deploy(rpc_url: &str, out: &Path, env: &[(&str, &str)]) -> Result<(), TestkitError> {
    let mut env = env.to_vec();
    let out_text = out.display().to_string();
    env.push(("DEPLOYMENTS_OUT", &out_text));
    forge_script("script/Deploy.s.sol", rpc_url, &env).await?;
    // forge can exit 0 yet not write the file (a path outside foundry.toml's fs_permissions only
    // prints an error), so a missing file is a failure too.
    if !out.exists() {
        return Err(TestkitError::NoDeployments(out.to_path_buf()));
    }
    Ok(())
}

/// One catalog agent for [`seed_catalog`]: its directory under `agents/`, image id, USDC price.
pub struct CatalogAgent<'a> {
    pub name: &'a str,
    pub image_id: &'a str,
    pub price: u64,
}

/// Lists `agents` in `devnet`'s registry with `script/Seed.s.sol`, exactly as `make dev` does
/// (metadata inlined, priced in USDC, developer anvil account 4), which also mints the demo buyer
/// (anvil account 5) its test USDC. `env` adds or overrides the script's variables.
pub async fn seed_catalog(
    devnet: &Devnet,
    agents: &[CatalogAgent<'_>],
    env: &[(&str, &str)],
) -> Result<(), TestkitError> {
    let join = |f: &dyn Fn(&CatalogAgent) -> String| agents.iter().map(f).collect::<Vec<_>>().join(",");
    let names = join(&|a| a.name.to_string());
    let digests = join(&|a| format!("0x{}", a.image_id.trim_start_matches("sha256:")));
    let prices = join(&|a| a.price.to_string());
    let deployments = devnet.deployments_path().display().to_string();
    let mut vars = vec![
        ("NEXUS_DEPLOYMENTS", deployments.as_str()),
        ("NEXUS_SEED_AGENTS", names.as_str()),
        ("NEXUS_SEED_DIGESTS", digests.as_str()),
        ("NEXUS_SEED_PRICES", prices.as_str()),
    ];
    vars.extend_from_slice(env);
    forge_script("script/Seed.s.sol", &devnet.rpc_url(), &vars).await
}

/// `forge script <script> --broadcast` against `rpc_url` from the repository root.
async fn forge_script(script: &str, rpc_url: &str, env: &[(&str, &str)]) -> Result<(), TestkitError> {
    let forge = foundry_tool("forge")?;
    let _guard = DEPLOY_LOCK.lock().await;
    let output = tokio::process::Command::new(forge)
        .current_dir(repo_root())
        .args(["script", script, "--rpc-url", rpc_url, "--broadcast", "--non-interactive"])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(TestkitError::Script { script: script.to_string(), status: output.status, output: text });
    }
    Ok(())
}
