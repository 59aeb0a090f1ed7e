//! The sponsorship service: an ERC-7677 paymaster web service at `POST /v1/paymaster` that signs
//! NexusPaymaster's verifying (sponsored) mode for user operations the policy allows.
//!
//! # Why it looks like this
//!
//! * **Users never hold ETH**, so someone pays their gas; the sponsor key approves each operation
//!   and the paymaster's EntryPoint deposit pays. The key lives only in this server's
//!   configuration ([`SponsorConfig`] never prints it); the service is off unless one is given.
//! * **Only the marketplace is sponsored.** An operation's `callData` must be the account's
//!   `execute` / `executeBatch`, and every call in it must go to the marketplace (any function),
//!   be an ERC-20 `approve` on a payment token whose spender is the marketplace, or be the
//!   account managing its own session keys for the marketplace (grant with marketplace-only
//!   permissions, revoke). Anything else is refused with a JSON-RPC error naming the reason.
//! * **Only NexusAccounts.** A contract that merely mimics `execute`'s selector could do anything
//!   with the sponsored gas, so the sender must be a NexusAccount: deployed in this operation by
//!   the NexusAccountFactory, or already deployed with the factory's proxy code
//!   (`accountCodeHash`) pointing at the factory's account implementation (read from the chain;
//!   without a node configured this check is skipped, with a warning at start).
//! * **Caps that survive restarts.** Each signature reserves the operation's maximum cost (gas
//!   limits × `maxFeePerGas`) in PostgreSQL in the transaction that checks the per-account daily
//!   caps (operations and wei per UTC day) and the global budget, so several API servers share
//!   them. A reservation is keyed by (sender, nonce), which the signature covers: re-signing the
//!   same operation (a retry) replaces its reservation instead of counting twice. A reconciler
//!   ([`Sponsor::reconcile`], every [`RECONCILE_INTERVAL`]) then charges each landed operation
//!   its actual cost from the EntryPoint's `UserOperationEvent`, and releases the reservations of
//!   operations whose window closed without being included.
//! * **Bounded per signature and per client.** One operation may reserve at most `max_op_wei`,
//!   and each client address gets a token bucket of requests ([`crate::rate_limit`]). Accounts
//!   cost nothing to create (deploying one is sponsored, so users never need ETH), so per-account
//!   caps alone do not stop one party with many accounts; these two bound how fast one client can
//!   tie up the global budget with signed operations it never sends (each holds its reservation
//!   until its validity window closes). The global budget stays the last line.
//! * **The methods.** `pm_getPaymasterStubData` checks the policy and that the caps leave room,
//!   and returns placeholder data for gas estimation; `pm_getPaymasterData` checks again,
//!   reserves and signs over the final gas fields. Both take `[userOp, entryPoint, chainId,
//!   context]` (the v0.7/v0.8 unpacked form) and refuse another EntryPoint or chain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use nexus_bindings::{Deployments, IEntryPoint, NexusAccount, NexusAccountFactory, TestUSDC};
use nexus_bundler_client::{PaymasterData, UserOperation, paymaster, user_op_hash};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;

/// Operations one account may have sponsored per UTC day by default: a user buying and running
/// agents all day stays far below it; a script draining the paymaster hits it fast.
pub const DEFAULT_DAILY_OPS: u32 = 100;
/// Wei one account may have reserved per UTC day by default (0.05 ETH: hundreds of operations at
/// a few gwei).
pub const DEFAULT_DAILY_WEI: u128 = 50_000_000_000_000_000;
/// Total wei the service may ever reserve by default (5 ETH); raise it as the deposit grows.
pub const DEFAULT_BUDGET_WEI: u128 = 5_000_000_000_000_000_000;
/// Most one operation may cost by default (0.01 ETH: a deploy plus purchase at 10 gwei needs about
/// a tenth of it). A reservation holds the budget until the operation lands or its window closes,
/// so this bounds what one signature can tie up.
pub const DEFAULT_MAX_OP_WEI: u128 = 10_000_000_000_000_000;
/// Requests per second one client address may make to /v1/paymaster by default, after a burst of
/// [`DEFAULT_CLIENT_BURST`]. A wallet makes two per operation (stub, then data).
pub const DEFAULT_CLIENT_RATE: f64 = 1.0;
pub const DEFAULT_CLIENT_BURST: f64 = 60.0;
/// How long a signed sponsorship stays valid: enough for a bundler to include the operation;
/// an operation that was never sent stops being payable soon after.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(10 * 60);
/// `paymasterVerificationGasLimit` signed when the operation names none: parsing and one
/// ecrecover need about 10k gas; the bundler's estimate normally replaces this.
pub const DEFAULT_PAYMASTER_VERIFICATION_GAS: u128 = 60_000;
/// The ERC-7677 methods served.
pub const PM_STUB_DATA: &str = "pm_getPaymasterStubData";
pub const PM_DATA: &str = "pm_getPaymasterData";
/// Largest request body: one user operation with its call data is a few KiB.
const MAX_BODY: usize = 64 * 1024;

/// JSON-RPC error codes.
pub mod codes {
    /// Body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Not one of the two ERC-7677 methods.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Malformed parameters, another EntryPoint or chain.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The database failed; nothing was signed.
    pub const INTERNAL: i64 = -32603;
    /// The policy refused the operation; the message gives the reason.
    pub const REFUSED: i64 = -32000;
    /// Too many requests from this client address (EIP-1474 "limit exceeded"); retry later.
    pub const LIMITED: i64 = -32005;
}

