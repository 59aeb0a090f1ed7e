//! Gas the bundler charged for the gasless flow's two user operations, printed as
//! `gas.<operation>=<gas>` lines like `make gas` (testkit's gas-report):
//!
//! - `gas.userop_purchase_batched`: an owner-signed, sponsored `executeBatch([USDC.approve,
//!   marketplace.purchase])` from a deployed NexusAccount holding USDC and no ETH;
//! - `gas.userop_request_session_key`: a sponsored `execute(marketplace, 0, requestExecution(..))`
//!   signed by a session key the owner granted.
//!
//! "Charged" is the receipt's `actualGasUsed` (what the EntryPoint billed the paymaster, including
//! pre-verification gas), not the bundle transaction's gas. The operations go through
//! `nexus-accounts` exactly as the CLI sends them, sponsored by NexusPaymaster signed locally with
//! the deployments' sponsor key (the same signature the API's sponsorship service makes, without
//! needing a database). Runs a private devnet and Alto:
//! `cargo run -p nexus-accounts --example userop_gas` (after `make setup`).

use alloy::primitives::{U256, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use nexus_accounts::{AccountConfig, Call, REQUEST_EXECUTION, SmartAccount, Sponsorship, purchased_credit};
use nexus_testkit::Devnet;
use nexus_testkit::bundler::{Alto, mint_usdc, register_usdc_agent};

/// Anvil dev account 3: the deploy script's sponsorship signer.
const SPONSOR_ACCOUNT: usize = 3;
/// 2.50 USDC, as in gas-report.
const USDC_PRICE: u64 = 2_500_000;
/// Credits bought by the measured purchase.
const CREDITS: u64 = 2;
/// Session key validity.
const WINDOW_SECS: u64 = 3600;
/// The session key's gas cap (wei per operation): set, so the measurement includes the account's
/// cap check; far above what a devnet operation costs.
const MAX_GAS_COST: u128 = 100_000_000_000_000_000;

#[tokio::main]
async fn main() -> Result<()> {
    let devnet = Devnet::start().await.context("starting the devnet")?;
    let alto = Alto::start(&devnet).await.context("starting Alto")?;
    let d = devnet.deployments.clone();
    let (market, usdc) = (d.contracts.agent_marketplace, d.contracts.usdc);
    let provider = devnet.dev_provider(0);
    let agent = register_usdc_agent(&devnet, USDC_PRICE).await?;

    // The user's account: holds USDC, never any ETH.
    let paymaster = d.contracts.nexus_paymaster.context("no paymaster")?;
    let sponsorship = Sponsorship::local(paymaster, devnet.signer(SPONSOR_ACCOUNT));
    let config = AccountConfig::from_deployments(&d, alto.url().parse()?, sponsorship)?;
    let account = SmartAccount::new(provider.clone(), PrivateKeySigner::random(), config).await?;
    mint_usdc(&devnet, account.address(), 10 * USDC_PRICE).await?;

    // 1. Deploy the account and grant a session key for `requestExecution` (not measured).
    let key = PrivateKeySigner::random();
    let now = provider.get_block_by_number(Default::default()).await?.context("no block")?.header.timestamp;
    account
        .grant_session_key(key.address(), &[market], &[REQUEST_EXECUTION], now + WINDOW_SECS, 10, MAX_GAS_COST)
        .await?;

    // 2. Approve and purchase in one batched operation.
    let cost = U256::from(CREDITS * USDC_PRICE);
    let purchase = account
        .execute_batch(vec![
            Call::approve(usdc, market, cost),
            Call::purchase(market, agent, U256::from(CREDITS), U256::from(USDC_PRICE)),
        ])
        .await
        .context("batched purchase")?;
    let credit = purchased_credit(&purchase).context("Purchased log")?;

    // 3. Request an execution through the session key.
    let input = keccak256(b"{\"text\":\"hello\"}");
    let requested = account.session_key(key).request_execution(market, credit, input).await.context("session key")?;

    if provider.get_balance(account.address()).await? != U256::ZERO {
        bail!("the account was never meant to hold ETH");
    }
    println!("gas.userop_purchase_batched={}", purchase.actual_gas_used);
    println!("gas.userop_request_session_key={}", requested.actual_gas_used);
    Ok(())
}
