//! `nexus buy`: credits of an agent, from the key's wallet or through its smart account.

use alloy::primitives::{Address, U256};
use anyhow::Context;
use nexus_accounts::Call;
use nexus_bindings::AgentMarketplace;
use nexus_bindings::credit_id;

use super::super::account::{self, BundlerArgs};
use super::super::api::Api;
use super::super::chain::{Chain, event};
use super::super::purchase::{self, Quote};
use super::super::{ChainSettings, KeyArgs};
use super::Outcome;
use super::resolve::resolve;

pub(super) async fn buy(
    api: &Api,
    settings: &ChainSettings<'_>,
    key: &KeyArgs,
    agent: &str,
    units: u64,
    via: Option<&BundlerArgs>,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(units > 0, "--units must be at least 1");
    let signer = key.signer()?;
    let me = signer.address();
    let mut chain = Chain::connect(settings, Some(signer.clone())).await?;
    let agent = resolve(api, &chain, agent).await?;
    let token = chain.token(agent.token).await?;
    // The price read once above is the one shown here and the purchase's bound (see `purchase`).
    let quote = Quote {
        agent_id: agent.id,
        label: &agent.label,
        unit_price: agent.price,
        units,
        token: &token,
        paid_in_eth: agent.token == Address::ZERO,
    };
    let cost = quote.cost().context("the cost overflows")?;
    eprintln!("{}", quote.announce());
    if let Some(bundler) = via {
        anyhow::ensure!(
            agent.token != Address::ZERO,
            "{} is priced in ETH, which a sponsored account does not hold; buy it without --account",
            agent.label
        );
        let smart = account::open(&chain, signer, api.base(), bundler).await?;
        let holder = smart.address();
        let held = chain.balance(agent.token, holder).await?;
        anyhow::ensure!(
            held >= cost,
            "insufficient {} in account {holder}: it holds {}, {units} × {} costs {}",
            token.symbol,
            token.format(held),
            agent.label,
            token.format(cost)
        );
        let market = chain.deployments.contracts.agent_marketplace;
        // Approval and purchase in one operation: both happen or neither does.
        let calls = vec![
            Call::approve(agent.token, market, cost),
            Call::purchase(market, agent.id, U256::from(units), agent.price),
        ];
        let receipt = match smart.execute_batch(calls).await {
            Ok(receipt) => receipt,
            // The paymaster pays the gas of a reverted operation: the buyer pays nothing either way.
            Err(e) => {
                return Err(purchase::explain_refusal(&chain, &quote, false, account::explain("purchase", e)).await);
            }
        };
        let credit = nexus_accounts::purchased_credit(&receipt).context("the operation emitted no Purchased event")?;
        let credits = account::credits(&chain, holder, credit).await?;
        // What was charged: the price now, at most the one shown (a credit id encodes its price).
        let paid = credit_id::decode(credit).1 * U256::from(units);
        let eth = chain.token(Address::ZERO).await?;
        println!(
            "bought {units} credit{} of {} for {} with account {holder}: one user operation {} (tx {}), gas {} paid by the paymaster",
            if units == 1 { "" } else { "s" },
            agent.label,
            token.format(paid),
            receipt.user_op_hash,
            receipt.receipt.transaction_hash,
            eth.format(receipt.actual_gas_cost)
        );
        println!("credits: {credits} (credit id {credit})");
        return Ok(Outcome::Done);
    }
    let eth = chain.balance(Address::ZERO, me).await?;
    anyhow::ensure!(!eth.is_zero(), "{me} has no ETH to pay for gas");
    let market = chain.marketplace();
    let call = if agent.token == Address::ZERO {
        anyhow::ensure!(
            eth > cost,
            "insufficient ETH: {me} holds {}, {units} × {} costs {}",
            token.format(eth),
            agent.label,
            token.format(cost)
        );
        market.purchase(agent.id, U256::from(units), agent.price).value(cost)
    } else {
        let held = chain.balance(agent.token, me).await?;
        anyhow::ensure!(
            held >= cost,
            "insufficient {}: {me} holds {}, {units} × {} costs {}",
            token.symbol,
            token.format(held),
            agent.label,
            token.format(cost)
        );
        let erc20 = chain.erc20(agent.token);
        let market_address = chain.deployments.contracts.agent_marketplace;
        let allowance = erc20.allowance(me, market_address).call().await.context("reading the allowance")?;
        if allowance < cost {
            let r = chain.send("approving the marketplace", erc20.approve(market_address, cost)).await?;
            println!("approved {} for the marketplace (tx {})", token.format(cost), r.transaction_hash);
        }
        market.purchase(agent.id, U256::from(units), agent.price)
    };
    let receipt = match chain.send("purchase", call).await {
        Ok(receipt) => receipt,
        Err(e) => {
            let sent = !purchase::refused_before_sending(&e);
            return Err(purchase::explain_refusal(&chain, &quote, sent, e).await);
        }
    };
    let purchased =
        event::<AgentMarketplace::Purchased>(&receipt).context("the purchase emitted no Purchased event")?;
    let credits = market.balanceOf(me, purchased.creditId).call().await.context("reading the credit balance")?;
    let paid = U256::from(purchased.unitPrice) * U256::from(units);
    println!(
        "bought {units} credit{} of {} for {} (tx {})",
        if units == 1 { "" } else { "s" },
        agent.label,
        token.format(paid),
        receipt.transaction_hash
    );
    println!("credits: {credits} (credit id {})", purchased.creditId);
    Ok(Outcome::Done)
}