/// The sponsor's identity, policy and caps.
#[derive(Clone)]
pub struct SponsorConfig {
    /// NexusPaymaster's sponsorship signer (`roles.sponsor` in the deployments).
    pub signer: PrivateKeySigner,
    pub chain_id: u64,
    pub entry_point: Address,
    pub paymaster: Address,
    /// The NexusAccountFactory: the only factory a sponsored operation may deploy with.
    pub factory: Address,
    pub marketplace: Address,
    /// Tokens on which `approve(marketplace, …)` is sponsored (the payment tokens).
    pub tokens: Vec<Address>,
    pub daily_ops_per_account: u32,
    pub daily_wei_per_account: U256,
    pub global_budget_wei: U256,
    /// Largest maximum cost (gas limits × `maxFeePerGas`) of one sponsored operation.
    pub max_op_wei: U256,
    /// Per client address: requests per second after `client_burst` (see [`crate::rate_limit`]).
    pub client_rate_per_second: f64,
    pub client_burst: f64,
    pub validity: Duration,
    /// ERC-7677 `sponsor.name` shown by wallets.
    pub name: String,
}

impl std::fmt::Debug for SponsorConfig {
    // Hand-written: the signer's key must never reach a log line; its address is enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SponsorConfig")
            .field("signer", &self.signer.address())
            .field("chain_id", &self.chain_id)
            .field("entry_point", &self.entry_point)
            .field("paymaster", &self.paymaster)
            .field("factory", &self.factory)
            .field("marketplace", &self.marketplace)
            .field("tokens", &self.tokens)
            .field("daily_ops_per_account", &self.daily_ops_per_account)
            .field("daily_wei_per_account", &self.daily_wei_per_account)
            .field("global_budget_wei", &self.global_budget_wei)
            .field("max_op_wei", &self.max_op_wei)
            .field("client_rate_per_second", &self.client_rate_per_second)
            .field("client_burst", &self.client_burst)
            .field("validity", &self.validity)
            .finish()
    }
}

/// Why a [`SponsorConfig`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SponsorConfigError {
    #[error("the deployments have no {0} (deploy the account contracts first)")]
    MissingContract(&'static str),
    #[error("the sponsor key's address {key} is not the deployments' sponsor {expected}")]
    WrongKey { key: Address, expected: Address },
    /// The message names neither the key nor the parse error's input, only that it is no key.
    #[error("the sponsor key is not a 32-byte hex private key")]
    InvalidKey,
    #[error("invalid sponsorship setting {name}: {value}")]
    InvalidSetting { name: &'static str, value: String },
}

impl SponsorConfig {
    /// A sponsor for these contracts with the default caps and validity and no payment token
    /// (set [`Self::tokens`] to sponsor approvals).
    pub fn new(
        signer: PrivateKeySigner,
        chain_id: u64,
        entry_point: Address,
        paymaster: Address,
        factory: Address,
        marketplace: Address,
    ) -> Self {
        SponsorConfig {
            signer,
            chain_id,
            entry_point,
            paymaster,
            factory,
            marketplace,
            tokens: Vec::new(),
            daily_ops_per_account: DEFAULT_DAILY_OPS,
            daily_wei_per_account: U256::from(DEFAULT_DAILY_WEI),
            global_budget_wei: U256::from(DEFAULT_BUDGET_WEI),
            max_op_wei: U256::from(DEFAULT_MAX_OP_WEI),
            client_rate_per_second: DEFAULT_CLIENT_RATE,
            client_burst: DEFAULT_CLIENT_BURST,
            validity: DEFAULT_VALIDITY,
            name: "AgentNexus".into(),
        }
    }

    /// [`Self::from_deployments`] with the key given as hex text (from the environment or a
    /// configuration file), so callers need not depend on alloy's signer types.
    pub fn from_deployments_and_key(deployments: &Deployments, key: &str) -> Result<Self, SponsorConfigError> {
        let signer: PrivateKeySigner = key.trim().parse().map_err(|_| SponsorConfigError::InvalidKey)?;
        Self::from_deployments(deployments, signer)
    }

    /// Applies the limits a configuration file or the environment overrides (wei as decimal text).
    pub fn with_limits(mut self, limits: &SponsorLimits) -> Result<Self, SponsorConfigError> {
        let wei = |name: &'static str, text: &str| {
            U256::from_str_radix(text.trim(), 10)
                .map_err(|_| SponsorConfigError::InvalidSetting { name, value: text.to_owned() })
        };
        if let Some(ops) = limits.daily_ops {
            self.daily_ops_per_account = ops;
        }
        if let Some(text) = &limits.daily_wei {
            self.daily_wei_per_account = wei("sponsor_daily_wei", text)?;
        }
        if let Some(text) = &limits.budget_wei {
            self.global_budget_wei = wei("sponsor_budget_wei", text)?;
        }
        if let Some(text) = &limits.max_op_wei {
            self.max_op_wei = wei("sponsor_max_op_wei", text)?;
        }
        let positive = |name: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(SponsorConfigError::InvalidSetting { name, value: v.to_string() })
            }
        };
        if let Some(v) = limits.client_rate_per_second {
            self.client_rate_per_second = positive("sponsor_client_rate_per_second", v)?;
        }
        if let Some(v) = limits.client_burst {
            self.client_burst = positive("sponsor_client_burst", v)?;
        }
        Ok(self)
    }

    /// Addresses from a deployments file, default caps. Fails when the key is not the
    /// deployments' `roles.sponsor` (its signatures would all fail with AA34).
    pub fn from_deployments(deployments: &Deployments, signer: PrivateKeySigner) -> Result<Self, SponsorConfigError> {
        let c = &deployments.contracts;
        if let Some(expected) = deployments.roles.sponsor
            && expected != signer.address()
        {
            return Err(SponsorConfigError::WrongKey { key: signer.address(), expected });
        }
        let mut config = SponsorConfig::new(
            signer,
            deployments.chain_id,
            c.entry_point.ok_or(SponsorConfigError::MissingContract("EntryPoint"))?,
            c.nexus_paymaster.ok_or(SponsorConfigError::MissingContract("NexusPaymaster"))?,
            c.nexus_account_factory.ok_or(SponsorConfigError::MissingContract("NexusAccountFactory"))?,
            c.agent_marketplace,
        );
        config.tokens = vec![c.usdc];
        Ok(config)
    }
}

