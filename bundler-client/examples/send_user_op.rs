//! Sends one user operation from a NexusAccount through an ERC-4337 bundler, using nothing of
//! AgentNexus but the client crate: the account is created by the operation if needed, the call
//! is `execute(target, 0, "")`, and gas is sponsored by NexusPaymaster when a sponsor key is given
//! (otherwise the account pays from its EntryPoint deposit or balance).
//!
//! ```text
//! RPC_URL=http://127.0.0.1:8545 BUNDLER_URL=http://127.0.0.1:3000 \
//! FACTORY=0x... OWNER_KEY=0x... [PAYMASTER=0x... SPONSOR_KEY=0x...] [TARGET=0x...] \
//! cargo run -p nexus-bundler-client --example send_user_op
//! ```
//! `ENTRY_POINT` defaults to EntryPoint v0.8's canonical address.

use std::time::Duration;

use alloy::primitives::aliases::U192;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use nexus_bindings::NexusAccount;
use nexus_bundler_client::{
    BundlerClient, Error, UserOperation, counterfactual_account, dummy_owner_signature, get_nonce, is_deployed,
    paymaster, sign_as_owner, user_op_hash,
};

/// How long a sponsorship stays valid: long enough for the bundler to include the operation.
const SPONSOR_WINDOW_SECS: u64 = 600;

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("set {name} (see the example's header)"))
}

fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let provider = ProviderBuilder::new().connect_http(env("RPC_URL")?.parse()?);
    let entry_point: Address = match env_opt("ENTRY_POINT") {
        Some(a) => a.parse()?,
        None => nexus_bindings::entry_point::ADDRESS,
    };
    let bundler = BundlerClient::new(env("BUNDLER_URL")?.parse()?, entry_point);
    bundler.check_entry_point().await?;
    let chain_id = provider.get_chain_id().await?;
    let owner: PrivateKeySigner = env("OWNER_KEY")?.parse()?;
    let factory: Address = env("FACTORY")?.parse()?;
    let target: Address = env_opt("TARGET").map(|t| t.parse()).transpose()?.unwrap_or(owner.address());

    // 1. The account's address (salt 0), and factory data if it does not exist yet.
    let account = counterfactual_account(&provider, factory, owner.address(), U256::ZERO).await?;
    let deployed = is_deployed(&provider, account.sender).await?;
    println!("account {} (deployed: {deployed})", account.sender);

    // 2. Call, nonce (key 0), fees.
    let call = NexusAccount::executeCall { target, value: U256::ZERO, data: Bytes::new() };
    let mut op = UserOperation { call_data: call.abi_encode().into(), ..Default::default() };
    account.apply(&mut op, deployed);
    op.nonce = get_nonce(&provider, entry_point, account.sender, U192::ZERO).await?;
    op.apply_fees(&bundler.suggest_fees(&provider).await?);

    // 3. Gas estimate with placeholder signatures, then the sponsorship over the final fields.
    let sponsor = match (env_opt("PAYMASTER"), env_opt("SPONSOR_KEY")) {
        (Some(pm), Some(key)) => Some((pm.parse::<Address>()?, key.parse::<PrivateKeySigner>()?)),
        _ => None,
    };
    if let Some((pm, _)) = &sponsor {
        op.paymaster = Some(*pm);
        op.paymaster_data = Some(paymaster::sponsored_stub_data());
    }
    op.signature = dummy_owner_signature();
    op.apply_gas_estimate(&bundler.estimate_user_operation_gas(&op).await?);
    if let Some((_, key)) = &sponsor {
        let now = provider
            .get_block_by_number(Default::default())
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default();
        paymaster::sponsor(&mut op, key, chain_id, now + SPONSOR_WINDOW_SECS, 0)?;
    }

    // 4. Sign the EntryPoint's userOpHash as the owner, send, wait.
    op.signature = sign_as_owner(&owner, user_op_hash(&op.pack(), entry_point, chain_id))?;
    let hash = match bundler.send_user_operation(&op).await {
        Ok(hash) => hash,
        Err(Error::Rejected(rejection)) => {
            // The kind says what to fix: InvalidSignature, PrefundNotPaid, PaymasterDepositTooLow...
            anyhow::bail!("bundler refused the operation: {:?}: {}", rejection.kind, rejection.message)
        }
        Err(other) => return Err(other.into()),
    };
    println!("sent {hash}");
    let receipt = bundler.wait_for_receipt(hash, Duration::from_secs(60)).await?;
    println!(
        "included in {} (success: {}, gas used: {}, cost: {} wei)",
        receipt.receipt.transaction_hash, receipt.success, receipt.actual_gas_used, receipt.actual_gas_cost
    );
    Ok(())
}
