//! Event load for benchmarks and stress tests: many real marketplace events per transaction.
//!
//! [`EventLoad`] deploys the test-only `BenchDriver` contract (`test/bench/BenchDriver.sol`,
//! compiled by `forge build` into `out/`), registers a USDC-priced agent for it and grants it the
//! relayer role, so one `run(agentId, n)` transaction performs `n` buy → request → settle loops
//! through the real contracts: [`EVENTS_PER_ITERATION`] indexed events each. That is how a chain
//! with 100,000 events is built in seconds instead of 40,000 separate transactions.

use std::sync::atomic::{AtomicU64, Ordering};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, Uint};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::SolValue;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::agent::Category;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};

use crate::{Devnet, repo_root};

sol! {
    #[sol(rpc)]
    contract BenchDriver {
        function run(uint256 agentId, uint256 iterations) external;
    }
}

/// Events one loop iteration emits from the indexed contracts: Purchased, TransferSingle (mint),
/// TransferSingle (burn), ExecutionRequested, ExecutionSettled.
pub const EVENTS_PER_ITERATION: u64 = 5;

/// Gas for one iteration with a wide margin (about 180k are used once storage is warm) and for
/// the transaction's fixed part. Setting the limit ourselves spares an `eth_estimateGas`, which
/// executes the whole loop a dozen times.
const GAS_PER_ITERATION: u64 = 280_000;
const GAS_BASE: u64 = 100_000;

/// Iterations per transaction: inside anvil's 30M block gas limit, and using less than the
/// 15M EIP-1559 target, so the base fee does not climb block after block while the load runs.
pub const MAX_ITERATIONS_PER_TX: u64 = 80;

/// The dev account that sends the driver's transactions; nobody else uses it, so its nonce can
/// be tracked here instead of asked for before every transaction.
const SENDER: usize = 9;

/// Far above anvil's base fee, which starts at 1 gwei and does not rise under this load (see
/// [`MAX_ITERATIONS_PER_TX`]); only the base fee is charged.
const MAX_FEE_PER_GAS: u128 = 1_000_000_000_000;

/// Why the load could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the BenchDriver artifact {path} (run `forge build`): {reason}")]
    Artifact { path: String, reason: String },
    #[error("transaction failed: {0}")]
    Transaction(String),
}

fn tx_err(e: impl std::fmt::Display) -> LoadError {
    LoadError::Transaction(e.to_string())
}

/// A deployed BenchDriver with its own agent.
pub struct EventLoad {
    driver: BenchDriver::BenchDriverInstance<DynProvider>,
    agent_id: U256,
    nonce: AtomicU64,
}

impl EventLoad {
    /// Deploys the driver from dev account 0 (admin and curator in the local deployment),
    /// registers its agent and grants it the relayer role.
    pub async fn deploy(devnet: &Devnet) -> Result<Self, LoadError> {
        let provider = devnet.dev_provider(0);
        let contracts = &devnet.deployments.contracts;
        let code = driver_bytecode()?;
        let args = (contracts.agent_marketplace, contracts.agent_registry).abi_encode_params();
        let deploy = TransactionRequest::default().with_deploy_code([code.as_ref(), args.as_slice()].concat());
        let receipt = provider.send_transaction(deploy).await.map_err(tx_err)?.get_receipt().await.map_err(tx_err)?;
        let address = receipt.contract_address.ok_or_else(|| tx_err("BenchDriver deployment created nothing"))?;

        let registry = AgentRegistry::new(contracts.agent_registry, provider.clone());
        let agent_id = registry.agentCount().call().await.map_err(tx_err)? + U256::from(1);
        let register = registry.registerAgent(IAgentRegistry::AgentParams {
            developer: devnet.signer(5).address(),
            paymentToken: contracts.usdc,
            price: Uint::from(1_000_000u64),
            maxDuration: 600,
            category: Category::General.into(),
            imageDigest: B256::repeat_byte(0xbe),
            // Inline, so the agent row is fully determined by the chain (no resolver state).
            metadataURI: r#"data:application/json,{"name":"bench load"}"#.into(),
        });
        let receipt = register.send().await.map_err(tx_err)?.get_receipt().await.map_err(tx_err)?;
        if !receipt.status() {
            return Err(tx_err("registerAgent reverted"));
        }
        let market = AgentMarketplace::new(contracts.agent_marketplace, provider.clone());
        let role = market.RELAYER_ROLE().call().await.map_err(tx_err)?;
        let receipt =
            market.grantRole(role, address).send().await.map_err(tx_err)?.get_receipt().await.map_err(tx_err)?;
        if !receipt.status() {
            return Err(tx_err("grantRole reverted"));
        }
        let sender = devnet.dev_provider(SENDER);
        let nonce = sender.get_transaction_count(devnet.signer(SENDER).address()).await.map_err(tx_err)?;
        Ok(Self { driver: BenchDriver::new(address, sender), agent_id, nonce: AtomicU64::new(nonce) })
    }

    /// The driver contract's address (requester and buyer of everything it does).
    pub fn address(&self) -> Address {
        *self.driver.address()
    }

    /// Sends one transaction of `iterations` loops and waits for its receipt; returns its block.
    /// Nonce, gas and fees are set here, so sending is a single `eth_sendRawTransaction` (which
    /// anvil answers once the block is mined): what the indexer benchmark times as "mined".
    pub async fn run(&self, iterations: u64) -> Result<u64, LoadError> {
        let iterations = iterations.min(MAX_ITERATIONS_PER_TX);
        let nonce = self.nonce.fetch_add(1, Ordering::SeqCst);
        let call = self
            .driver
            .run(self.agent_id, U256::from(iterations))
            .nonce(nonce)
            .gas(GAS_BASE + GAS_PER_ITERATION * iterations)
            .max_fee_per_gas(MAX_FEE_PER_GAS)
            .max_priority_fee_per_gas(1);
        let receipt = call.send().await.map_err(tx_err)?.get_receipt().await.map_err(tx_err)?;
        if !receipt.status() {
            return Err(tx_err("BenchDriver.run reverted"));
        }
        receipt.block_number.ok_or_else(|| tx_err("receipt without a block number"))
    }

    /// Emits at least `events` indexed events, in as few transactions as the gas limit allows.
    pub async fn emit(&self, events: u64) -> Result<(), LoadError> {
        let mut iterations = events.div_ceil(EVENTS_PER_ITERATION);
        while iterations > 0 {
            let n = iterations.min(MAX_ITERATIONS_PER_TX);
            self.run(n).await?;
            iterations -= n;
        }
        Ok(())
    }
}

/// The driver's creation code from forge's artifact.
fn driver_bytecode() -> Result<Bytes, LoadError> {
    let path = repo_root().join("out/BenchDriver.sol/BenchDriver.json");
    let err = |reason: String| LoadError::Artifact { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let hex = json["bytecode"]["object"].as_str().ok_or_else(|| err("no bytecode.object".into()))?;
    hex.parse::<Bytes>().map_err(|e| err(e.to_string()))
}