/// Overrides of [`SponsorConfig`]'s limits, as a configuration file spells them (`None`: keep the
/// default).
#[derive(Debug, Clone, Default)]
pub struct SponsorLimits {
    pub daily_ops: Option<u32>,
    pub daily_wei: Option<String>,
    pub budget_wei: Option<String>,
    pub max_op_wei: Option<String>,
    pub client_rate_per_second: Option<f64>,
    pub client_burst: Option<f64>,
}

/// A JSON-RPC error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (JSON-RPC {code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
    }

    fn refused(message: impl Into<String>) -> Self {
        Self::new(codes::REFUSED, message)
    }
}

/// Checks that `call_data` only calls into the marketplace (see the module docs). `deploying`:
/// the operation has factory fields, and then an empty batch (deploy only) is allowed too. Pure,
/// so the policy is unit-tested without a chain.
pub fn check_call_data(
    config: &SponsorConfig,
    sender: Address,
    call_data: &[u8],
    deploying: bool,
) -> Result<(), RpcError> {
    let calls: Vec<(Address, U256, alloy::primitives::Bytes)> =
        if let Ok(call) = NexusAccount::executeCall::abi_decode(call_data) {
            vec![(call.target, call.value, call.data)]
        } else if let Ok(batch) = NexusAccount::executeBatchCall::abi_decode(call_data) {
            batch.calls.into_iter().map(|c| (c.target, c.value, c.data)).collect()
        } else {
            return Err(RpcError::refused("callData is not a NexusAccount execute or executeBatch"));
        };
    if calls.is_empty() && !deploying {
        return Err(RpcError::refused("empty batch (only sponsored to deploy the account)"));
    }
    for (target, value, data) in &calls {
        check_call(config, sender, *target, *value, data)?;
    }
    Ok(())
}

fn check_call(
    config: &SponsorConfig,
    sender: Address,
    target: Address,
    value: U256,
    data: &[u8],
) -> Result<(), RpcError> {
    let market = config.marketplace;
    if target == market {
        return Ok(());
    }
    if !value.is_zero() {
        return Err(RpcError::refused(format!("value sent to {target}: only the marketplace may receive value")));
    }
    if config.tokens.contains(&target) {
        return match TestUSDC::approveCall::abi_decode(data) {
            Ok(approve) if approve.spender == market => Ok(()),
            Ok(approve) => {
                Err(RpcError::refused(format!("approve spender {} is not the marketplace", approve.spender)))
            }
            Err(_) => {
                Err(RpcError::refused(format!("only approve(marketplace, amount) is sponsored on token {target}")))
            }
        };
    }
    if target == sender {
        // The account managing its session keys: needed to run agents through a key, and
        // harmless as long as every permission it grants is on the marketplace.
        if let Ok(grant) = NexusAccount::grantSessionKeyCall::abi_decode(data) {
            return match grant.permissions.iter().find(|p| p.target != market) {
                None => Ok(()),
                Some(p) => {
                    Err(RpcError::refused(format!("session key permission target {} is not the marketplace", p.target)))
                }
            };
        }
        if NexusAccount::revokeSessionKeyCall::abi_decode(data).is_ok()
            || NexusAccount::revokeAllSessionKeysCall::abi_decode(data).is_ok()
        {
            return Ok(());
        }
        return Err(RpcError::refused(format!(
            "call to the account {sender} itself is only sponsored to grant or revoke session keys"
        )));
    }
    Err(RpcError::refused(format!("target {target} is not the marketplace")))
}

/// Most the operation can cost the paymaster: every gas limit × `maxFeePerGas` (the EntryPoint's
/// required prefund).
pub fn max_cost(op: &UserOperation) -> U256 {
    op.max_cost()
}

/// ERC-1967's implementation slot (`keccak256("eip1967.proxy.implementation") - 1`), where the
/// factory's proxies keep the NexusAccount implementation they delegate to.
pub const ERC1967_IMPLEMENTATION_SLOT: B256 =
    alloy::primitives::b256!("360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc");

