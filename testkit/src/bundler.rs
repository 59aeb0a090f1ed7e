//! A real ERC-4337 bundler for tests: Pimlico's Alto (npm `@pimlico/alto`, pinned in
//! package.json) against a [`Devnet`].
//!
//! Why a real bundler and not a fake: what a bundler refuses (ERC-7562 rules, gas and fee floors,
//! the EntryPoint's AAxy errors from its simulation) is exactly what the account, the paymaster
//! and the client must get right; a fake would only echo our own assumptions.
//!
//! Alto listens on all interfaces, so every instance gets a free port and is killed when the
//! [`Alto`] value is dropped (`kill_on_drop` plus an explicit kill). Its log goes to a file in a
//! temporary directory; startup failures quote its tail.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, hex};
use alloy::providers::{Provider, ProviderBuilder};
use tokio::process::{Child, Command};

use crate::{Devnet, repo_root};

/// Anvil dev accounts Alto signs with: 8 submits bundles (executor), 9 refills executors
/// (utility). Accounts 0–3 hold the deploy script's roles, and tests use the low free ones, so the
/// bundler takes the top of the range to stay out of every test's nonce sequence.
pub const EXECUTOR_ACCOUNT: usize = 8;
/// See [`EXECUTOR_ACCOUNT`].
pub const UTILITY_ACCOUNT: usize = 9;

/// How long Alto may take to answer its first request. It deploys its simulations contract and
/// loads a large JavaScript bundle first: about 3 s on these 2-core machines; 60 s leaves room for
/// a loaded machine without hanging a broken test forever.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Why Alto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AltoError {
    #[error("Alto not installed at {0}: run `make setup` (npm install) first")]
    Missing(PathBuf),
    #[error("the devnet has no EntryPoint in its deployments")]
    NoEntryPoint,
    #[error("cannot run Alto: {0}")]
    Io(#[from] std::io::Error),
    #[error("Alto exited during startup ({status}); log tail:\n{log}")]
    Exited { status: std::process::ExitStatus, log: String },
    #[error("Alto did not answer within {timeout:?}; log tail:\n{log}")]
    Timeout { timeout: Duration, log: String },
}

/// A running Alto bundler. Dropping it kills the process.
pub struct Alto {
    child: Child,
    port: u16,
    entry_point: Address,
    log_path: PathBuf,
    _workdir: tempfile::TempDir,
}

impl Alto {
    /// Starts Alto for `devnet`'s EntryPoint with automatic bundling and waits until it answers.
    pub async fn start(devnet: &Devnet) -> Result<Self, AltoError> {
        let entry_point = devnet.deployments.contracts.entry_point.ok_or(AltoError::NoEntryPoint)?;
        let script = repo_root().join("node_modules/@pimlico/alto/esm/cli/alto.js");
        if !script.exists() {
            return Err(AltoError::Missing(script));
        }
        let dir = repo_root().join("target").join("alto");
        std::fs::create_dir_all(&dir)?;
        let workdir = tempfile::tempdir_in(dir)?;
        let log_path = workdir.path().join("alto.log");
        let log = std::fs::File::create(&log_path)?;
        let port = free_port()?;
        let key = |i: usize| format!("0x{}", hex::encode(devnet.signer(i).to_bytes()));
        let child = Command::new("node")
            .current_dir(repo_root())
            .arg(&script)
            .args(["--entrypoints", &entry_point.to_string()])
            .args(["--rpc-url", &devnet.rpc_url()])
            .args(["--executor-private-keys", &key(EXECUTOR_ACCOUNT)])
            .args(["--utility-private-key", &key(UTILITY_ACCOUNT)])
            .args(["--safe-mode", "false"])
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let mut alto = Self { child, port, entry_point, log_path, _workdir: workdir };
        alto.wait_ready().await?;
        Ok(alto)
    }

