//! Gas the bundler charged for the gasless flow's two user operations, printed as
//! `gas.<operation>=<gas>` lines like `make gas` (testkit's gas-report):
//!
//! - `gas.userop_purchase_batched`: an owner-signed, sponsored `executeBatch([USDC.approve,
//!   marketplace.purchase])` from a deployed NexusAccount holding USDC and no ETH;
//! - `gas.userop_request_session_key`: a sponsored `execute(marketplace, 0, requestExecution(..))`
//!   signed by a session key the owner granted.
//!
//! "Charged" is the receipt's `actualGasUsed` (what the EntryPoint billed the paymaster, including
//! pre-verification gas), not the bundle transaction's gas. Runs a private devnet and Alto:
//! `cargo run -p nexus-bundler-client --example userop_gas` (after `make setup`).

use std::time::Duration;

use alloy::primitives::aliases::{U48, U192};
use alloy::primitives::{Address, B256, U256, address, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use anyhow::{Context, Result, bail};
use nexus_bindings::account::{BaseAccount, INexusAccount};
use nexus_bindings::marketplace::AgentMarketplace;
use nexus_bindings::registry::{AgentRegistry, IAgentRegistry};
use nexus_bindings::{NexusAccount, TestUSDC, agent::Category};
use nexus_bundler_client::{
    BundlerClient, UserOperation, UserOperationReceipt, counterfactual_account, dummy_owner_signature, get_nonce,
    paymaster, sign_as_owner, sign_as_session_key, user_op_hash,
};
use nexus_testkit::Devnet;
use nexus_testkit::bundler::Alto;

/// Anvil dev account 3: the deploy script's sponsorship signer.
const SPONSOR_ACCOUNT: usize = 3;
/// 2.50 USDC, as in gas-report.
const USDC_PRICE: u64 = 2_500_000;
/// Credits bought by the measured purchase.
const CREDITS: u64 = 2;
const MAX_DURATION: u32 = 60;
const INCLUSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Session key and sponsorship validity.
const WINDOW_SECS: u64 = 3600;

enum Signer<'a> {
    Owner(&'a PrivateKeySigner),
    SessionKey(&'a PrivateKeySigner),
}

struct Ctx {
    bundler: BundlerClient,
    provider: alloy::providers::DynProvider,
    entry_point: Address,
    paymaster: Address,
    sponsor: PrivateKeySigner,
    chain_id: u64,
}

impl Ctx {
    async fn now(&self) -> Result<u64> {
        Ok(self.provider.get_block_by_number(Default::default()).await?.map(|b| b.header.timestamp).unwrap_or_default())
    }

    /// Estimates, sponsors, signs, sends and waits; fails unless the operation succeeded.
    async fn send(&self, mut op: UserOperation, signer: Signer<'_>) -> Result<UserOperationReceipt> {
        op.nonce = get_nonce(&self.provider, self.entry_point, op.sender, U192::ZERO).await?;
        op.apply_fees(&self.bundler.suggest_fees(&self.provider).await?);
        op.paymaster = Some(self.paymaster);
        op.paymaster_data = Some(paymaster::sponsored_stub_data());
        op.signature = match signer {
            Signer::Owner(_) => dummy_owner_signature(),
            // Same length as the real one; the key must be the real key (the account checks the
            // grant before the signature), the signature need not be.
            Signer::SessionKey(key) => sign_as_session_key(key, B256::ZERO)?,
        };
        op.apply_gas_estimate(&self.bundler.estimate_user_operation_gas(&op).await.context("estimating")?);
        paymaster::sponsor(&mut op, &self.sponsor, self.chain_id, self.now().await? + WINDOW_SECS, 0)?;
        let hash = user_op_hash(&op.pack(), self.entry_point, self.chain_id);
        op.signature = match signer {
            Signer::Owner(owner) => sign_as_owner(owner, hash)?,
            Signer::SessionKey(key) => sign_as_session_key(key, hash)?,
        };
        let sent = self.bundler.send_user_operation(&op).await.context("sending")?;
        let receipt = self.bundler.wait_for_receipt(sent, INCLUSION_TIMEOUT).await?;
        if !receipt.success {
            bail!("user operation reverted: {:?}", receipt.reason);
        }
        Ok(receipt)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let devnet = Devnet::start().await.context("starting the devnet")?;
    let alto = Alto::start(&devnet).await.context("starting Alto")?;
    let d = devnet.deployments.clone();
    let entry_point = d.contracts.entry_point.context("no EntryPoint")?;
    let provider = devnet.dev_provider(0);
    let ctx = Ctx {
        bundler: BundlerClient::new(alto.url().parse()?, entry_point),
        provider: provider.clone(),
        entry_point,
        paymaster: d.contracts.nexus_paymaster.context("no paymaster")?,
        sponsor: devnet.signer(SPONSOR_ACCOUNT),
        chain_id: provider.get_chain_id().await?,
    };
    let market = d.contracts.agent_marketplace;

    // A USDC agent.
    let params = IAgentRegistry::AgentParams {
        developer: address!("00000000000000000000000000000000000000a1"),
        paymentToken: d.contracts.usdc,
        price: alloy::primitives::Uint::from(USDC_PRICE),
        maxDuration: MAX_DURATION,
        category: Category::General.into(),
        imageDigest: B256::repeat_byte(0x11),
        metadataURI: "data:application/json,{}".to_owned(),
    };
    let receipt = AgentRegistry::new(d.contracts.agent_registry, provider.clone())
        .registerAgent(params)
        .send()
        .await?
        .get_receipt()
        .await?;
    let agent = receipt.decoded_log::<AgentRegistry::AgentRegistered>().context("AgentRegistered")?.agentId;

    // The user's account: holds USDC, never any ETH.
    let owner = PrivateKeySigner::random();
    let factory = d.contracts.nexus_account_factory.context("no factory")?;
    let account = counterfactual_account(&provider, factory, owner.address(), U256::ZERO).await?;
    TestUSDC::new(d.contracts.usdc, provider.clone())
        .mint(account.sender, U256::from(10 * USDC_PRICE))
        .send()
        .await?
        .get_receipt()
        .await?;

    // 1. Deploy the account and grant a session key for `requestExecution` (not measured).
    let key = PrivateKeySigner::random();
    let until = ctx.now().await? + WINDOW_SECS;
    let permission =
        INexusAccount::Permission { target: market, selector: AgentMarketplace::requestExecutionCall::SELECTOR.into() };
    let grant = NexusAccount::grantSessionKeyCall {
        key: key.address(),
        validAfter: U48::ZERO,
        validUntil: U48::from(until),
        maxUses: 10,
        permissions: vec![permission],
    };
    let call = NexusAccount::executeCall { target: account.sender, value: U256::ZERO, data: grant.abi_encode().into() };
    let mut op = UserOperation { call_data: call.abi_encode().into(), ..Default::default() };
    account.apply(&mut op, false);
    ctx.send(op, Signer::Owner(&owner)).await.context("deploy + grant")?;

    // 2. Approve and purchase in one batched operation.
    let cost = U256::from(CREDITS * USDC_PRICE);
    let calls = vec![
        BaseAccount::Call {
            target: d.contracts.usdc,
            value: U256::ZERO,
            data: TestUSDC::approveCall { spender: market, value: cost }.abi_encode().into(),
        },
        BaseAccount::Call {
            target: market,
            value: U256::ZERO,
            data: AgentMarketplace::purchaseCall { agentId: agent, units: U256::from(CREDITS) }.abi_encode().into(),
        },
    ];
    let mut op =
        UserOperation { call_data: NexusAccount::executeBatchCall { calls }.abi_encode().into(), ..Default::default() };
    account.apply(&mut op, true);
    let purchase = ctx.send(op, Signer::Owner(&owner)).await.context("batched purchase")?;
    let credit = purchase
        .logs
        .iter()
        .find_map(|log| log.log_decode::<AgentMarketplace::Purchased>().ok())
        .context("Purchased log")?
        .inner
        .data
        .creditId;

    // 3. Request an execution through the session key.
    let request =
        AgentMarketplace::requestExecutionCall { creditId: credit, inputHash: keccak256(b"{\"text\":\"hello\"}") };
    let call = NexusAccount::executeCall { target: market, value: U256::ZERO, data: request.abi_encode().into() };
    let mut op = UserOperation { call_data: call.abi_encode().into(), ..Default::default() };
    account.apply(&mut op, true);
    let requested = ctx.send(op, Signer::SessionKey(&key)).await.context("session-key request")?;

    if provider.get_balance(account.sender).await? != U256::ZERO {
        bail!("the account was never meant to hold ETH");
    }
    println!("gas.userop_purchase_batched={}", purchase.actual_gas_used);
    println!("gas.userop_request_session_key={}", requested.actual_gas_used);
    Ok(())
}