/// Why [`Sponsor::reconcile`] failed (it is retried on the next round).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("sponsorship database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("chain node: {0}")]
    Node(#[from] alloy::transports::TransportError),
}

/// A pending reservation: sender, nonce (decimal), userOpHash, window end, block at signing.
type PendingRow = (Vec<u8>, String, Vec<u8>, i64, i64);

/// Reservations looked at per reconciliation round.
const RECONCILE_BATCH: i64 = 200;
/// How often each server reconciles: well inside the validity window, so pending reservations do
/// not hold the caps at their maximum for long after the operation landed.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(15);

/// What a reservation records of the signature it pays for.
struct Signed {
    paymaster_hash: B256,
    user_op_hash: B256,
    valid_until: u64,
    signed_block: u64,
}

/// The running service: configuration, the database holding the caps, the node for account checks.
pub struct Sponsor {
    pub config: SponsorConfig,
    pool: PgPool,
    provider: Option<DynProvider>,
    /// What the factory's accounts look like, read once (both are immutables of the factory).
    account: tokio::sync::OnceCell<FactoryAccount>,
}

/// A NexusAccount's fingerprint on chain.
#[derive(Debug, Clone, Copy)]
struct FactoryAccount {
    /// The factory's `accountImplementation`: what the proxy's ERC-1967 slot holds.
    implementation: Address,
    /// The factory's `accountCodeHash`: the proxy's runtime code.
    code_hash: B256,
}

impl Sponsor {
    pub fn new(config: SponsorConfig, pool: PgPool, provider: Option<DynProvider>) -> Self {
        if provider.is_none() {
            tracing::warn!("sponsorship without an RPC URL: senders are not checked to be NexusAccounts");
        }
        Sponsor { config, pool, provider, account: tokio::sync::OnceCell::new() }
    }

    /// The later of the wall clock and the chain's latest block time: the window must be open by
    /// the chain's clock, which runs ahead of the wall clock on a devnet whose time was advanced.
    /// Also returns the head's number (0 without a node): where a reconciliation starts looking.
    async fn now(&self) -> (u64, u64) {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let Some(provider) = &self.provider else {
            return (wall, 0);
        };
        match provider.get_block_by_number(Default::default()).await {
            Ok(Some(block)) => (wall.max(block.header.timestamp), block.header.number),
            _ => (wall, 0),
        }
    }

    /// The sender is a NexusAccount: created by the NexusAccountFactory in this operation, or a
    /// proxy of the factory's account implementation.
    async fn check_sender(&self, op: &UserOperation) -> Result<(), RpcError> {
        if let Some(factory) = op.factory {
            return if factory == self.config.factory {
                Ok(())
            } else {
                Err(RpcError::refused(format!("factory {factory} is not the NexusAccountFactory")))
            };
        }
        let Some(provider) = &self.provider else {
            return Ok(());
        };
        let node = |e: alloy::transports::TransportError| {
            tracing::warn!(error = %e, "sponsorship: chain node unavailable");
            RpcError::new(codes::INTERNAL, "chain node unavailable; nothing was signed")
        };
        let account = self
            .account
            .get_or_try_init(|| async {
                let factory = NexusAccountFactory::new(self.config.factory, provider);
                let read = |e: alloy::contract::Error| {
                    tracing::warn!(error = %e, "sponsorship: cannot read the factory's account code");
                    RpcError::new(codes::INTERNAL, "chain node unavailable; nothing was signed")
                };
                let implementation = factory.accountImplementation().call().await.map_err(read)?;
                let code_hash = factory.accountCodeHash().call().await.map_err(read)?;
                Ok::<_, RpcError>(FactoryAccount { implementation, code_hash })
            })
            .await?;
        // Both: the code is the factory's proxy (not a contract that copies its storage layout and
        // answers `execute` its own way), and the proxy points at the factory's implementation
        // (not at one its owner upgraded to).
        let (code, slot) = tokio::try_join!(
            provider.get_code_at(op.sender),
            provider.get_storage_at(op.sender, ERC1967_IMPLEMENTATION_SLOT.into())
        )
        .map_err(node)?;
        if keccak256(&code) == account.code_hash && Address::from_word(slot.into()) == account.implementation {
            Ok(())
        } else {
            Err(RpcError::refused(format!("sender {} is not a NexusAccount", op.sender)))
        }
    }

    /// `pm_getPaymasterStubData`: placeholder paymaster fields for estimation, after the policy
    /// and a look at the caps (nothing reserved).
    pub async fn stub_data(&self, op: &UserOperation) -> Result<PaymasterData, RpcError> {
        check_call_data(&self.config, op.sender, &op.call_data, op.factory.is_some())?;
        self.check_sender(op).await?;
        self.reserve(op, U256::ZERO, None).await?;
        Ok(PaymasterData {
            paymaster: self.config.paymaster,
            paymaster_data: paymaster::sponsored_stub_data(),
            paymaster_verification_gas_limit: None,
            paymaster_post_op_gas_limit: None,
            sponsor: Some(nexus_bundler_client::types::Sponsor { name: self.config.name.clone(), icon: None }),
            is_final: Some(false),
        })
    }

