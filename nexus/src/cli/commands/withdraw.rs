//! `nexus withdraw`: the marketplace balance of one token to the key's wallet.

use alloy::primitives::Address;
use anyhow::Context;
use nexus_bindings::AgentMarketplace;

use super::super::chain::{Chain, event};
use super::super::{ChainSettings, KeyArgs};
use super::Outcome;

pub(super) async fn withdraw(settings: &ChainSettings<'_>, key: &KeyArgs, token: &str) -> anyhow::Result<Outcome> {
    let signer = key.signer()?;
    let me = signer.address();
    let mut chain = Chain::connect(settings, Some(signer)).await?;
    let token_address = match token.to_ascii_lowercase().as_str() {
        "usdc" => chain.deployments.contracts.usdc,
        "eth" => Address::ZERO,
        other => other
            .parse::<Address>()
            .map_err(|_| anyhow::anyhow!("--token must be usdc, eth or an address, not `{token}`"))?,
    };
    let info = chain.token(token_address).await?;
    let market = chain.marketplace();
    let owed = market.withdrawable(token_address, me).call().await.context("reading the withdrawable balance")?;
    if owed.is_zero() {
        println!("nothing to withdraw: the marketplace owes {me} no {}", info.symbol);
        return Ok(Outcome::Done);
    }
    let receipt = chain.send("withdraw", market.withdraw(token_address)).await?;
    let withdrawn = event::<AgentMarketplace::Withdrawn>(&receipt).context("no Withdrawn event")?;
    let balance = chain.balance(token_address, me).await?;
    println!("withdrew {} to {me} (tx {})", info.format(withdrawn.amount), receipt.transaction_hash);
    println!("wallet balance: {}", info.format(balance));
    Ok(Outcome::Done)
}