    async fn wait_ready(&mut self) -> Result<(), AltoError> {
        let start = Instant::now();
        let provider = ProviderBuilder::new().connect_http(self.url().parse().map_err(std::io::Error::other)?);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(AltoError::Exited { status, log: self.log_tail() });
            }
            if provider.raw_request::<_, Vec<Address>>("eth_supportedEntryPoints".into(), [(); 0]).await.is_ok() {
                return Ok(());
            }
            if start.elapsed() > STARTUP_TIMEOUT {
                return Err(AltoError::Timeout { timeout: STARTUP_TIMEOUT, log: self.log_tail() });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bundler's JSON-RPC endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The EntryPoint it bundles for.
    pub fn entry_point(&self) -> Address {
        self.entry_point
    }

    /// The last lines of Alto's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Alto {
    fn drop(&mut self) {
        // kill_on_drop also does this, but only once the Child is dropped; killing here first
        // frees the port before the devnet (usually dropped next) goes away.
        let _ = self.child.start_kill();
    }
}

/// A port that was free a moment ago (bound and released; Alto takes it right after).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Registers a USDC-priced agent (`price` in 6-decimal base units) from the deployer (dev account
/// 0, the curator) and returns its id: what every gasless-flow test and measurement buys, since an
/// account without ETH can only pay in USDC.
pub async fn register_usdc_agent(devnet: &Devnet, price: u64) -> anyhow::Result<alloy::primitives::U256> {
    let developer = alloy::primitives::address!("00000000000000000000000000000000000000a1");
    devnet.register_agent(developer, devnet.deployments.contracts.usdc, price, "data:application/json,{}").await
}

/// Mints `amount` of the devnet's USDC (6-decimal base units) to `to`: how a gasless-flow
/// account is funded, since it never holds ETH.
pub async fn mint_usdc(devnet: &Devnet, to: alloy::primitives::Address, amount: u64) -> anyhow::Result<()> {
    let usdc = nexus_bindings::TestUSDC::new(devnet.deployments.contracts.usdc, devnet.dev_provider(0));
    usdc.mint(to, alloy::primitives::U256::from(amount)).send().await?.get_receipt().await?;
    Ok(())
}

/// Deploys `owner`'s NexusAccount (at `salt`) the only way the factory allows: through the
/// EntryPoint's SenderCreator, as the `initCode` of a user operation. The operation (an empty
/// `executeBatch`, owner-signed, no paymaster) goes straight to `EntryPoint.handleOps` from dev
/// account `submitter`, which first sends the counterfactual account the ETH for its own prefund:
/// for tests that need an account on-chain without running a bundler. Returns its address.
pub async fn deploy_account(
    devnet: &Devnet,
    owner: &alloy::signers::local::PrivateKeySigner,
    salt: alloy::primitives::U256,
    submitter: usize,
) -> anyhow::Result<Address> {
    use alloy::network::TransactionBuilder;
    use alloy::primitives::{B256, Bytes, U256};
    use alloy::signers::SignerSync;
    use alloy::sol_types::SolCall;
    use nexus_bindings::entry_point::IEntryPoint::PackedUserOperation;
    use nexus_bindings::{IEntryPoint, NexusAccount, NexusAccountFactory};

    let contracts = &devnet.deployments.contracts;
    let entry_point = contracts.entry_point.ok_or(AltoError::NoEntryPoint)?;
    let factory = contracts.nexus_account_factory.ok_or_else(|| anyhow::anyhow!("no NexusAccountFactory"))?;
    let provider = devnet.dev_provider(submitter);
    let sender = NexusAccountFactory::new(factory, &provider).getAddress(owner.address(), salt).call().await?;

    // Gas limits far above what a deployment needs; the unused part of the prefund stays in the
    // account's EntryPoint deposit.
    let (verification, call, pre_verification, fee) = (1_000_000u128, 100_000u128, 100_000u128, 10_000_000_000u128);
    let prefund = U256::from((verification + call + pre_verification) * fee);
    let fund = alloy::rpc::types::TransactionRequest::default().with_to(sender).with_value(prefund);
    provider.send_transaction(fund).await?.get_receipt().await?;

    let create = NexusAccountFactory::createAccountCall { owner: owner.address(), salt }.abi_encode();
    let word = |high: u128, low: u128| B256::from((U256::from(high) << 128) | U256::from(low));
    let mut op = PackedUserOperation {
        sender,
        nonce: U256::ZERO,
        initCode: [factory.as_slice(), &create].concat().into(),
        callData: NexusAccount::executeBatchCall { calls: Vec::new() }.abi_encode().into(),
        accountGasLimits: word(verification, call),
        preVerificationGas: U256::from(pre_verification),
        gasFees: word(fee, fee),
        paymasterAndData: Bytes::new(),
        signature: Bytes::new(),
    };
    let entry = IEntryPoint::new(entry_point, &provider);
    let hash = entry.getUserOpHash(op.clone()).call().await?;
    // Owner mode: 0x00 ‖ the owner's 65-byte signature of the userOpHash.
    let signature = owner.sign_hash_sync(&hash)?;
    op.signature = [&[0u8][..], &signature.as_bytes()].concat().into();
    let beneficiary = devnet.signer(submitter).address();
    let receipt = entry.handleOps(vec![op], beneficiary).send().await?.get_receipt().await?;
    anyhow::ensure!(receipt.status(), "handleOps deploying {sender} failed");
    anyhow::ensure!(!provider.get_code_at(sender).await?.is_empty(), "no code at {sender} after handleOps");
    Ok(sender)
}