    /// `pm_getPaymasterData`: the policy, the caps with this operation's maximum cost reserved,
    /// then the sponsor's signature over the final fields.
    pub async fn data(&self, op: &UserOperation) -> Result<PaymasterData, RpcError> {
        check_call_data(&self.config, op.sender, &op.call_data, op.factory.is_some())?;
        self.check_sender(op).await?;
        let mut op = op.clone();
        op.paymaster = Some(self.config.paymaster);
        let verification = op.paymaster_verification_gas_limit.unwrap_or(DEFAULT_PAYMASTER_VERIFICATION_GAS);
        let post_op = op.paymaster_post_op_gas_limit.unwrap_or(0);
        op.paymaster_verification_gas_limit = Some(verification);
        op.paymaster_post_op_gas_limit = Some(post_op);
        // The gas fields are final here: refuse an oversized operation before the chain round trip.
        let cost = max_cost(&op);
        if cost > self.config.max_op_wei {
            return Err(RpcError::refused(format!(
                "operation may cost {cost} wei, more than the {} wei sponsored per operation",
                self.config.max_op_wei
            )));
        }
        let (now, signed_block) = self.now().await;
        let valid_until = now + self.config.validity.as_secs();
        let paymaster_hash = paymaster::sponsored_hash(&op, self.config.chain_id, valid_until, 0);
        // Signed first (nothing leaves this function unless the reservation commits), so the
        // reservation can record the EntryPoint's userOpHash, which covers the paymaster data.
        paymaster::sponsor(&mut op, &self.config.signer, self.config.chain_id, valid_until, 0).map_err(|e| {
            tracing::error!(error = %e, "sponsor key cannot sign");
            RpcError::new(codes::INTERNAL, "the sponsor cannot sign")
        })?;
        let user_op_hash = user_op_hash(&op.pack(), self.config.entry_point, self.config.chain_id);
        self.reserve(&op, cost, Some(Signed { paymaster_hash, user_op_hash, valid_until, signed_block })).await?;
        tracing::info!(sender = %op.sender, nonce = %op.nonce, max_cost_wei = %cost, valid_until, "sponsored");
        Ok(PaymasterData {
            paymaster: self.config.paymaster,
            paymaster_data: op.paymaster_data.unwrap_or_default(),
            paymaster_verification_gas_limit: Some(verification),
            paymaster_post_op_gas_limit: Some(post_op),
            sponsor: None,
            is_final: None,
        })
    }

