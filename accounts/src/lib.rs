//! `nexus-accounts`: the AgentNexus smart account (NexusAccount, ERC-4337 on EntryPoint v0.8) as
//! a Rust client, so a user with USDC and no ETH can buy and run agents.
//!
//! # Why a crate on top of `nexus-bundler-client`
//!
//! The bundler client knows ERC-4337 (packing, hashing, JSON-RPC, errors); it does not know which
//! calls a NexusAccount makes, in what order the gas, paymaster and signature steps must happen,
//! or what a session key may sign. Every user of an account (the `nexus` CLI, the gas
//! measurement, tests, an app backend) needs that same pipeline, so it lives here once:
//!
//! 1. the counterfactual address from the factory, and factory fields until the account exists;
//! 2. nonce (key 0 for the owner, the key's own nonce key `uint192(key)` for a session key) and
//!    fees (the bundler's own floor when it has one);
//! 3. paymaster stub data ([`Sponsorship`]: an ERC-7677 service such as the API's
//!    `/v1/paymaster`, or NexusPaymaster signed locally), then the bundler's gas estimate with a
//!    placeholder signature of the real shape;
//! 4. the final paymaster data over the final gas fields (for a session key, checked to be the
//!    account's pinned paymaster in sponsored mode, within the grant's gas cap), then the owner's
//!    or session key's signature of the v0.8 userOpHash;
//! 5. send, wait for inclusion, and fail with [`AccountError::Reverted`] if the call reverted.
//!
//! # Modules
//!
//! Layered: a module imports only the modules listed before it, so the import graph has no
//! circle.
//!
//! 1. [`error`] ([`AccountError`]);
//! 2. [`sponsorship`] (who pays, [`Sponsorship`]), importing `error`;
//! 3. [`account`] ([`SmartAccount`] and the one pipeline), importing `error` and `sponsorship`;
//! 4. [`session`] ([`SessionKeySender`], and `SmartAccount::session_key` which makes one; the
//!    session-key side sits on top of the pipeline, so the pipeline never imports it).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use alloy::primitives::{B256, U256};
//! use alloy::providers::ProviderBuilder;
//! use alloy::signers::local::PrivateKeySigner;
//! use nexus_accounts::{AccountConfig, Call, SmartAccount, Sponsorship, purchased_credit};
//!
//! let deployments = nexus_bindings::Deployments::load("deployments/31337.json")?;
//! let (market, usdc) = (deployments.contracts.agent_marketplace, deployments.contracts.usdc);
//! let provider = ProviderBuilder::new().connect_http("http://127.0.0.1:8545".parse()?);
//! let sponsor = Sponsorship::service("http://127.0.0.1:4000/v1/paymaster".parse()?);
//! let config = AccountConfig::from_deployments(&deployments, "http://127.0.0.1:3000".parse()?, sponsor)?;
//! let owner: PrivateKeySigner = "0x…owner key…".parse()?;
//! let account = SmartAccount::new(provider, owner, config).await?;
//! println!("account {} (deployed: {})", account.address(), account.is_deployed().await?);
//!
//! // Approve and buy 2 credits of agent 1 (2.50 USDC each, the price shown to the user, which
//! // the purchase will not exceed) in one sponsored operation.
//! let (agent, units, price) = (U256::from(1), U256::from(2), U256::from(2_500_000));
//! let cost = price * units;
//! let receipt =
//!     account.execute_batch(vec![Call::approve(usdc, market, cost), Call::purchase(market, agent, units, price)]).await?;
//! let credit = purchased_credit(&receipt).expect("Purchased log");
//!
//! // Let an app key request executions (10 times, for a day, each operation costing at most
//! // 0.01 ETH of the sponsor's gas) without the owner signing.
//! let key = PrivateKeySigner::random();
//! let (until, max_gas_cost) = (1_900_000_000, 10_000_000_000_000_000);
//! account
//!     .grant_session_key(key.address(), &[market], &[nexus_accounts::REQUEST_EXECUTION], until, 10, max_gas_cost)
//!     .await?;
//! let receipt = account.session_key(key).request_execution(market, credit, B256::ZERO).await?;
//! println!("request {:?}", nexus_accounts::requested_execution(&receipt));
//! # Ok(()) }
//! ```

pub mod account;
pub mod error;
pub mod session;
pub mod sponsorship;

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use nexus_bindings::AgentMarketplace;

pub use account::{AccountConfig, Call, DEFAULT_INCLUSION_TIMEOUT, Selector, SmartAccount};
pub use error::AccountError;
pub use nexus_bundler_client::UserOperationReceipt;
pub use session::SessionKeySender;
pub use sponsorship::{LOCAL_SPONSOR_WINDOW, Sponsorship};

/// `AgentMarketplace.requestExecution`'s selector: the permission an app's session key needs to
/// run agents for the user.
pub const REQUEST_EXECUTION: Selector = Selector::new(AgentMarketplace::requestExecutionCall::SELECTOR);

/// The credit id of the first `Purchased` event in an operation's logs.
pub fn purchased_credit(receipt: &UserOperationReceipt) -> Option<U256> {
    receipt.logs.iter().find_map(|log| log.log_decode::<AgentMarketplace::Purchased>().ok()).map(|l| l.inner.creditId)
}

/// The request id of the first `ExecutionRequested` event in an operation's logs.
pub fn requested_execution(receipt: &UserOperationReceipt) -> Option<U256> {
    receipt
        .logs
        .iter()
        .find_map(|log| log.log_decode::<AgentMarketplace::ExecutionRequested>().ok())
        .map(|l| l.inner.requestId)
}