    /// Checks the caps for `op` costing `cost` and, when `signed` is given, records the
    /// reservation, all in one transaction serialised on the paymaster's budget row. Without
    /// `signed` the transaction is rolled back (a look only).
    async fn reserve(&self, op: &UserOperation, cost: U256, signed: Option<Signed>) -> Result<(), RpcError> {
        let c = &self.config;
        let chain = c.chain_id as i64;
        let pm = c.paymaster.as_slice();
        let sender = op.sender.as_slice();
        let nonce = op.nonce.to_string();
        let mut tx = self.pool.begin().await.map_err(internal)?;
        sqlx::query("INSERT INTO sponsorship_budget (chain_id, paymaster) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(chain)
            .bind(pm)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        let spent: String = sqlx::query_scalar(
            "SELECT spent_wei::text FROM sponsorship_budget WHERE chain_id = $1 AND paymaster = $2 FOR UPDATE",
        )
        .bind(chain)
        .bind(pm)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        // The same operation signed before (a retry): its reservation is replaced, not added to.
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT coalesce(actual_cost_wei, max_cost_wei)::text FROM sponsorship_reservations
             WHERE chain_id = $1 AND paymaster = $2 AND sender = $3 AND nonce = $4::numeric",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(&nonce)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        let (today_ops, today_wei): (i64, String) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE included IS DISTINCT FROM false),
                    coalesce(sum(coalesce(actual_cost_wei, max_cost_wei)), 0)::text
             FROM sponsorship_reservations
             WHERE chain_id = $1 AND paymaster = $2 AND sender = $3
               AND day = (now() AT TIME ZONE 'UTC')::date AND nonce <> $4::numeric",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(&nonce)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let spent = parse_wei(&spent)?;
        let previous = previous.as_deref().map(parse_wei).transpose()?.unwrap_or_default();
        let today_wei = parse_wei(&today_wei)?;

        if today_ops >= i64::from(c.daily_ops_per_account) {
            return Err(RpcError::refused(format!(
                "daily cap of {} operations reached for {}",
                c.daily_ops_per_account, op.sender
            )));
        }
        let today_after = today_wei.saturating_add(cost);
        if today_after > c.daily_wei_per_account || (cost.is_zero() && today_wei >= c.daily_wei_per_account) {
            return Err(RpcError::refused(format!(
                "daily cap of {} wei reached for {} ({} wei reserved today, this operation may cost {} wei)",
                c.daily_wei_per_account, op.sender, today_wei, cost
            )));
        }
        let spent_after = spent.saturating_sub(previous).saturating_add(cost);
        if spent_after > c.global_budget_wei || (cost.is_zero() && spent >= c.global_budget_wei) {
            return Err(RpcError::refused("global sponsorship budget exhausted"));
        }
        let Some(Signed { paymaster_hash, user_op_hash, valid_until, signed_block }) = signed else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO sponsorship_reservations
                 (chain_id, paymaster, sender, nonce, day, max_cost_wei, paymaster_hash, user_op_hash, valid_until,
                  signed_block)
             VALUES ($1, $2, $3, $4::numeric, (now() AT TIME ZONE 'UTC')::date, $5::numeric, $6, $7, $8, $9)
             ON CONFLICT (chain_id, paymaster, sender, nonce) DO UPDATE
               SET day = EXCLUDED.day, max_cost_wei = EXCLUDED.max_cost_wei,
                   paymaster_hash = EXCLUDED.paymaster_hash, user_op_hash = EXCLUDED.user_op_hash,
                   valid_until = EXCLUDED.valid_until, signed_block = EXCLUDED.signed_block,
                   actual_cost_wei = NULL, included = NULL, reserved_at = now()",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(&nonce)
        .bind(cost.to_string())
        .bind(paymaster_hash.as_slice())
        .bind(user_op_hash.as_slice())
        .bind(i64::try_from(valid_until).unwrap_or(i64::MAX))
        .bind(i64::try_from(signed_block).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        sqlx::query("UPDATE sponsorship_budget SET spent_wei = $3::numeric WHERE chain_id = $1 AND paymaster = $2")
            .bind(chain)
            .bind(pm)
            .bind(spent_after.to_string())
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(())
    }

    /// Settles pending reservations against the chain: an operation whose `UserOperationEvent`
    /// is found is charged its `actualGasCost` instead of its maximum; one whose window closed
    /// without an event was never included and is released (cost 0, and it no longer counts as
    /// one of the day's operations). Returns how many reservations it settled. Safe to run from
    /// several servers at once: each settlement is conditional on the row still being pending for
    /// the same userOpHash. Without a node there is nothing to read, and nothing is settled.
    pub async fn reconcile(&self) -> Result<usize, ReconcileError> {
        let Some(provider) = &self.provider else {
            return Ok(0);
        };
        // The time first, then the logs: an inclusion before the window closed is then in a block
        // the log query sees.
        let (now, _) = self.now().await;
        let pending: Vec<PendingRow> = sqlx::query_as(
            "SELECT sender, nonce::text, user_op_hash, valid_until, signed_block FROM sponsorship_reservations
             WHERE chain_id = $1 AND paymaster = $2 AND included IS NULL ORDER BY signed_block LIMIT $3",
        )
        .bind(self.config.chain_id as i64)
        .bind(self.config.paymaster.as_slice())
        .bind(RECONCILE_BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut settled = 0;
        for (sender, nonce, hash, valid_until, from_block) in pending {
            let hash = B256::try_from(hash.as_slice()).unwrap_or_default();
            let filter = Filter::new()
                .address(self.config.entry_point)
                .event_signature(IEntryPoint::UserOperationEvent::SIGNATURE_HASH)
                .topic1(hash)
                .from_block(u64::try_from(from_block).unwrap_or_default());
            let event = provider
                .get_logs(&filter)
                .await?
                .iter()
                .find_map(|log| log.log_decode::<IEntryPoint::UserOperationEvent>().ok())
                .map(|log| log.inner.data.actualGasCost);
            let outcome = match event {
                Some(cost) => (true, cost),
                None if u64::try_from(valid_until).unwrap_or(u64::MAX) < now => (false, U256::ZERO),
                None => continue,
            };
            if self.settle(&sender, &nonce, hash, outcome).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Records one reservation's outcome and gives the budget back the difference to its maximum.
    async fn settle(
        &self,
        sender: &[u8],
        nonce: &str,
        user_op_hash: B256,
        (included, cost): (bool, U256),
    ) -> Result<bool, sqlx::Error> {
        let (chain, pm) = (self.config.chain_id as i64, self.config.paymaster.as_slice());
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM sponsorship_budget WHERE chain_id = $1 AND paymaster = $2 FOR UPDATE")
            .bind(chain)
            .bind(pm)
            .execute(&mut *tx)
            .await?;
        let max: Option<String> = sqlx::query_scalar(
            "UPDATE sponsorship_reservations SET actual_cost_wei = $6::numeric, included = $7
             WHERE chain_id = $1 AND paymaster = $2 AND sender = $3 AND nonce = $4::numeric
               AND user_op_hash = $5 AND included IS NULL
             RETURNING max_cost_wei::text",
        )
        .bind(chain)
        .bind(pm)
        .bind(sender)
        .bind(nonce)
        .bind(user_op_hash.as_slice())
        .bind(cost.to_string())
        .bind(included)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(max) = max else {
            // Settled by another server, or re-signed meanwhile: nothing to do.
            return Ok(false);
        };
        sqlx::query(
            "UPDATE sponsorship_budget SET spent_wei = greatest(spent_wei - $3::numeric + $4::numeric, 0)
             WHERE chain_id = $1 AND paymaster = $2",
        )
        .bind(chain)
        .bind(pm)
        .bind(max)
        .bind(cost.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::debug!(user_op_hash = %user_op_hash, included, cost_wei = %cost, "sponsorship reconciled");
        Ok(true)
    }

    /// One JSON-RPC request object → its `result` or error.
    pub async fn handle(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        let stub = match method {
            PM_STUB_DATA => true,
            PM_DATA => false,
            other => return Err(RpcError::new(codes::METHOD_NOT_FOUND, format!("method {other} not found"))),
        };
        let op = self.check_params(params)?;
        let data = if stub { self.stub_data(&op).await? } else { self.data(&op).await? };
        serde_json::to_value(data).map_err(|e| RpcError::new(codes::INTERNAL, format!("cannot encode the answer: {e}")))
    }

    /// `[userOp, entryPoint, chainId, context?]`, with this service's EntryPoint and chain.
    fn check_params(&self, params: &Value) -> Result<UserOperation, RpcError> {
        let invalid = |m: String| RpcError::new(codes::INVALID_PARAMS, m);
        let list =
            params.as_array().ok_or_else(|| invalid("params must be [userOp, entryPoint, chainId, context]".into()))?;
        if list.len() < 3 || list.len() > 4 {
            return Err(invalid(format!("expected 3 or 4 params, got {}", list.len())));
        }
        let op: UserOperation =
            serde_json::from_value(list[0].clone()).map_err(|e| invalid(format!("invalid user operation: {e}")))?;
        let entry_point: Address =
            serde_json::from_value(list[1].clone()).map_err(|e| invalid(format!("invalid entry point: {e}")))?;
        let chain_id: U256 =
            serde_json::from_value(list[2].clone()).map_err(|e| invalid(format!("invalid chain id: {e}")))?;
        if entry_point != self.config.entry_point {
            return Err(invalid(format!(
                "entry point {entry_point} is not supported (this paymaster uses {})",
                self.config.entry_point
            )));
        }
        if chain_id != U256::from(self.config.chain_id) {
            return Err(invalid(format!(
                "chain {chain_id} is not supported (this paymaster is on chain {})",
                self.config.chain_id
            )));
        }
        Ok(op)
    }
}

fn parse_wei(text: &str) -> Result<U256, RpcError> {
    U256::from_str_radix(text, 10)
        .map_err(|e| RpcError::new(codes::INTERNAL, format!("bad amount in the database: {e}")))
}

fn internal(e: sqlx::Error) -> RpcError {
    tracing::error!(error = %e, "sponsorship database error");
    RpcError::new(codes::INTERNAL, "sponsorship database unavailable; nothing was signed")
}

/// `POST /v1/paymaster` when a sponsor is configured; no routes otherwise (404). CORS follows the
/// API's configuration: wallets call paymaster services from web pages.
pub fn router(state: &AppState) -> Router {
    let Some(config) = state.config.sponsor.clone() else {
        return Router::new();
    };
    tracing::info!(sponsor = ?config, "sponsorship service enabled at /v1/paymaster");
    let origins = &state.config.cors_origins;
    let cors =
        CorsLayer::new().allow_methods([axum::http::Method::POST]).allow_headers([axum::http::header::CONTENT_TYPE]);
    let cors = if origins.iter().any(|o| o == "*") {
        cors.allow_origin(AllowOrigin::any())
    } else {
        cors.allow_origin(AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok())))
    };
    let limiter = Arc::new(RateLimiter::new(config.client_rate_per_second, config.client_burst));
    let sponsor = Arc::new(Sponsor::new(config, state.pool.clone(), state.provider.clone()));
    let metrics = state.metrics.clone();
    if state.provider.is_some() {
        // Runs as long as the process; a round that fails is logged and retried.
        let (reconciler, metrics) = (sponsor.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = reconciler.reconcile().await {
                    metrics.paymaster_reconcile_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "sponsorship reconciliation failed");
                }
            }
        });
    }
    Router::new()
        .route("/v1/paymaster", post(rpc))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(cors)
        .with_state(RpcState { limiter, sponsor, metrics })
}

#[derive(Clone)]
struct RpcState {
    limiter: Arc<RateLimiter>,
    sponsor: Arc<Sponsor>,
    metrics: Arc<Metrics>,
}

/// The metrics' method label: the two ERC-7677 methods by name, anything else (clients choose
/// it) as `other`, so the label set stays fixed.
fn method_label(method: Option<&str>) -> &'static str {
    match method {
        Some(PM_STUB_DATA) => PM_STUB_DATA,
        Some(PM_DATA) => PM_DATA,
        _ => "other",
    }
}

/// The metrics' outcome label for an answer.
fn outcome_label(outcome: &Result<Value, RpcError>) -> &'static str {
    match outcome {
        Ok(_) => "sponsored",
        Err(e) if e.code == codes::REFUSED => "refused",
        Err(e) if e.code == codes::INTERNAL => "error",
        Err(e) if e.code == codes::LIMITED => "limited",
        Err(_) => "invalid",
    }
}

/// One JSON-RPC exchange, in its own span (these routes sit outside the API's request-id layer).
#[tracing::instrument(name = "paymaster_rpc", skip_all)]
async fn rpc(
    State(RpcState { limiter, sponsor, metrics }): State<RpcState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let answer = |id: Value, method: Option<&str>, outcome: Result<Value, RpcError>| {
        metrics.paymaster_request(method_label(method), outcome_label(&outcome));
        match outcome {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": { "code": e.code, "message": e.message } }),
        }
    };
    if !limiter.allow(peer.ip()) {
        let limited = RpcError::new(codes::LIMITED, "too many sponsorship requests from this address; retry shortly");
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(answer(Value::Null, None, Err(limited)))).into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return axum::Json(answer(
                Value::Null,
                None,
                Err(RpcError::new(codes::PARSE_ERROR, format!("parse error: {e}"))),
            ))
            .into_response();
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return axum::Json(answer(
            id,
            None,
            Err(RpcError::new(codes::INVALID_REQUEST, "not a JSON-RPC request (batches are not supported)")),
        ))
        .into_response();
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let outcome = sponsor.handle(method, &params).await;
    if let Err(e) = &outcome {
        tracing::info!(method, code = e.code, reason = %e.message, "sponsorship refused");
    }
    axum::Json(answer(id, Some(method), outcome)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;
    use nexus_bindings::account::{BaseAccount, INexusAccount};

    const MARKET: Address = address!("00000000000000000000000000000000000000aa");
    const USDC: Address = address!("00000000000000000000000000000000000000bb");
    const SENDER: Address = address!("00000000000000000000000000000000000000cc");
    const STRANGER: Address = address!("00000000000000000000000000000000000000dd");

    fn config() -> SponsorConfig {
        let (paymaster, factory) = (Address::repeat_byte(0xee), Address::repeat_byte(0xff));
        let entry_point = nexus_bindings::entry_point::ADDRESS;
        SponsorConfig {
            tokens: vec![USDC],
            ..SponsorConfig::new(PrivateKeySigner::random(), 31337, entry_point, paymaster, factory, MARKET)
        }
    }

    fn execute(target: Address, value: u64, data: Vec<u8>) -> Vec<u8> {
        NexusAccount::executeCall { target, value: U256::from(value), data: data.into() }.abi_encode()
    }

    fn approve(spender: Address) -> Vec<u8> {
        TestUSDC::approveCall { spender, value: U256::from(5) }.abi_encode()
    }

    #[test]
    fn marketplace_calls_and_approvals_for_it_pass() {
        let c = config();
        assert_eq!(check_call_data(&c, SENDER, &execute(MARKET, 0, vec![1, 2, 3, 4]), false), Ok(()));
        assert_eq!(check_call_data(&c, SENDER, &execute(USDC, 0, approve(MARKET)), false), Ok(()));
        let batch = NexusAccount::executeBatchCall {
            calls: vec![
                BaseAccount::Call { target: USDC, value: U256::ZERO, data: approve(MARKET).into() },
                BaseAccount::Call { target: MARKET, value: U256::ZERO, data: vec![9; 36].into() },
            ],
        };
        assert_eq!(check_call_data(&c, SENDER, &batch.abi_encode(), false), Ok(()));
        let grant = NexusAccount::grantSessionKeyCall {
            key: STRANGER,
            validAfter: Default::default(),
            validUntil: alloy::primitives::aliases::U48::from(10),
            maxUses: 1,
            maxGasCost: 0,
            permissions: vec![INexusAccount::Permission { target: MARKET, selector: [1, 2, 3, 4].into() }],
        };
        assert_eq!(check_call_data(&c, SENDER, &execute(SENDER, 0, grant.abi_encode()), false), Ok(()));
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        let c = config();
        let reason = |data: Vec<u8>| check_call_data(&c, SENDER, &data, false).unwrap_err().message;
        assert_eq!(reason(execute(STRANGER, 0, vec![])), format!("target {STRANGER} is not the marketplace"));
        assert_eq!(
            reason(execute(USDC, 0, approve(STRANGER))),
            format!("approve spender {STRANGER} is not the marketplace")
        );
        let transfer = TestUSDC::transferCall { to: STRANGER, value: U256::from(1) }.abi_encode();
        assert!(reason(execute(USDC, 0, transfer)).starts_with("only approve(marketplace, amount)"));
        assert!(reason(execute(STRANGER, 1, vec![])).starts_with("value sent to"));
        assert!(reason(vec![0xde, 0xad, 0xbe, 0xef]).contains("not a NexusAccount execute"));
        let owner = NexusAccount::transferOwnershipCall { newOwner: STRANGER }.abi_encode();
        assert!(reason(execute(SENDER, 0, owner)).contains("only sponsored to grant or revoke"));
        let grant = NexusAccount::grantSessionKeyCall {
            key: STRANGER,
            validAfter: Default::default(),
            validUntil: alloy::primitives::aliases::U48::from(10),
            maxUses: 1,
            maxGasCost: 0,
            permissions: vec![INexusAccount::Permission { target: USDC, selector: [1, 2, 3, 4].into() }],
        };
        assert!(reason(execute(SENDER, 0, grant.abi_encode())).contains("permission target"));
        let empty = NexusAccount::executeBatchCall { calls: vec![] }.abi_encode();
        assert_eq!(check_call_data(&c, SENDER, &empty, true), Ok(()), "deploy only");
        assert_eq!(reason(empty), "empty batch (only sponsored to deploy the account)");
    }

    #[test]
    fn max_cost_is_every_limit_times_the_max_fee() {
        let op = UserOperation {
            call_gas_limit: 1,
            verification_gas_limit: 2,
            pre_verification_gas: 3,
            paymaster_verification_gas_limit: Some(4),
            paymaster_post_op_gas_limit: Some(5),
            max_fee_per_gas: 10,
            ..Default::default()
        };
        assert_eq!(max_cost(&op), U256::from(150));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = config();
        let key = alloy::primitives::hex::encode(c.signer.to_bytes());
        assert!(!format!("{c:?}").contains(&key));
    }
}
